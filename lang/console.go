package lang

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Console evaluates expressions against a loaded configuration and sample data, for people
// writing conditions: CEL in a chosen context (segment, a trigger's event type, a policy,
// campaign messages) and HCL expressions (var.x, local.y, functions).
type Console struct {
	cfg      *Config
	context  string // "segment", "trigger:purchase", "policy:campaign", "campaign"
	customer map[string]any
	event    map[string]any
	campaign map[string]any
	now      time.Time
}

// NewConsole starts a console in the segment context with a sample customer.
func NewConsole(cfg *Config) *Console {
	c := &Console{cfg: cfg, context: "segment", now: time.Now()}
	c.customer = SampleCustomer(cfg)
	c.campaign = map[string]any{"name": "sample", "coupon": map[string]any{"percent": 10.0, "currency": cfg.Settings.Currency}}
	return c
}

// Prompt shows the current context.
func (c *Console) Prompt() string { return c.context + "> " }

const consoleHelp = `Type a CEL expression to evaluate it in the current context, or a command:
  :context segment             customer, now (default)
  :context trigger EVENT       customer, event, now, code — e.g. :context trigger cart.updated
  :context campaign            message templates: customer, now, code, campaign
  :context policy KIND         campaign, segment or trigger as declared
  :customer {JSON}             replace the sample customer (fields are checked)
  :event {JSON}                replace the sample event of the trigger context
  :now RFC3339                 set now
  :show customer|event         print the sample data
  :segment NAME                evaluate a segment's condition against the sample customer
  :type EXPR                   the CEL type of an expression
  :hcl EXPR                    evaluate an HCL expression: var.x, local.y, upper("a")
  :events                      list event types; :events NAME shows one's fields
  :functions                   Musubi's own CEL functions
  :help, :quit`

// Exec runs one line and returns what to print. An empty line returns "".
func (c *Console) Exec(line string) (string, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", nil
	}
	if !strings.HasPrefix(line, ":") {
		return c.evalCEL(line, false)
	}
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case ":help", ":h":
		return consoleHelp, nil
	case ":context":
		return c.setContext(arg)
	case ":customer":
		m, err := c.parseObject(arg, c.cfg.Schema.Customer, "customer")
		if err != nil {
			return "", err
		}
		c.customer = m
		return "customer set", nil
	case ":event":
		on, ok := strings.CutPrefix(c.context, "trigger:")
		if !ok {
			return "", fmt.Errorf("switch to a trigger context first: :context trigger EVENT")
		}
		et, _ := LookupEventType(on)
		m, err := c.parseObject(arg, et.Type, "event")
		if err != nil {
			return "", err
		}
		m["type"] = on
		c.event = m
		return "event set", nil
	case ":now":
		t, err := time.Parse(time.RFC3339, arg)
		if err != nil {
			return "", fmt.Errorf("want an RFC 3339 time such as 2027-03-01T10:00:00+09:00")
		}
		c.now = t
		return "now = " + t.Format(time.RFC3339), nil
	case ":show":
		var v any
		switch arg {
		case "customer":
			v = c.customer
		case "event":
			v = c.event
		default:
			return "", fmt.Errorf("show customer or event")
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b), nil
	case ":segment":
		s := c.cfg.Segments[arg]
		if s == nil || s.Condition == nil {
			return "", fmt.Errorf("no segment %q%s", arg, didYouMean(arg, slices.Sorted(maps.Keys(c.cfg.Segments))))
		}
		in, err := s.Condition.EvalBool(c.vars())
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%v  (%s)", in, s.Condition.Source), nil
	case ":type":
		return c.evalCEL(arg, true)
	case ":hcl":
		v, diags := c.cfg.EvalHCL(arg)
		if diags.HasErrors() {
			return "", fmt.Errorf("%s", diagText(diags))
		}
		return FormatCty(v), nil
	case ":events":
		if arg == "" {
			return strings.Join(EventTypeNames(), "\n") + "\ncustom.NAME (your own; fields: data map)", nil
		}
		doc, ok := EventTypeDoc(arg)
		if !ok {
			return "", fmt.Errorf("no event type %q%s", arg, didYouMean(arg, EventTypeNames()))
		}
		return doc, nil
	case ":functions":
		return strings.Join(FunctionDocs(), "\n"), nil
	}
	return "", fmt.Errorf("unknown command %s; :help lists them", cmd)
}

func (c *Console) setContext(arg string) (string, error) {
	kind, rest, _ := strings.Cut(arg, " ")
	rest = strings.TrimSpace(rest)
	switch kind {
	case "segment", "campaign":
		c.context = kind
	case "trigger":
		et, ok := LookupEventType(rest)
		if !ok {
			return "", fmt.Errorf("no event type %q%s", rest, didYouMean(rest, EventTypeNames()))
		}
		c.context = "trigger:" + rest
		c.event = SampleEvent(et)
	case "policy":
		if _, ok := c.cfg.Schema.Policy(rest); !ok {
			return "", fmt.Errorf("a policy context is campaign, segment or trigger")
		}
		c.context = "policy:" + rest
	default:
		return "", fmt.Errorf("contexts: segment, trigger EVENT, campaign, policy KIND")
	}
	return "context " + strings.ReplaceAll(c.context, ":", " "), nil
}

func (c *Console) env() (*cel.Env, error) {
	s := c.cfg.Schema
	switch {
	case c.context == "segment":
		return s.Segment(), nil
	case c.context == "campaign":
		return s.Campaign(), nil
	case strings.HasPrefix(c.context, "trigger:"):
		return s.Trigger(strings.TrimPrefix(c.context, "trigger:"))
	case strings.HasPrefix(c.context, "policy:"):
		e, _ := s.Policy(strings.TrimPrefix(c.context, "policy:"))
		return e, nil
	}
	return nil, fmt.Errorf("no context")
}

