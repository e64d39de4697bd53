package protocol

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
	pb "github.com/musubi-hq/musubi/providers/plugin/proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// exitGrace is how long a call that lost its connection waits for the plugin process to be
// reported gone, so the error can say why it ended instead of "connection reset".
const exitGrace = 2 * time.Second

// callTimeout bounds the calls whose Go signature has no context (Messaging, Close).
const callTimeout = 10 * time.Second

// Client is a provider plugin as the host sees it: a providers.Provider whose calls are
// RPCs. A call that fails in transit (the plugin crashed, the context ended) returns an
// ErrUnavailable diagnostic saying so, never a Go error or a panic. Use Provider to get the
// value that also implements the plugin's optional interfaces.
type Client struct {
	rpc        pb.ProviderClient
	name       string
	exited     <-chan struct{}
	exitReason func() string
	stop       func()
	closeOnce  sync.Once
	closeErr   error

	mu        sync.Mutex
	messaging *providers.MessagingSupport
}

var _ providers.Provider = (*Client)(nil)

// Info asks the plugin who it is and what it implements.
func (c *Client) Info(ctx context.Context) (Info, error) {
	m, err := c.rpc.GetInfo(ctx, &pb.GetInfoRequest{})
	if err != nil {
		return Info{}, errors.New(c.explain(ctx, "GetInfo", err))
	}
	return Info{Name: m.Name, Version: m.Version, Protocol: int(m.Protocol),
		BatchReader: m.BatchReader, Sender: m.Sender, WebhookReceiver: m.WebhookReceiver}, nil
}

// Done is closed once the plugin process has exited.
func (c *Client) Done() <-chan struct{} { return c.exited }

// SetName changes how errors name the plugin, once it has said its name.
func (c *Client) SetName(name string) { c.name = name }

// Schema implements providers.Provider.
func (c *Client) Schema(ctx context.Context) providers.SchemaResponse {
	m, err := c.rpc.Schema(ctx, &pb.SchemaRequest{})
	if err != nil {
		return providers.SchemaResponse{Diagnostics: c.failed(ctx, "schema", err)}
	}
	return decodeSchema(m)
}

// Configure implements providers.Provider.
func (c *Client) Configure(ctx context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	conf, err := encodeJSON(req.Config)
	if err != nil {
		return providers.ConfigureResponse{Diagnostics: unencodable("configure", err)}
	}
	c.mu.Lock()
	c.messaging = nil
	c.mu.Unlock()
	m, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Name: req.Name, Config: conf, Sensitive: req.Sensitive, WorkDir: req.WorkDir})
	if err != nil {
		return providers.ConfigureResponse{Diagnostics: c.failed(ctx, "configure", err)}
	}
	return providers.ConfigureResponse{Diagnostics: decodeDiags(m.Diagnostics)}
}

// Validate implements providers.Provider.
func (c *Client) Validate(ctx context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	attrs, err := encodeAttrs(req.Attributes)
	if err != nil {
		return providers.ValidateResponse{Diagnostics: unencodable("validate", err)}
	}
	m, err := c.rpc.Validate(ctx, &pb.ValidateRequest{Kind: string(req.Kind), Attributes: attrs})
	if err != nil {
		return providers.ValidateResponse{Diagnostics: c.failed(ctx, "validate", err)}
	}
	return providers.ValidateResponse{Diagnostics: decodeDiags(m.Diagnostics)}
}

// Plan implements providers.Provider.
func (c *Client) Plan(ctx context.Context, req providers.PlanRequest) providers.PlanResponse {
	prior, err := encodeAttrs(req.Prior)
	if err != nil {
		return providers.PlanResponse{Diagnostics: unencodable("plan", err)}
	}
	proposed, err := encodeAttrs(req.Proposed)
	if err != nil {
		return providers.PlanResponse{Diagnostics: unencodable("plan", err)}
	}
	m, err := c.rpc.Plan(ctx, &pb.PlanRequest{Kind: string(req.Kind), Id: req.ID, Prior: prior, Proposed: proposed})
	if err != nil {
		return providers.PlanResponse{Diagnostics: c.failed(ctx, "plan", err)}
	}
	return providers.PlanResponse{Planned: decodeAttrs(m.Planned), RequiresReplace: m.RequiresReplace, Diagnostics: decodeDiags(m.Diagnostics)}
}

