package protocol

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/musubi-hq/musubi/providers"
	pb "github.com/musubi-hq/musubi/providers/plugin/proto"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// connect serves p over a real gRPC connection on the loopback interface and returns the
// host's view of it.
func connect(t testing.TB, p providers.Provider) providers.Provider {
	t.Helper()
	conn, srv := plugin.TestGRPCConn(t, func(s *grpc.Server) { pb.RegisterProviderServer(s, NewServer(p, "fake", "1.2.3", Version)) })
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	c := &Client{rpc: pb.NewProviderClient(conn), name: "fake"}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c.Provider(info)
}

// wire sends attributes through their protobuf encoding, as a plugin call does.
func wire(t *testing.T, a providers.Attrs) providers.Attrs {
	t.Helper()
	m, err := encodeAttrs(a)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.Attrs
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if m == nil {
		return decodeAttrs(nil)
	}
	return decodeAttrs(&back)
}

func TestAttrsRoundTripExactly(t *testing.T) {
	t.Parallel()
	cases := map[string]providers.Attrs{
		"nil":   nil,
		"empty": {},
		"every type": {
			"title": "Spring 10% off", "empty": "", "count": int64(500), "big": int64(1 << 62), "negative": int64(-3),
			"percent": 10.0, "whole float": 3000.0, "tiny": 1e-300, "on": true, "off": false,
			"topics": []string{"purchase", "cart.updated"}, "no topics": []string{}, "nil topics": []string(nil),
			"variants": map[string]string{"a": "x", "b": ""}, "no variants": map[string]string{},
			"nil variants": map[string]string(nil), "unset": nil,
		},
	}
	for name, a := range cases {
		got := wire(t, a)
		if !reflect.DeepEqual(got, a) {
			t.Errorf("%s: sent %#v, got %#v", name, a, got)
		}
	}
	// The case decides the type: a whole float stays a float, an int stays an int.
	got := wire(t, providers.Attrs{"f": 3000.0, "i": int64(3000)})
	if _, ok := got["f"].(float64); !ok {
		t.Errorf("3000.0 came back as %T", got["f"])
	}
	if _, ok := got["i"].(int64); !ok {
		t.Errorf("int64 3000 came back as %T", got["i"])
	}
}

func TestAttrsRefuseTypesOutsideTheContract(t *testing.T) {
	t.Parallel()
	_, err := encodeAttrs(providers.Attrs{"count": 5})
	if err == nil || !strings.Contains(err.Error(), "attribute count") || !strings.Contains(err.Error(), "int") {
		t.Fatalf("an int attribute: got %v, want an error naming the attribute and its type", err)
	}
}

func TestDiagnosticsRoundTrip(t *testing.T) {
	t.Parallel()
	ds := providers.Diagnostics{
		{Severity: providers.Error, Summary: "create failed", Detail: "slow down", Attribute: "percent",
			Err: &providers.APIError{Code: providers.ErrRateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond,
				Message: "too many requests", RequestID: "req-42"}},
		{Severity: providers.Warning, Summary: "deprecated", Detail: "use amount"},
	}
	b, err := proto.Marshal(&pb.DeleteResponse{Diagnostics: encodeDiags(ds)})
	if err != nil {
		t.Fatal(err)
	}
	var m pb.DeleteResponse
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	got := decodeDiags(m.Diagnostics)
	if !reflect.DeepEqual(got, ds) {
		t.Fatalf("sent %#v\ngot  %#v", ds, got)
	}
	if providers.CodeOf(got.Err()) != providers.ErrRateLimited {
		t.Fatalf("the error class did not survive: %v", got.Err())
	}
}

// fake implements every optional interface; the combinations below hide some of them.
type fake struct{ providers.Provider }

func (fake) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{{Name: "token", Type: providers.String, Required: true, Sensitive: true, Description: "API token"}},
		Kinds: map[providers.Kind]providers.KindSupport{providers.KindMessage: {Attributes: []string{"name", "template", "variants"},
			ForceNew: []string{"name"}, Description: "a template"}},
	}
}

func (fake) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	if req.Config["token"] != "t0k" || !req.Sensitive["token"] || req.Name != "fake.main" || req.WorkDir != "/work" {
		return providers.ConfigureResponse{Diagnostics: providers.Errorf("bad configuration", "%v %v", req.Config, req.Sensitive)}
	}
	return providers.ConfigureResponse{}
}

