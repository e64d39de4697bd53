package engine

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// Ruling triggers out by their conditions' event parts, ahead of the processor, never
// changes whether a trigger fires, and does rule some out.
func TestRuleOutAgreesWithTheWholeCondition(t *testing.T) {
	prog, e := benchRules(t)
	now := time.Now()
	rng := rand.New(rand.NewPCG(9, 10))
	ruledOut, total := 0, 0
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
		ruleOut(prog, evs[0])
		for j, tr := range prog.TriggersByEvent[evs[0].Type] {
			out := evs[0].prog == prog && evs[0].ruledOut[j]
			whole, _ := e.fires(tr, prof, vars, now, false, false)
			early, _ := e.fires(tr, prof, vars, now, false, out)
			if whole != early {
				t.Fatalf("%s on %s: the whole condition says %v, ruled out early %v", tr.Name, body, whole, early)
			}
			total++
			if out {
				ruledOut++
			}
		}
	}
	if ruledOut == 0 || ruledOut == total {
		t.Fatalf("%d of %d triggers ruled out", ruledOut, total)
	}
	t.Logf("%d of %d trigger evaluations ruled out ahead", ruledOut, total)
}
