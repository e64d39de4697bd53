package partition

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
)

// Rules are the identity rules of the simulation: member numbers first, then email, then
// phone, as a retailer's loyalty programme ranks them. No limits and no blocked values, so
// which customers end up as one person depends only on which identifiers events carry
// together, never on the order events were resolved in: a partitioned run can be checked
// against a single graph.
var Rules = identity.Rules{Priority: []string{"member", "email", "phone"}, DefaultCountry: "JP"}

// Event is one event of the workload: the identifiers it carries and a purchase amount.
type Event struct {
	IDs   []identity.ID
	Total int64
	At    time.Time
}

// Workload is a customer base to import and the events that follow.
type Workload struct {
	Base   [][]identity.ID // import records, one customer each: member, email, phone
	Events []Event
	Merges int // events carrying the identifiers of two different known customers
}

// WorkloadConfig shapes a workload.
type WorkloadConfig struct {
	Customers int     // imported customers
	Events    int     // events after the import
	Merge     float64 // fraction of events carrying the email of one customer and the phone of another
	New       float64 // fraction of events of people never seen (a new email and phone)
	Seed      uint64
}

// Customer i's identifiers.
func member(i int) identity.ID { return identity.ID{Type: "member", Value: fmt.Sprintf("M%09d", i)} }
func email(i int) identity.ID {
	return identity.ID{Type: "email", Value: fmt.Sprintf("c%d@example.jp", i)}
}
func phone(i int) identity.ID { return identity.ID{Type: "phone", Value: fmt.Sprintf("+8190%08d", i)} }

// Generate makes a workload: the customer base, then events for random people, most of them
// carrying one identifier (a phone at the till, an email online), a fraction Merge carrying the
// email of one person and the phone of another (a purchase where two profiles of one person
// meet), a fraction New from people never seen. Later events pick among every person made so
// far, new ones included.
func Generate(c WorkloadConfig) *Workload {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	w := &Workload{Base: make([][]identity.ID, c.Customers), Events: make([]Event, c.Events)}
	for i := range c.Customers {
		w.Base[i] = []identity.ID{member(i), email(i), phone(i)}
	}
	people := c.Customers
	t0 := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range w.Events {
		ev := Event{Total: int64(500 + rng.IntN(9000)), At: t0.Add(time.Duration(i) * time.Millisecond)}
		switch r := rng.Float64(); {
		case r < c.Merge && people > 1:
			a := rng.IntN(people)
			b := rng.IntN(people - 1)
			if b >= a {
				b++
			}
			ev.IDs = []identity.ID{email(a), phone(b)}
			w.Merges++
		case r < c.Merge+c.New || people == 0:
			ev.IDs = []identity.ID{email(people), phone(people)}
			people++
		default:
			p := rng.IntN(people)
			if rng.IntN(5) < 3 {
				ev.IDs = []identity.ID{phone(p)}
			} else {
				ev.IDs = []identity.ID{email(p)}
			}
		}
		w.Events[i] = ev
	}
	return w
}