func (fake) Create(_ context.Context, req providers.CreateRequest) providers.CreateResponse {
	return providers.CreateResponse{ID: req.IdempotencyKey + "/" + req.Refs["audience"], Attributes: req.Attributes}
}

func (fake) ReadBatch(_ context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	out := make([]providers.ReadResponse, len(reqs))
	for i, r := range reqs {
		out[i] = providers.ReadResponse{Found: r.ID != "", ID: r.ID, Attributes: r.Prior}
	}
	return out
}

func (fake) Messaging() providers.MessagingSupport {
	return providers.MessagingSupport{Address: "line_user", Consent: "line"}
}

func (fake) Send(_ context.Context, req providers.SendRequest) providers.SendResponse {
	return providers.SendResponse{ID: "m-" + req.IdempotencyKey, Duplicate: req.Text == "again"}
}

func (fake) ReceiveWebhook(_ context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	if req.Header.Get("X-Signature") != "good" {
		return providers.WebhookResponse{Diagnostics: providers.FromError("webhook refused", &providers.APIError{Code: providers.ErrAuth, Status: 401, Message: "bad signature"})}
	}
	return providers.WebhookResponse{Events: []providers.InboundEvent{{ID: "e1", Type: "follow", Channel: "line",
		Time: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC), Record: map[string]any{"userId": "U1"},
		Data: map[string]any{"total": 3000, "items": []string{"a"}, "url": req.URL, "body": string(req.Body)}}}}
}

type batchOnly struct {
	fake
	providers.BatchReader
}

func TestOptionalInterfacesMatchThePlugin(t *testing.T) {
	t.Parallel()
	f := fake{}
	type (
		b  = providers.BatchReader
		s  = providers.Sender
		w  = providers.WebhookReceiver
		bs interface {
			b
			s
		}
	)
	// Each provider below exposes a different set of f's optional methods.
	cases := []struct {
		name    string
		p       providers.Provider
		b, s, w bool
	}{
		{"none", struct{ providers.Provider }{f}, false, false, false},
		{"batch", struct {
			providers.Provider
			b
		}{f, f}, true, false, false},
		{"sender", struct {
			providers.Provider
			s
		}{f, f}, false, true, false},
		{"webhook", struct {
			providers.Provider
			w
		}{f, f}, false, false, true},
		{"batch+sender", struct {
			providers.Provider
			bs
		}{f, f}, true, true, false},
		{"batch+webhook", struct {
			providers.Provider
			b
			w
		}{f, f, f}, true, false, true},
		{"sender+webhook", struct {
			providers.Provider
			s
			w
		}{f, f, f}, false, true, true},
		{"all", f, true, true, true},
	}
	for _, c := range cases {
		p := connect(t, c.p)
		_, gotB := p.(providers.BatchReader)
		_, gotS := p.(providers.Sender)
		_, gotW := p.(providers.WebhookReceiver)
		if gotB != c.b || gotS != c.s || gotW != c.w {
			t.Errorf("%s: the client is BatchReader=%v Sender=%v WebhookReceiver=%v, want %v %v %v", c.name, gotB, gotS, gotW, c.b, c.s, c.w)
		}
		if cl, ok := ClientOf(p); !ok || cl == nil {
			t.Errorf("%s: ClientOf does not find the client", c.name)
		}
	}
}

