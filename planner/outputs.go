package planner

import (
	"bytes"
	"fmt"
	"maps"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Outputs returns the configuration's output values as the state records them. A sensitive
// output keeps only its type: its value never reaches the state.
func Outputs(cfg *lang.Config) (map[string]*states.Output, error) {
	if len(cfg.Outputs) == 0 {
		return nil, nil
	}
	out := make(map[string]*states.Output, len(cfg.Outputs))
	for name, o := range cfg.Outputs {
		v := o.Value
		ty, err := ctyjson.MarshalType(v.Type())
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		so := &states.Output{Sensitive: o.Sensitive, Type: ty}
		if !o.Sensitive {
			if !v.IsWhollyKnown() {
				return nil, fmt.Errorf("output %q has no known value", name)
			}
			if so.Value, err = ctyjson.Marshal(v, v.Type()); err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
		}
		out[name] = so
	}
	return out, nil
}

// OutputsChanged reports whether an apply would record other outputs than the state holds.
func OutputsChanged(prior, next map[string]*states.Output) bool {
	return !maps.EqualFunc(prior, next, func(a, b *states.Output) bool {
		return a.Sensitive == b.Sensitive && bytes.Equal(a.Type, b.Type) && bytes.Equal(a.Value, b.Value)
	})
}