// Create implements providers.Provider.
func (c *Client) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	attrs, err := encodeAttrs(req.Attributes)
	if err != nil {
		return providers.CreateResponse{Diagnostics: unencodable("create", err)}
	}
	m, err := c.rpc.Create(ctx, &pb.CreateRequest{Kind: string(req.Kind), Attributes: attrs, IdempotencyKey: req.IdempotencyKey, Refs: req.Refs})
	if err != nil {
		return providers.CreateResponse{Diagnostics: c.failed(ctx, "create", err)}
	}
	return providers.CreateResponse{ID: m.Id, Attributes: decodeAttrs(m.Attributes), Diagnostics: decodeDiags(m.Diagnostics)}
}

// Read implements providers.Provider.
func (c *Client) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	mreq, err := encodeReadRequest(req)
	if err != nil {
		return providers.ReadResponse{Diagnostics: unencodable("read", err)}
	}
	m, err := c.rpc.Read(ctx, mreq)
	if err != nil {
		return providers.ReadResponse{Diagnostics: c.failed(ctx, "read", err)}
	}
	return decodeReadResponse(m)
}

// Update implements providers.Provider.
func (c *Client) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	prior, err := encodeAttrs(req.Prior)
	if err != nil {
		return providers.UpdateResponse{Diagnostics: unencodable("update", err)}
	}
	planned, err := encodeAttrs(req.Planned)
	if err != nil {
		return providers.UpdateResponse{Diagnostics: unencodable("update", err)}
	}
	m, err := c.rpc.Update(ctx, &pb.UpdateRequest{Kind: string(req.Kind), Id: req.ID, Prior: prior, Planned: planned, Refs: req.Refs})
	if err != nil {
		return providers.UpdateResponse{Diagnostics: c.failed(ctx, "update", err)}
	}
	return providers.UpdateResponse{Attributes: decodeAttrs(m.Attributes), Diagnostics: decodeDiags(m.Diagnostics)}
}

// Delete implements providers.Provider.
func (c *Client) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	prior, err := encodeAttrs(req.Prior)
	if err != nil {
		return providers.DeleteResponse{Diagnostics: unencodable("delete", err)}
	}
	m, err := c.rpc.Delete(ctx, &pb.DeleteRequest{Kind: string(req.Kind), Id: req.ID, Prior: prior})
	if err != nil {
		return providers.DeleteResponse{Diagnostics: c.failed(ctx, "delete", err)}
	}
	return providers.DeleteResponse{Diagnostics: decodeDiags(m.Diagnostics)}
}

// Import implements providers.Provider.
func (c *Client) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	m, err := c.rpc.Import(ctx, &pb.ImportRequest{Kind: string(req.Kind), Id: req.ID})
	if err != nil {
		return providers.ImportResponse{Diagnostics: c.failed(ctx, "import", err)}
	}
	return providers.ImportResponse{Attributes: decodeAttrs(m.Attributes), Diagnostics: decodeDiags(m.Diagnostics)}
}

// Close closes the provider in the plugin, then ends the plugin process. Calling it again
// does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		// A plugin that already died has nothing left to close.
		if m, err := c.rpc.Close(ctx, &pb.CloseRequest{}); err == nil && m.Error != "" {
			c.closeErr = fmt.Errorf("provider plugin %s: %s", c.name, m.Error)
		}
		if c.stop != nil {
			c.stop()
		}
	})
	return c.closeErr
}