func (c *Console) vars() map[string]any {
	return map[string]any{
		"customer": c.customer, "event": c.event, "now": c.now, "code": "SPR-ABCD-2345",
		"campaign": c.campaign, "segment": map[string]any{}, "trigger": map[string]any{},
	}
}

func (c *Console) evalCEL(src string, typeOnly bool) (string, error) {
	env, err := c.env()
	if err != nil {
		return "", err
	}
	site := celSite{rng: hcl.Range{Filename: "<console>", Start: hcl.InitialPos, End: hcl.InitialPos}}
	e, diags := compileCEL(env, CtxSegment, src, site, nil, c.cfg.Settings.CELCostLimit, func() []string { return schemaNames(c.cfg.Schema) })
	if diags.HasErrors() {
		var msgs []string
		for _, d := range diags {
			msgs = append(msgs, d.Detail)
		}
		return "", fmt.Errorf("%s", strings.Join(msgs, "\n"))
	}
	if typeOnly {
		return celTypeString(e.OutputType()), nil
	}
	v, err := e.Eval(c.vars())
	if err != nil {
		return "", err
	}
	return FormatValue(v), nil
}

func (c *Console) parseObject(arg string, t *ObjectType, what string) (map[string]any, error) {
	var raw any
	if err := json.Unmarshal([]byte(arg), &raw); err != nil {
		return nil, fmt.Errorf("%s must be a JSON object: %v", what, err)
	}
	return t.Coerce(raw, what)
}

// SampleCustomer returns a plausible customer for trying conditions: consent everywhere,
// zero traits, no segments.
func SampleCustomer(cfg *Config) map[string]any {
	traits := map[string]any{}
	for name := range cfg.Traits {
		traits[name] = int64(0)
	}
	return map[string]any{
		"id":          "cus_sample",
		"identifiers": map[string]any{"email": []any{"hanako@example.jp"}, "phone": []any{"+819012345678"}},
		"emails":      []any{"hanako@example.jp"},
		"phones":      []any{"+819012345678"},
		"consent":     map[string]any{"line": true, "email": true, "sms": false, "push": true, "wechat": false},
		"traits":      traits,
		"segments":    map[string]any{},
		"home_city":   "Tokyo",
		"locale":      "ja-JP",
		"timezone":    "Asia/Tokyo",
	}
}

// SampleEvent returns an event of the type with plausible values, for trying conditions.
func SampleEvent(et EventType) map[string]any {
	return sampleObject(et.Type)
}

var sampleValues = map[string]any{
	"channel": "pos", "currency": "JPY", "total": int64(2850), "price": int64(2850), "quantity": int64(1),
	"item_count": int64(1), "store_id": "shibuya", "city": "Osaka", "previous_city": "Tokyo",
	"lat": 35.6595, "lng": 139.7005, "sku": "SHOE-RUN-42", "category": "running_shoes", "family": "RUN-01",
	"color": "blue", "size": "42", "name": "Runner 1", "kind": "beacon", "account": "line.oa", "country": "JP",
}

func sampleObject(t *ObjectType) map[string]any {
	m := map[string]any{}
	for _, f := range t.Fields() {
		if v, ok := sampleValues[f.Name]; ok {
			m[f.Name] = v
			continue
		}
		switch {
		case f.Object != nil:
			m[f.Name] = sampleObject(f.Object)
		case f.Elem != nil:
			m[f.Name] = []any{sampleObject(f.Elem)}
		case f.Type.Kind() == types.StringKind:
			m[f.Name] = "sample_" + f.Name
		case f.Type.Kind() == types.TimestampKind:
			m[f.Name] = time.Now().UTC().Truncate(time.Second)
		}
	}
	return m
}

// FormatValue writes a CEL value the way CEL literals look: "text", 3, 2.5, [1, 2], {"k": v}.
func FormatValue(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		b, _ := json.Marshal(string(x))
		return string(b)
	case types.Timestamp:
		return fmt.Sprintf("timestamp(%q)", x.Time.Format(time.RFC3339))
	case types.Duration:
		return fmt.Sprintf("duration(%q)", x.Duration.String())
	case types.Null:
		return "null"
	}
	switch n := v.Value().(type) {
	case []any:
		parts := make([]string, len(n))
		for i, e := range n {
			parts[i] = FormatValue(types.DefaultTypeAdapter.NativeToValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q: %s", k, FormatValue(types.DefaultTypeAdapter.NativeToValue(n[k])))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if l, ok := v.(interface {
		Size() ref.Val
		Get(ref.Val) ref.Val
	}); ok && v.Type() == types.ListType {
		n := int64(l.Size().(types.Int))
		parts := make([]string, n)
		for i := int64(0); i < n; i++ {
			parts[i] = FormatValue(l.Get(types.Int(i)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Value())
}

// FormatCty writes an HCL value for people: strings quoted, others as JSON, sensitive hidden,
// control characters escaped (JSON leaves C1 controls as they are).
func FormatCty(v cty.Value) string {
	return EscapeControls(formatCty(v))
}

func formatCty(v cty.Value) string {
	if v.IsMarked() || v.ContainsMarked() {
		return "(sensitive value)"
	}
	if v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
		b, _ := json.Marshal(v.AsString())
		return string(b)
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return v.GoString()
	}
	return string(b)
}

func diagText(diags hcl.Diagnostics) string {
	var msgs []string
	for _, d := range diags {
		msgs = append(msgs, d.Summary+": "+d.Detail)
	}
	return strings.Join(msgs, "\n")
}
