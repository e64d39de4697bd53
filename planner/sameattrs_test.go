package planner

import (
	"math"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

func TestSameAttrs(t *testing.T) {
	base := func() providers.Attrs {
		return providers.Attrs{"title": "x", "percent": 10.0, "on": true, "codes": []string{"a"},
			"valid": map[string]any{"from": "2027-03-01"}, "tags": map[string]string{"k": "v"}, "none": nil}
	}
	if !sameAttrs(base(), base()) {
		t.Error("equal attributes are not the same")
	}
	for name, change := range map[string]func(providers.Attrs){
		"type":     func(a providers.Attrs) { a["percent"] = 10 },
		"zero":     func(a providers.Attrs) { a["percent"] = math.Copysign(0, -1) },
		"missing":  func(a providers.Attrs) { delete(a, "none"); a["other"] = nil },
		"nested":   func(a providers.Attrs) { a["valid"] = map[string]any{"from": "2027-03-02"} },
		"nil list": func(a providers.Attrs) { a["codes"] = []string(nil) },
		"map":      func(a providers.Attrs) { a["tags"] = map[string]string{"k": "w"} },
	} {
		a := base()
		change(a)
		if name == "zero" {
			b := base()
			b["percent"] = 0.0
			if sameAttrs(a, b) {
				t.Errorf("%s: 0 and -0 are the same", name)
			}
			continue
		}
		if sameAttrs(base(), a) || sameAttrs(a, base()) {
			t.Errorf("%s: different attributes are the same", name)
		}
	}
}
