package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin/protocol"
)

// startTimeout bounds how long a plugin may take to print its handshake.
const startTimeout = 30 * time.Second

// newerVersions is how many protocol versions above its own the host offers in the
// handshake. go-plugin only negotiates among offered versions; offering the next ones lets
// a newer plugin answer with its version, so the refusal can say which side to upgrade.
const newerVersions = 16

// Options tune how a plugin is started.
type Options struct {
	// Protocol is the protocol version the host speaks; zero is protocol.Version.
	Protocol int
	// Env adds variables to the plugin's environment, which is Musubi's; a variable Musubi's
	// environment also sets keeps Musubi's value.
	Env []string
	// Logger receives the plugin's log and stderr; nil is slog.Default().
	Logger *slog.Logger
}

// Start runs a plugin binary, checks that it speaks the host's protocol version, and
// returns it as a provider implementing exactly the optional interfaces the plugin does.
// Closing the provider ends the process.
func Start(ctx context.Context, path string, opts Options) (providers.Provider, protocol.Info, error) {
	host := opts.Protocol
	if host == 0 {
		host = protocol.Version
	}
	name := nameOf(path)
	lg := newPluginLog(opts.Logger, name, filepath.Base(path))
	gp := &protocol.GRPCPlugin{Name: name, ExitReason: lg.state.reason}
	versions := map[int]goplugin.PluginSet{}
	for v := 1; v <= host+newerVersions; v++ {
		versions[v] = goplugin.PluginSet{protocol.PluginKey: gp}
	}
	cmd := exec.Command(path)
	cmd.Env = opts.Env // go-plugin appends Musubi's environment
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake(host),
		VersionedPlugins: versions,
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Logger:           lg,
		SyncStdout:       &lineLog{log: lg, stream: "stdout"},
		SyncStderr:       &lineLog{log: lg, stream: "stderr"},
	})
	gp.Stop = client.Kill
	fail := func(err error) (providers.Provider, protocol.Info, error) {
		client.Kill()
		return nil, protocol.Info{}, err
	}
	rpc, err := client.Client()
	if err != nil {
		if v, ok := offeredVersion(err); ok {
			return fail(mismatch(name, v, host))
		}
		client.Kill() // returns once the exit and the plugin's last stderr lines are logged
		why := lg.state.startFailure()
		if why == "" {
			why = strings.Join(strings.Fields(err.Error()), " ")
		}
		return nil, protocol.Info{}, fmt.Errorf("provider plugin %s (%s) did not start: %s", name, path, why)
	}
	if v := client.NegotiatedVersion(); v != host {
		return fail(mismatch(name, v, host))
	}
	raw, err := rpc.Dispense(protocol.PluginKey)
	if err != nil {
		return fail(fmt.Errorf("provider plugin %s: %w", name, err))
	}
	c := raw.(*protocol.Client)
	infoCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	info, err := c.Info(infoCtx)
	if err != nil {
		return fail(err)
	}
	if info.Protocol != host {
		return fail(mismatch(name, info.Protocol, host))
	}
	if info.Name != "" {
		c.SetName(info.Name)
	}
	return c.Provider(info), info, nil
}

// mismatch says which side to upgrade when plugin and host speak different versions.
func mismatch(name string, plugin, host int) error {
	upgrade := "upgrade the plugin"
	if plugin > host {
		upgrade = "upgrade musubi"
	}
	return fmt.Errorf("plugin %s speaks protocol %d, this musubi speaks %d: %s", name, plugin, host, upgrade)
}

var incompatibleRE = regexp.MustCompile(`Plugin version: (\d+)`)

// offeredVersion finds the version a plugin answered with when go-plugin refused it for
// lying outside the versions the host offered.
func offeredVersion(err error) (int, bool) {
	m := incompatibleRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	v, convErr := strconv.Atoi(m[1])
	return v, convErr == nil
}
