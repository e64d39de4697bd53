// Package scenario runs `musubi test`: the test files (*.test.hcl) beside a programme describe
// customers, events posted to the engine at given times, and what must follow (segments
// entered, triggers fired, messages queued, codes issued, held steps, decisions). A run
// compiles the programme's rule bundle as apply does, opens an engine on a throw-away store
// with a fixed clock and no delivery, posts the events through Engine.Ingest (and Decide),
// and checks the expectations against the results, the profiles and the outbox. Messaging
// systems are never contacted: each messaging provider is stood in for by a sender that
// addresses customers as the provider type does and sends nothing.
package scenario

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Suffix ends the names of test files.
const Suffix = ".test.hcl"

// DefaultNow is the clock of a run that sets none: noon on 2027-01-01 in the programme's
// time zone (musubi.timezone).
const DefaultNow = "2027-01-01T12:00:00"

// File is one test file.
type File struct {
	Name string
	HCL  *hcl.File
	// Now is the clock every run of the file starts at, unless the run sets its own.
	Now       *When
	Customers []*Customer
	Runs      []*Run
}

// Customer is a person a run starts with: known to the engine, with these identifiers,
// consent and attributes, before the run's first event.
type Customer struct {
	Name        string
	Identifiers map[string]string
	Consent     map[string]bool
	Attributes  map[string]any
	Range       hcl.Range
}

// Run is one independent scenario: a fresh engine, its customers, then its steps in order.
type Run struct {
	Name      string
	File      *File
	Now       *When
	Customers []*Customer // the file's and the run's own
	Steps     []Step
	Range     hcl.Range
}

// When is a point in time as a test file writes it: an RFC 3339 time, a local time in the
// programme's zone ("2027-03-02T10:00:00"), or an offset from the clock ("+3h").
type When struct {
	Offset time.Duration
	// At is set for an absolute time; Local: it had no zone, and is read in the programme's.
	At    time.Time
	Local bool
	Range hcl.Range
}

// Step is one thing a run does or checks, in the order written.
type Step interface{ rangeOf() hcl.Range }

// EventStep posts an event to the engine, as POST /v1/events would.
type EventStep struct {
	Type     string
	ID       string
	Customer string // a Customer's name, whose identifiers the event carries
	At       *When
	// Fields are the event's other fields as written (source, channel, store_id,
	// identifiers, record, consent, attributes, data).
	Fields map[string]cty.Value
	Expect []Check // about this event's result
	Range  hcl.Range
}

// DecideStep asks the engine what an event would do (POST /v1/decide), changing nothing.
type DecideStep struct {
	Event  *EventStep
	Expect []Check
	Range  hcl.Range
}

// AdvanceStep moves the clock forward; held actions that come due run on the way.
type AdvanceStep struct {
	To    *When
	Range hcl.Range
}

// ExpectStep checks the state of the run at its place: customers, the triggers that fired,
// the outbox, the codes given out, the held steps.
type ExpectStep struct {
	Checks []Check
	Range  hcl.Range
}

func (s *EventStep) rangeOf() hcl.Range   { return s.Range }
func (s *DecideStep) rangeOf() hcl.Range  { return s.Range }
func (s *AdvanceStep) rangeOf() hcl.Range { return s.Range }
func (s *ExpectStep) rangeOf() hcl.Range  { return s.Range }

// Check is one expectation, at the place it is written. Its check function says what was
// expected and what was found; ok is false when they differ.
type Check struct {
	Range hcl.Range
	// What names the expectation in reports: "fired", "message", "customer.in".
	What  string
	check func(st *state) (ok bool, expected, got string)
}
