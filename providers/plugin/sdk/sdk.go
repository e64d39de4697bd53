// Package sdk turns a providers.Provider into a Musubi provider plugin: a program whose main
// calls Serve. Musubi starts the program, speaks the gRPC protocol of providers/plugin/proto
// with it, and uses the provider exactly like a built-in one.
//
//	func main() {
//		sdk.Serve(sdk.Options{
//			Name:    "loyalty",
//			Version: "1.0.0",
//			New:     func() providers.Provider { return &Provider{} },
//		})
//	}
//
// The provider's optional interfaces (providers.BatchReader, providers.Sender,
// providers.WebhookReceiver) are detected on the value New returns and offered to Musubi.
// Logs written with log/slog reach Musubi's log at their level; anything printed to stdout
// is dropped, as stdout belongs to the protocol.
package sdk

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin/protocol"
)

// Options describe a plugin.
type Options struct {
	// Name is the provider type the plugin implements, as in provider "NAME" "…" blocks.
	Name string
	// Version is the plugin's release version, recorded in Musubi's lock file.
	Version string
	// New returns an unconfigured provider. Serve calls it once: a plugin process serves
	// one provider block.
	New func() providers.Provider
}

// protocolVersion overrides the protocol version the plugin speaks, to rehearse a version
// mismatch: go build -ldflags "-X github.com/musubi-hq/musubi/providers/plugin/sdk.protocolVersion=2".
var protocolVersion string

// Serve runs the plugin until Musubi closes it. Started by hand (not by Musubi), it explains
// what the program is and exits with status 1.
func Serve(opts Options) {
	version, err := protocolOf(protocolVersion)
	if err == nil && (opts.Name == "" || opts.New == nil) {
		err = fmt.Errorf("sdk.Options needs a Name and a New function")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
		os.Exit(1)
	}
	hs := protocol.Handshake(version)
	if os.Getenv(hs.MagicCookieKey) != hs.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "This is the Musubi provider plugin %q (version %s, protocol %d). Musubi starts it itself:\n"+
			"set a provider block's source to this file, then run musubi init.\n", opts.Name, opts.Version, version)
		os.Exit(1)
	}
	// Musubi reads the plugin's stderr as JSON log entries; stdout carries the handshake.
	stderr := os.Stderr
	slog.SetDefault(slog.New(jsonHandler(stderr)))
	go exitWithParent(os.Getppid())
	p := opts.New()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins: plugin.PluginSet{protocol.PluginKey: &protocol.GRPCPlugin{
			Serve: protocol.NewServer(p, opts.Name, opts.Version, version)}},
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: opts.Name, Output: stderr, JSONFormat: true, Level: hclog.Debug}),
	})
}

// exitWithParent ends the plugin once Musubi is gone. Musubi ends its plugins when it
// closes its providers, but a musubi killed outright (SIGKILL, an OOM kill, a cancelled CI
// job) cannot, and go-plugin would leave the plugin running with no one to serve.
func exitWithParent(parent int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			slog.Warn("musubi exited; the plugin stops too")
			os.Exit(1)
		}
	}
}

func protocolOf(override string) (int, error) {
	if override == "" {
		return protocol.Version, nil
	}
	v, err := strconv.Atoi(override)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("protocol version %q is not a positive number", override)
	}
	return v, nil
}

// hclogTime is the timestamp layout go-plugin expects in a plugin's JSON log lines.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// jsonHandler writes slog records as the JSON lines go-plugin parses on the host side
// (@level, @message, @timestamp), so each keeps its level in Musubi's log.
func jsonHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				return slog.String("@level", a.Value.String())
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		}})
}
