package lang

import (
	"strings"
	"testing"
)

// A condition whose cost is bounded by its types runs without the runtime tracker; one whose
// cost grows with its input is still stopped at the cost limit.
func TestCostLimit(t *testing.T) {
	cfg := loadClean(t, mapFS("main.hcl", `
musubi {
  cel_cost_limit = 200
}

segment "bounded" {
  condition = "customer.consent.line && customer.id != ''"
}

segment "per_email" {
  condition = "customer.emails.exists(e, e.endsWith('@example.jp'))"
}
`), ".", testOptions())
	bounded, perEmail := cfg.Segments["bounded"].Condition, cfg.Segments["per_email"].Condition
	if !bounded.WithinCostLimit() {
		t.Error("a condition of two field tests is not known to stay within 200")
	}
	if perEmail.WithinCostLimit() {
		t.Error("a condition over every email is taken to stay within the limit on any input")
	}

	customer := func(emails int) map[string]any {
		l := make([]any, emails)
		for i := range l {
			l[i] = "someone@example.com"
		}
		return map[string]any{"id": "c_1", "emails": l, "consent": map[string]any{"line": true}}
	}
	if ok, err := bounded.EvalBool(map[string]any{"customer": customer(0)}); err != nil || !ok {
		t.Errorf("bounded: %v, %v", ok, err)
	}
	if ok, err := perEmail.EvalBool(map[string]any{"customer": customer(3)}); err != nil || ok {
		t.Errorf("three emails: %v, %v", ok, err)
	}
	_, err := perEmail.EvalBool(map[string]any{"customer": customer(1000)})
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("1000 emails under a limit of 200: %v, want a cost limit error", err)
	}
}