func (c *Client) readBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	out := make([]providers.ReadResponse, len(reqs))
	m := &pb.ReadBatchRequest{Requests: make([]*pb.ReadRequest, len(reqs))}
	for i, r := range reqs {
		mr, err := encodeReadRequest(r)
		if err != nil {
			for j := range out {
				out[j].Diagnostics = unencodable("read", fmt.Errorf("request %d: %w", i, err))
			}
			return out
		}
		m.Requests[i] = mr
	}
	resp, err := c.rpc.ReadBatch(ctx, m)
	if err == nil && len(resp.Responses) != len(reqs) {
		err = status.Errorf(codes.Internal, "the plugin answered %d of %d reads", len(resp.Responses), len(reqs))
	}
	if err != nil {
		ds := c.failed(ctx, "read", err)
		for i := range out {
			out[i].Diagnostics = ds
		}
		return out
	}
	for i, r := range resp.Responses {
		out[i] = decodeReadResponse(r)
	}
	return out
}

func (c *Client) messagingSupport() providers.MessagingSupport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.messaging != nil {
		return *c.messaging
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	m, err := c.rpc.Messaging(ctx, &pb.MessagingRequest{})
	if err != nil {
		// The signature has no error: a plugin that cannot answer addresses nobody, and the
		// Send that follows reports why.
		return providers.MessagingSupport{}
	}
	c.messaging = &providers.MessagingSupport{Address: m.Address, Consent: m.Consent}
	return *c.messaging
}

func (c *Client) send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	m, err := c.rpc.Send(ctx, &pb.SendRequest{Name: req.Name, MessageId: req.MessageID, To: req.To, Customer: req.Customer,
		Subject: req.Subject, Text: req.Text, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		return providers.SendResponse{Diagnostics: c.failed(ctx, "send", err)}
	}
	return providers.SendResponse{ID: m.Id, Duplicate: m.Duplicate, Diagnostics: decodeDiags(m.Diagnostics)}
}

func (c *Client) receiveWebhook(ctx context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	m, err := c.rpc.ReceiveWebhook(ctx, &pb.WebhookRequest{Url: req.URL, Header: encodeHeader(req.Header), Body: req.Body})
	if err != nil {
		return providers.WebhookResponse{Diagnostics: c.failed(ctx, "webhook", err)}
	}
	return providers.WebhookResponse{Events: decodeEvents(m.Events), Diagnostics: decodeDiags(m.Diagnostics)}
}

// failed turns a call that never got its answer into an ErrUnavailable diagnostic that reads
// like the APIError it carries ("unavailable: provider plugin loyalty exited: …"): the
// outcome is unknown, so the planner keeps a create's intent and looks the object up later.
func (c *Client) failed(ctx context.Context, op string, err error) providers.Diagnostics {
	msg := c.explain(ctx, op, err)
	return providers.Diagnostics{{Severity: providers.Error, Summary: string(providers.ErrUnavailable), Detail: msg,
		Err: &providers.APIError{Code: providers.ErrUnavailable, Message: msg}}}
}

// explain says why a call got no answer: the plugin process exited (and how), the
// context's deadline passed, the caller cancelled, or the transport failed.
func (c *Client) explain(ctx context.Context, op string, err error) string {
	code := status.Code(err)
	if c.hasExited(ctx, code) {
		reason := "the process ended"
		if c.exitReason != nil {
			if r := c.exitReason(); r != "" {
				reason = r
			}
		}
		return fmt.Sprintf("provider plugin %s exited: %s", c.name, reason)
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || code == codes.DeadlineExceeded:
		return fmt.Sprintf("provider plugin %s did not finish %s before the deadline", c.name, op)
	case ctx.Err() != nil || code == codes.Canceled:
		return fmt.Sprintf("%s on provider plugin %s was cancelled", op, c.name)
	case code == codes.Unimplemented:
		return fmt.Sprintf("provider plugin %s does not implement %s: %s", c.name, op, status.Convert(err).Message())
	}
	return fmt.Sprintf("provider plugin %s failed in %s: %s", c.name, op, status.Convert(err).Message())
}

// hasExited reports whether the plugin process is gone. A lost connection usually means it
// is on its way out; wait briefly for the exit to be reported.
func (c *Client) hasExited(ctx context.Context, code codes.Code) bool {
	if c.exited == nil {
		return false
	}
	select {
	case <-c.exited:
		return true
	default:
	}
	if code != codes.Unavailable || ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
