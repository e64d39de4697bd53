package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Deciding triggers' event parts ahead of the processor never changes whether a trigger
// fires: those ruled out would not have fired, and for those whose event part is true the
// rest of the condition says what the whole would. Some are ruled out, some are left to
// their rest, and some are decided by the event alone.
func TestRuleOutAgreesWithTheWholeCondition(t *testing.T) {
	prog, e := benchRules(t)
	now := time.Now()
	rng := rand.New(rand.NewPCG(9, 10))
	ruledOut, rest, whole, total := 0, 0, 0, 0
	for i := range 300 {
		ev := benchEvent(rng, "r"+strconv.Itoa(i), "+819000000001")
		body, _ := json.Marshal(ev)
		evs, err := DecodeEvents(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := evs[0].validate(prog, now); err != nil {
			t.Fatal(err)
		}
		prof := newProfile("c_1", now)
		for range rng.IntN(4) {
			e.updateTraits(prog, prof, evs[0], now)
		}
		vars := newCELVars(e.customerValue(prog, prof, now), evs[0].fields, now)
		e.early(prog, evs[0])
		for j, tr := range prog.TriggersByEvent[evs[0].Type] {
			part := evs[0].eventPart(prog, j)
			all, _ := e.fires(tr, prof, vars, now, false, partUnknown)
			early, _ := e.fires(tr, prof, vars, now, false, part)
			if all != early {
				t.Fatalf("%s on %s: the whole condition says %v, with its event part found %d ahead %v", tr.Name, body, all, part, early)
			}
			total++
			switch {
			case part == partFalse:
				ruledOut++
			case part == partTrue && tr.EventWhole:
				whole++
			case part == partTrue && tr.Rest != nil:
				rest++
			}
		}
	}
	if ruledOut == 0 || rest == 0 || whole == 0 || ruledOut+rest+whole > total {
		t.Fatalf("of %d trigger evaluations %d ruled out, %d left to the rest, %d decided by the event", total, ruledOut, rest, whole)
	}
	t.Logf("of %d trigger evaluations %d ruled out ahead, %d left to the rest, %d decided by the event", total, ruledOut, rest, whole)
}

// What an event adds to its traits, worked out ahead of the processor, is what the processor
// would have worked out itself: profiles folded either way are the same.
func TestEarlyTraitInputsAgreeWithTheProcessor(t *testing.T) {
	prog, e := benchRules(t)
	now := time.Now()
	rng := rand.New(rand.NewPCG(11, 12))
	ahead, late := newProfile("c_1", now), newProfile("c_1", now)
	early := 0
	for i := range 300 {
		ev := benchEvent(rng, "t"+strconv.Itoa(i), "+819000000001")
		body, _ := json.Marshal(ev)
		decode := func() *Event {
			evs, err := DecodeEvents(body)
			if err != nil {
				t.Fatal(err)
			}
			if err := evs[0].validate(prog, now); err != nil {
				t.Fatal(err)
			}
			return evs[0]
		}
		a, l := decode(), decode()
		e.early(prog, a)
		for _, in := range a.traitInputs {
			if in.known {
				early++
			}
		}
		ca, cl := e.updateTraits(prog, ahead, a, now), e.updateTraits(prog, late, l, now)
		if !slices.Equal(ca, cl) {
			t.Fatalf("%s: traits changed ahead %v, in the processor %v", body, ca, cl)
		}
	}
	if early == 0 {
		t.Fatal("no trait input was worked out ahead")
	}
	ba, _ := json.Marshal(ahead)
	bl, _ := json.Marshal(late)
	if !bytes.Equal(ba, bl) {
		t.Fatalf("profiles differ:\nahead %s\nlate  %s", ba, bl)
	}
}
