package engine

import (
	"fmt"

	"github.com/musubi-hq/musubi/lang"
)

// ruleTexts are strings the processor would otherwise build again for every event, made
// once per program: the rule name a trigger's messages go out under, and the reasons the
// delivery rules give.
type ruleTexts struct {
	triggerRule map[string]string // trigger name → "trigger.NAME"
	capReason   []string          // by index in FrequencyCaps
	// The reasons of a provider "TYPE.NAME": no address, no consent.
	unreachable, noConsent map[string]string
}

// texts returns the program's texts, made on first use.
func (e *Engine) texts(prog *program) *ruleTexts {
	prog.textsOnce.Do(func() {
		t := &ruleTexts{triggerRule: map[string]string{}, unreachable: map[string]string{}, noConsent: map[string]string{}}
		for _, tr := range prog.Triggers {
			t.triggerRule[tr.Name] = "trigger." + tr.Name
		}
		for _, fc := range prog.FrequencyCaps {
			t.capReason = append(t.capReason, fmt.Sprintf("frequency cap: %d messages on %s in %s", fc.Max, fc.Channel, lang.FormatDuration(fc.Per)))
		}
		for via, s := range e.opts.Senders {
			ms := s.Messaging()
			t.unreachable[via] = "no " + ms.Address + " identifier to reach the customer on " + via
			t.noConsent[via] = "no consent for " + ms.Consent
		}
		prog.texts = t
	})
	return prog.texts
}

// rule is the name a trigger's messages go out under.
func (t *ruleTexts) rule(trigger string) string {
	if r, ok := t.triggerRule[trigger]; ok {
		return r
	}
	return "trigger." + trigger
}
