// Package protocol is the wire between Musubi and its provider plugins: the go-plugin
// handshake, the conversions between the providers package's types and the protobuf
// messages of providers/plugin/proto, the gRPC server a plugin runs around its Provider,
// and the Client that the host uses as a providers.Provider.
//
// Both ends import this package (the host through providers/plugin, plugins through
// providers/plugin/sdk), so it imports nothing of Musubi but providers: a plugin binary stays
// small.
package protocol

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"github.com/musubi-hq/musubi/providers"
	pb "github.com/musubi-hq/musubi/providers/plugin/proto"
	"google.golang.org/grpc"
)

// Version is the protocol version this build speaks. It changes only when an existing
// message or RPC of provider.proto changes incompatibly (a new proto package); adding fields
// or RPCs keeps it.
const Version = 1

// PluginKey names the one plugin a provider binary serves, in go-plugin's plugin set.
const PluginKey = "provider"

// Handshake is the go-plugin handshake for a protocol version. The magic cookie only tells a
// binary started by Musubi from one started by hand (go-plugin then explains it is a plugin);
// it is no security measure.
func Handshake(version int) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  uint(version),
		MagicCookieKey:   "MUSUBI_PROVIDER_PLUGIN",
		MagicCookieValue: "7d1c4b0e-musubi-provider-plugin",
	}
}

// Info describes a running plugin, as it reports itself.
type Info struct {
	// Name is the provider type the plugin implements.
	Name string
	// Version is the plugin's release version.
	Version string
	// Protocol is the protocol version the plugin speaks.
	Protocol int
	// BatchReader, Sender and WebhookReceiver say which optional interfaces it implements.
	BatchReader, Sender, WebhookReceiver bool
}

// GRPCPlugin is the go-plugin Plugin of a provider. A plugin sets Serve; the host sets Name,
// ExitReason and Stop, which the Client uses to explain a crash and to end the process.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Serve is the plugin's provider and how it describes itself.
	Serve *Server
	// Name names the plugin in the host's errors.
	Name string
	// ExitReason says why the plugin process ended ("exit status 2: panic: ..."), once
	// it has.
	ExitReason func() string
	// Stop ends the plugin process; the Client calls it from Close.
	Stop func()
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the provider service (plugin side).
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterProviderServer(s, p.Serve)
	return nil
}

// GRPCClient returns a *Client (host side). ctx ends when the plugin process exits.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{rpc: pb.NewProviderClient(conn), name: p.Name, exited: ctx.Done(), exitReason: p.ExitReason, stop: p.Stop}, nil
}

// capabilities lists the optional interfaces a provider implements.
func capabilities(p providers.Provider) (batch, sender, webhook bool) {
	_, batch = p.(providers.BatchReader)
	_, sender = p.(providers.Sender)
	_, webhook = p.(providers.WebhookReceiver)
	return batch, sender, webhook
}