func TestEveryCallCrossesTheWire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := connect(t, fake{})

	s := p.Schema(ctx)
	if len(s.Config) != 1 || !s.Config[0].Sensitive || s.Kinds[providers.KindMessage].ForceNew[0] != "name" {
		t.Fatalf("schema: %+v", s)
	}
	if ds := p.Configure(ctx, providers.ConfigureRequest{Name: "fake.main", Config: map[string]any{"token": "t0k"},
		Sensitive: map[string]bool{"token": true}, WorkDir: "/work"}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	attrs := providers.Attrs{"name": "campaign.spring", "variants": map[string]string{"b": "B"}}
	cr := p.Create(ctx, providers.CreateRequest{Kind: providers.KindMessage, Attributes: attrs, IdempotencyKey: "k1", Refs: map[string]string{"audience": "aud_1"}})
	if cr.ID != "k1/aud_1" || !reflect.DeepEqual(cr.Attributes, attrs) {
		t.Fatalf("create: %+v", cr)
	}
	rs := p.(providers.BatchReader).ReadBatch(ctx, []providers.ReadRequest{{Kind: providers.KindMessage, ID: "x", Prior: attrs}, {Kind: providers.KindMessage}})
	if len(rs) != 2 || !rs[0].Found || rs[1].Found || !reflect.DeepEqual(rs[0].Attributes, attrs) {
		t.Fatalf("read batch: %+v", rs)
	}
	snd := p.(providers.Sender)
	if m := snd.Messaging(); m.Address != "line_user" || m.Consent != "line" {
		t.Fatalf("messaging: %+v", m)
	}
	if r := snd.Send(ctx, providers.SendRequest{To: "U1", Text: "again", IdempotencyKey: "k"}); r.ID != "m-k" || !r.Duplicate {
		t.Fatalf("send: %+v", r)
	}
	wr := p.(providers.WebhookReceiver)
	bad := wr.ReceiveWebhook(ctx, providers.WebhookRequest{Header: http.Header{"X-Signature": {"bad"}}})
	if providers.CodeOf(bad.Diagnostics.Err()) != providers.ErrAuth {
		t.Fatalf("a bad signature: %v", bad.Diagnostics.Err())
	}
	good := wr.ReceiveWebhook(ctx, providers.WebhookRequest{URL: "https://x/hook", Header: http.Header{"X-Signature": {"good"}}, Body: []byte(`{}`)})
	if len(good.Events) != 1 {
		t.Fatalf("webhook: %+v", good)
	}
	e := good.Events[0]
	if e.ID != "e1" || !e.Time.Equal(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)) || e.Record["userId"] != "U1" ||
		e.Data["total"] != 3000.0 || e.Data["url"] != "https://x/hook" || !reflect.DeepEqual(e.Data["items"], []any{"a"}) {
		t.Fatalf("event: %+v", e)
	}
}

// sloppy answers with an attribute of a type outside the contract.
type sloppy struct{ fake }

func (sloppy) Create(context.Context, providers.CreateRequest) providers.CreateResponse {
	return providers.CreateResponse{ID: "x1", Attributes: providers.Attrs{"count": 3}}
}

func TestUnencodableValuesAreDiagnostics(t *testing.T) {
	t.Parallel()
	p := connect(t, sloppy{})
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindMessage, Attributes: providers.Attrs{"n": 1}})
	if !r.Diagnostics.HasErrors() || !strings.Contains(r.Diagnostics.Err().Error(), "attribute n") {
		t.Fatalf("an int attribute in a request: %v", r.Diagnostics.Err())
	}
	r = p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindMessage})
	if r.ID != "x1" || !strings.Contains(r.Diagnostics.Err().Error(), "attribute count") {
		t.Fatalf("an int attribute in an answer: id %q, %v", r.ID, r.Diagnostics.Err())
	}
}

func TestCallsAfterTheServerIsGoneAreUnavailable(t *testing.T) {
	t.Parallel()
	conn, srv := plugin.TestGRPCConn(t, func(s *grpc.Server) { pb.RegisterProviderServer(s, NewServer(fake{}, "fake", "1", Version)) })
	defer conn.Close()
	exited := make(chan struct{})
	c := &Client{rpc: pb.NewProviderClient(conn), name: "fake", exited: exited, exitReason: func() string { return "exit status 2: panic: boom" }}
	srv.Stop()
	close(exited)
	r := c.Create(context.Background(), providers.CreateRequest{Kind: providers.KindMessage})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrUnavailable || !strings.Contains(err.Error(), "provider plugin fake exited: exit status 2: panic: boom") {
		t.Fatalf("got %v", err)
	}
}

// FuzzDecode feeds arbitrary bytes to the host's decoding of a plugin's answer: a broken or
// hostile plugin must not crash Musubi.
func FuzzDecode(f *testing.F) {
	seed, _ := proto.Marshal(&pb.CreateResponse{Id: "x", Attributes: &pb.Attrs{Values: map[string]*pb.Value{
		"a": {Kind: &pb.Value_StringsValue{StringsValue: &pb.StringList{Values: []string{"v"}}}}}},
		Diagnostics: []*pb.Diagnostic{{Summary: "s", Error: &pb.APIError{Code: "auth"}}}})
	f.Add(seed)
	f.Add([]byte{0x12, 0x03, 0x0a, 0x01, 0x61})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pb.CreateResponse
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		a := decodeAttrs(m.Attributes)
		_ = decodeDiags(m.Diagnostics).Err()
		if _, err := encodeAttrs(a); err != nil {
			t.Fatalf("decoded attributes do not encode again: %v", err)
		}
	})
}
