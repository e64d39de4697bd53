package contracttest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/musubi-hq/musubi/providers"
)

// Admin lets tests change a server's objects behind the provider's back, as someone in the
// vendor's admin would, naming them by Musubi's kinds and the provider's resource IDs. The
// server says what each kind's objects are and how they change; Admin finds the kind, holds
// the server's lock and reads the value.
type Admin struct {
	// Vendor names the system in errors: "Shopify holds no message".
	Vendor string
	// Lock is the server's lock, held around every call of Kinds.
	Lock sync.Locker
	// Kinds are what the server does to the objects of each kind it holds.
	Kinds map[providers.Kind]Kind
}

// Kind is what an Admin does to the objects of one kind.
type Kind struct {
	// IDs lists the resource IDs of the objects.
	IDs func() []string
	// Tamper changes one canonical attribute of an object; a list value comes comma-separated.
	Tamper func(id, attr, value string) error
	// Remove deletes an object.
	Remove func(id string) error
}

func (a *Admin) kind(k providers.Kind) (Kind, error) {
	if kd, ok := a.Kinds[k]; ok {
		return kd, nil
	}
	return Kind{}, fmt.Errorf("%s holds no %s", a.Vendor, k)
}

// Tamper changes attribute attr of object id of a kind to value.
func (a *Admin) Tamper(kind providers.Kind, id, attr string, value any) error {
	k, err := a.kind(kind)
	if err != nil {
		return err
	}
	str := fmt.Sprint(value)
	if list, ok := value.([]string); ok {
		str = strings.Join(list, ",")
	}
	a.Lock.Lock()
	defer a.Lock.Unlock()
	return k.Tamper(id, attr, str)
}

// Remove deletes object id of a kind.
func (a *Admin) Remove(kind providers.Kind, id string) error {
	k, err := a.kind(kind)
	if err != nil {
		return err
	}
	a.Lock.Lock()
	defer a.Lock.Unlock()
	return k.Remove(id)
}

// IDs lists the resource IDs of every object of a kind the server holds.
func (a *Admin) IDs(kind providers.Kind) []string {
	k, err := a.kind(kind)
	if err != nil {
		return nil
	}
	a.Lock.Lock()
	defer a.Lock.Unlock()
	return k.IDs()
}
