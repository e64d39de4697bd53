package protocol

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/musubi-hq/musubi/providers"
	pb "github.com/musubi-hq/musubi/providers/plugin/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// encodeAttrs converts attributes to their message. Each value keeps its Go type (the case
// of pb.Value), so an int64 never comes back as a float64; a value of any other Go type is
// an error naming the attribute.
func encodeAttrs(a providers.Attrs) (*pb.Attrs, error) {
	if a == nil {
		return nil, nil
	}
	out := &pb.Attrs{Values: make(map[string]*pb.Value, len(a))}
	for name, v := range a {
		pv, err := encodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out.Values[name] = pv
	}
	return out, nil
}

func encodeValue(v any) (*pb.Value, error) {
	switch x := v.(type) {
	case nil:
		return &pb.Value{}, nil
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: x}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: x}}, nil
	case float64:
		return &pb.Value{Kind: &pb.Value_FloatValue{FloatValue: x}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: x}}, nil
	case []string:
		return &pb.Value{Kind: &pb.Value_StringsValue{StringsValue: encodeList(x)}}, nil
	case map[string]string:
		return &pb.Value{Kind: &pb.Value_StringMapValue{StringMapValue: &pb.StringMap{Values: x, Absent: x == nil}}}, nil
	}
	return nil, fmt.Errorf("a %T cannot be an attribute value; use string, int64, float64, bool, []string or map[string]string", v)
}

func encodeList(x []string) *pb.StringList {
	return &pb.StringList{Values: x, Absent: x == nil}
}

// decodeAttrs converts a message back to attributes.
func decodeAttrs(m *pb.Attrs) providers.Attrs {
	if m == nil {
		return nil
	}
	out := make(providers.Attrs, len(m.Values))
	for name, v := range m.Values {
		out[name] = decodeValue(v)
	}
	return out
}

func decodeValue(v *pb.Value) any {
	switch x := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return x.StringValue
	case *pb.Value_IntValue:
		return x.IntValue
	case *pb.Value_FloatValue:
		return x.FloatValue
	case *pb.Value_BoolValue:
		return x.BoolValue
	case *pb.Value_StringsValue:
		return decodeList(x.StringsValue)
	case *pb.Value_StringMapValue:
		m := x.StringMapValue
		if m.GetAbsent() {
			return map[string]string(nil)
		}
		out := make(map[string]string, len(m.GetValues()))
		for k, s := range m.GetValues() {
			out[k] = s
		}
		return out
	}
	return nil
}

func decodeList(l *pb.StringList) []string {
	if l.GetAbsent() {
		return nil
	}
	return append(make([]string, 0, len(l.GetValues())), l.GetValues()...)
}

func encodeDiags(ds providers.Diagnostics) []*pb.Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*pb.Diagnostic, len(ds))
	for i, d := range ds {
		m := &pb.Diagnostic{Summary: d.Summary, Detail: d.Detail, Attribute: d.Attribute}
		if d.Severity == providers.Warning {
			m.Severity = pb.Severity_SEVERITY_WARNING
		}
		if e := d.Err; e != nil {
			m.Error = &pb.APIError{Code: string(e.Code), Status: int32(e.Status), Message: e.Message, RequestId: e.RequestID}
			if e.RetryAfter != 0 {
				m.Error.RetryAfter = durationpb.New(e.RetryAfter)
			}
		}
		out[i] = m
	}
	return out
}

func decodeDiags(ms []*pb.Diagnostic) providers.Diagnostics {
	if len(ms) == 0 {
		return nil
	}
	out := make(providers.Diagnostics, len(ms))
	for i, m := range ms {
		d := providers.Diagnostic{Summary: m.Summary, Detail: m.Detail, Attribute: m.Attribute}
		if m.Severity == pb.Severity_SEVERITY_WARNING {
			d.Severity = providers.Warning
		}
		if e := m.Error; e != nil {
			d.Err = &providers.APIError{Code: providers.ErrorCode(e.Code), Status: int(e.Status), Message: e.Message, RequestID: e.RequestId}
			if e.RetryAfter != nil {
				d.Err.RetryAfter = e.RetryAfter.AsDuration()
			}
		}
		out[i] = d
	}
	return out
}

// encodeJSON converts JSON-like Go values (a provider block's configuration, an event's
// fields) to a Struct. Values encoding/json can write but structpb cannot ([]string, typed
// maps, structs) go through JSON first, so numbers arrive as float64, as from any JSON.
func encodeJSON(m map[string]any) (*structpb.Struct, error) {
	if m == nil {
		return nil, nil
	}
	if s, err := structpb.NewStruct(m); err == nil {
		return s, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, err
	}
	return structpb.NewStruct(plain)
}

