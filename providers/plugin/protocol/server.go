package protocol

import (
	"context"

	"github.com/musubi-hq/musubi/providers"
	pb "github.com/musubi-hq/musubi/providers/plugin/proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server serves one provider over gRPC, in the plugin process. Values that cannot cross the
// wire (an attribute of a Go type outside the contract) become error diagnostics, never a
// broken connection.
type Server struct {
	pb.UnimplementedProviderServer
	p    providers.Provider
	info Info
}

// NewServer wraps a provider. name and version are how the plugin reports itself; protocol
// is the version it speaks.
func NewServer(p providers.Provider, name, version string, protocol int) *Server {
	info := Info{Name: name, Version: version, Protocol: protocol}
	info.BatchReader, info.Sender, info.WebhookReceiver = capabilities(p)
	return &Server{p: p, info: info}
}

// GetInfo names the plugin and its optional interfaces.
func (s *Server) GetInfo(context.Context, *pb.GetInfoRequest) (*pb.GetInfoResponse, error) {
	i := s.info
	return &pb.GetInfoResponse{Name: i.Name, Version: i.Version, Protocol: int32(i.Protocol),
		BatchReader: i.BatchReader, Sender: i.Sender, WebhookReceiver: i.WebhookReceiver}, nil
}

// Schema implements the RPC of the same name.
func (s *Server) Schema(ctx context.Context, _ *pb.SchemaRequest) (*pb.SchemaResponse, error) {
	return encodeSchema(s.p.Schema(ctx)), nil
}

// Configure implements the RPC of the same name.
func (s *Server) Configure(ctx context.Context, m *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	r := s.p.Configure(ctx, providers.ConfigureRequest{Name: m.Name, Config: decodeJSON(m.Config), Sensitive: m.Sensitive, WorkDir: m.WorkDir})
	return &pb.ConfigureResponse{Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Validate implements the RPC of the same name.
func (s *Server) Validate(ctx context.Context, m *pb.ValidateRequest) (*pb.ValidateResponse, error) {
	r := s.p.Validate(ctx, providers.ValidateRequest{Kind: providers.Kind(m.Kind), Attributes: decodeAttrs(m.Attributes)})
	return &pb.ValidateResponse{Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Plan implements the RPC of the same name.
func (s *Server) Plan(ctx context.Context, m *pb.PlanRequest) (*pb.PlanResponse, error) {
	r := s.p.Plan(ctx, providers.PlanRequest{Kind: providers.Kind(m.Kind), ID: m.Id,
		Prior: decodeAttrs(m.Prior), Proposed: decodeAttrs(m.Proposed)})
	planned, err := encodeAttrs(r.Planned)
	if err != nil {
		return &pb.PlanResponse{Diagnostics: encodeDiags(unencodable("plan", err))}, nil
	}
	return &pb.PlanResponse{Planned: planned, RequiresReplace: r.RequiresReplace, Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Create implements the RPC of the same name.
func (s *Server) Create(ctx context.Context, m *pb.CreateRequest) (*pb.CreateResponse, error) {
	r := s.p.Create(ctx, providers.CreateRequest{Kind: providers.Kind(m.Kind), Attributes: decodeAttrs(m.Attributes),
		IdempotencyKey: m.IdempotencyKey, Refs: m.Refs})
	attrs, err := encodeAttrs(r.Attributes)
	if err != nil {
		// The object exists: keep its ID so the host can still record it.
		return &pb.CreateResponse{Id: r.ID, Diagnostics: encodeDiags(unencodable("create", err))}, nil
	}
	return &pb.CreateResponse{Id: r.ID, Attributes: attrs, Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Read implements the RPC of the same name.
func (s *Server) Read(ctx context.Context, m *pb.ReadRequest) (*pb.ReadResponse, error) {
	return encodeReadResponse(s.p.Read(ctx, decodeReadRequest(m))), nil
}

// ReadBatch implements the RPC of the same name, for providers that are BatchReaders.
func (s *Server) ReadBatch(ctx context.Context, m *pb.ReadBatchRequest) (*pb.ReadBatchResponse, error) {
	br, ok := s.p.(providers.BatchReader)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the provider reads one object per call")
	}
	reqs := make([]providers.ReadRequest, len(m.Requests))
	for i, r := range m.Requests {
		reqs[i] = decodeReadRequest(r)
	}
	resps := br.ReadBatch(ctx, reqs)
	out := &pb.ReadBatchResponse{Responses: make([]*pb.ReadResponse, len(resps))}
	for i, r := range resps {
		out.Responses[i] = encodeReadResponse(r)
	}
	return out, nil
}

// Update implements the RPC of the same name.
func (s *Server) Update(ctx context.Context, m *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	r := s.p.Update(ctx, providers.UpdateRequest{Kind: providers.Kind(m.Kind), ID: m.Id,
		Prior: decodeAttrs(m.Prior), Planned: decodeAttrs(m.Planned), Refs: m.Refs})
	attrs, err := encodeAttrs(r.Attributes)
	if err != nil {
		return &pb.UpdateResponse{Diagnostics: encodeDiags(unencodable("update", err))}, nil
	}
	return &pb.UpdateResponse{Attributes: attrs, Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Delete implements the RPC of the same name.
func (s *Server) Delete(ctx context.Context, m *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	r := s.p.Delete(ctx, providers.DeleteRequest{Kind: providers.Kind(m.Kind), ID: m.Id, Prior: decodeAttrs(m.Prior)})
	return &pb.DeleteResponse{Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Import implements the RPC of the same name.
func (s *Server) Import(ctx context.Context, m *pb.ImportRequest) (*pb.ImportResponse, error) {
	r := s.p.Import(ctx, providers.ImportRequest{Kind: providers.Kind(m.Kind), ID: m.Id})
	attrs, err := encodeAttrs(r.Attributes)
	if err != nil {
		return &pb.ImportResponse{Diagnostics: encodeDiags(unencodable("import", err))}, nil
	}
	return &pb.ImportResponse{Attributes: attrs, Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// Close implements the RPC of the same name. The host ends the process afterwards.
func (s *Server) Close(context.Context, *pb.CloseRequest) (*pb.CloseResponse, error) {
	if err := s.p.Close(); err != nil {
		return &pb.CloseResponse{Error: err.Error()}, nil
	}
	return &pb.CloseResponse{}, nil
}

// Messaging implements the RPC of the same name, for providers that are Senders.
func (s *Server) Messaging(context.Context, *pb.MessagingRequest) (*pb.MessagingResponse, error) {
	snd, ok := s.p.(providers.Sender)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the provider sends no messages")
	}
	m := snd.Messaging()
	return &pb.MessagingResponse{Address: m.Address, Consent: m.Consent}, nil
}

// Send implements the RPC of the same name, for providers that are Senders.
func (s *Server) Send(ctx context.Context, m *pb.SendRequest) (*pb.SendResponse, error) {
	snd, ok := s.p.(providers.Sender)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the provider sends no messages")
	}
	r := snd.Send(ctx, providers.SendRequest{Name: m.Name, MessageID: m.MessageId, To: m.To, Customer: m.Customer,
		Subject: m.Subject, Text: m.Text, IdempotencyKey: m.IdempotencyKey})
	return &pb.SendResponse{Id: r.ID, Duplicate: r.Duplicate, Diagnostics: encodeDiags(r.Diagnostics)}, nil
}

// ReceiveWebhook implements the RPC of the same name, for providers that are
// WebhookReceivers.
func (s *Server) ReceiveWebhook(ctx context.Context, m *pb.WebhookRequest) (*pb.WebhookResponse, error) {
	wr, ok := s.p.(providers.WebhookReceiver)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the provider receives no webhooks")
	}
	r := wr.ReceiveWebhook(ctx, providers.WebhookRequest{URL: m.Url, Header: decodeHeader(m.Header), Body: m.Body})
	evs, err := encodeEvents(r.Events)
	if err != nil {
		return &pb.WebhookResponse{Diagnostics: encodeDiags(unencodable("webhook", err))}, nil
	}
	return &pb.WebhookResponse{Events: evs, Diagnostics: encodeDiags(r.Diagnostics)}, nil
}
