package engine

import (
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/musubi-hq/musubi/lang"
)

// celVars are the variables a rule is evaluated with: customer, event, now, code, campaign;
// a nil one is not there. It is a cel activation rather than a map[string]any because a map
// is built for every event's traits, segments and triggers, and because a map holds `now` as
// a time.Time, which cel converts (and allocates) on every read. Each context's environment
// declares the variables its rules may read, so a rule never asks for one it does not have.
type celVars struct {
	customer *customerVal
	event    *lang.Record // the event's fields
	now      any          // types.Timestamp
	code     any          // types.String: the coupon code a message carries, noCode when none
	campaign any
	trigger  any // waitingVal: in a wait's unless condition, the trigger's own event
}

// noCode is the value of `code` outside a message that carries one.
var noCode any = types.String("")

// newCELVars makes the variables customer, event (either nil: not there) and now.
func newCELVars(customer *customerVal, event *lang.Record, now time.Time) *celVars {
	return &celVars{customer: customer, event: event, now: types.Timestamp{Time: now}}
}

// ResolveName implements interpreter.Activation.
func (v *celVars) ResolveName(name string) (any, bool) {
	var x any
	switch name {
	case "customer":
		return v.customer, v.customer != nil
	case "event":
		return v.event, v.event != nil
	case "now":
		x = v.now
	case "code":
		x = v.code
	case "campaign":
		x = v.campaign
	case "trigger":
		x = v.trigger
	}
	return x, x != nil
}

// Parent implements interpreter.Activation.
func (v *celVars) Parent() interpreter.Activation { return nil }