func decodeJSON(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

func encodeSchema(r providers.SchemaResponse) *pb.SchemaResponse {
	out := &pb.SchemaResponse{Diagnostics: encodeDiags(r.Diagnostics)}
	for _, a := range r.Config {
		out.Config = append(out.Config, &pb.ConfigAttribute{Name: a.Name, Type: string(a.Type),
			Required: a.Required, Sensitive: a.Sensitive, Description: a.Description})
	}
	if r.Kinds != nil {
		out.Kinds = make(map[string]*pb.KindSupport, len(r.Kinds))
		for k, ks := range r.Kinds {
			out.Kinds[string(k)] = &pb.KindSupport{Attributes: ks.Attributes, ForceNew: ks.ForceNew, Description: ks.Description}
		}
	}
	return out
}

func decodeSchema(m *pb.SchemaResponse) providers.SchemaResponse {
	out := providers.SchemaResponse{Diagnostics: decodeDiags(m.Diagnostics)}
	for _, a := range m.Config {
		out.Config = append(out.Config, providers.ConfigAttribute{Name: a.Name, Type: providers.Type(a.Type),
			Required: a.Required, Sensitive: a.Sensitive, Description: a.Description})
	}
	if m.Kinds != nil {
		out.Kinds = make(map[providers.Kind]providers.KindSupport, len(m.Kinds))
		for k, ks := range m.Kinds {
			out.Kinds[providers.Kind(k)] = providers.KindSupport{Attributes: ks.Attributes, ForceNew: ks.ForceNew, Description: ks.Description}
		}
	}
	return out
}

func encodeReadRequest(r providers.ReadRequest) (*pb.ReadRequest, error) {
	prior, err := encodeAttrs(r.Prior)
	if err != nil {
		return nil, err
	}
	return &pb.ReadRequest{Kind: string(r.Kind), Id: r.ID, IdempotencyKey: r.IdempotencyKey, Prior: prior, Refs: r.Refs}, nil
}

func decodeReadRequest(m *pb.ReadRequest) providers.ReadRequest {
	return providers.ReadRequest{Kind: providers.Kind(m.Kind), ID: m.Id, IdempotencyKey: m.IdempotencyKey,
		Prior: decodeAttrs(m.Prior), Refs: m.Refs}
}

func encodeReadResponse(r providers.ReadResponse) *pb.ReadResponse {
	attrs, err := encodeAttrs(r.Attributes)
	if err != nil {
		return &pb.ReadResponse{Diagnostics: encodeDiags(unencodable("read", err))}
	}
	return &pb.ReadResponse{Found: r.Found, Id: r.ID, Attributes: attrs, Diagnostics: encodeDiags(r.Diagnostics)}
}

func decodeReadResponse(m *pb.ReadResponse) providers.ReadResponse {
	return providers.ReadResponse{Found: m.Found, ID: m.Id, Attributes: decodeAttrs(m.Attributes), Diagnostics: decodeDiags(m.Diagnostics)}
}

func encodeHeader(h http.Header) map[string]*pb.StringList {
	if h == nil {
		return nil
	}
	out := make(map[string]*pb.StringList, len(h))
	for k, vs := range h {
		out[k] = encodeList(vs)
	}
	return out
}

func decodeHeader(m map[string]*pb.StringList) http.Header {
	if m == nil {
		return nil
	}
	out := make(http.Header, len(m))
	for k, l := range m {
		out[k] = decodeList(l)
	}
	return out
}

func encodeEvents(evs []providers.InboundEvent) ([]*pb.InboundEvent, error) {
	out := make([]*pb.InboundEvent, 0, len(evs))
	for _, e := range evs {
		rec, err := encodeJSON(e.Record)
		if err != nil {
			return nil, fmt.Errorf("event %s record: %w", e.ID, err)
		}
		data, err := encodeJSON(e.Data)
		if err != nil {
			return nil, fmt.Errorf("event %s data: %w", e.ID, err)
		}
		m := &pb.InboundEvent{Id: e.ID, Type: e.Type, Channel: e.Channel, Record: rec, Data: data}
		if !e.Time.IsZero() {
			m.Time = timestamppb.New(e.Time)
		}
		out = append(out, m)
	}
	return out, nil
}

func decodeEvents(ms []*pb.InboundEvent) []providers.InboundEvent {
	if len(ms) == 0 {
		return nil
	}
	out := make([]providers.InboundEvent, len(ms))
	for i, m := range ms {
		out[i] = providers.InboundEvent{ID: m.Id, Type: m.Type, Channel: m.Channel,
			Record: decodeJSON(m.Record), Data: decodeJSON(m.Data)}
		if m.Time != nil {
			out[i].Time = m.Time.AsTime()
		}
	}
	return out
}

// unencodable reports values one side could not put on the wire.
func unencodable(op string, err error) providers.Diagnostics {
	return providers.Errorf(op+" failed", "the values cannot cross the plugin protocol: %v", err)
}
