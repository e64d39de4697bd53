package plugin

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// pluginLog is the hclog.Logger go-plugin writes to for one plugin: its own messages and the
// plugin's stderr, one line per entry. It forwards everything to log/slog (never to
// stdout) and remembers how the process ended, so a crash can be explained.
type pluginLog struct {
	out   *slog.Logger
	state *exitState
	name  string // hclog sub-logger name
	args  []any
}

// exitState is what the log of one plugin process has told about its end.
type exitState struct {
	plugin string
	// stderrName is the sub-logger go-plugin logs the plugin's stderr on: the binary's name.
	stderrName string
	mu         sync.Mutex
	exit       string // "exit status 2"
	words      string // the panic line, or the last error the plugin logged
	panic      bool
	last       string // the last line the plugin wrote, at any level
}

func newPluginLog(out *slog.Logger, plugin, binary string) *pluginLog {
	if out == nil {
		out = slog.Default()
	}
	return &pluginLog{out: out, state: &exitState{plugin: plugin, stderrName: binary}}
}

// reason says how the process ended: "exit status 2: panic: runtime error: …".
func (s *exitState) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return joinNonEmpty(s.exit, s.words)
}

// startFailure says what a plugin that never finished its handshake last said: at that
// point any line may be the explanation (a usage message, a missing library).
func (s *exitState) startFailure() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.words != "" {
		return joinNonEmpty(s.exit, s.words)
	}
	return joinNonEmpty(s.exit, s.last)
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ": ")
}

func (s *exitState) observe(level hclog.Level, msg string, fromPlugin bool, args []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fromPlugin {
		if msg == "plugin process exited" {
			for i := 0; i+1 < len(args); i += 2 {
				if k, _ := args[i].(string); k == "error" {
					s.exit, _ = args[i+1].(string)
				}
			}
		}
		return
	}
	s.last = msg
	isPanic := strings.HasPrefix(msg, "panic: ") || strings.HasPrefix(msg, "fatal error: ")
	switch {
	case isPanic && !s.panic:
		s.words, s.panic = msg, true
	case !s.panic && level >= hclog.Error:
		s.words = msg
	}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// Log implements hclog.Logger.
func (l *pluginLog) Log(level hclog.Level, msg string, args ...any) {
	fromPlugin := l.name == l.state.stderrName
	l.state.observe(level, msg, fromPlugin, args)
	sl := slogLevel(level)
	if !l.out.Enabled(context.Background(), sl) {
		return
	}
	attrs := make([]any, 0, len(l.args)+len(args)+2)
	attrs = append(attrs, "plugin", l.state.plugin)
	for _, kvs := range [][]any{l.args, args} {
		for i := 0; i+1 < len(kvs); i += 2 {
			switch kvs[i] {
			case "timestamp": // the plugin's clock; the record has Musubi's
				continue
			case "plugin": // go-plugin's name for the binary's path
				attrs = append(attrs, "binary", kvs[i+1])
				continue
			}
			attrs = append(attrs, kvs[i], kvs[i+1])
		}
		if len(kvs)%2 == 1 {
			attrs = append(attrs, "extra", kvs[len(kvs)-1])
		}
	}
	l.out.Log(context.Background(), sl, msg, attrs...)
}

func (l *pluginLog) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *pluginLog) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *pluginLog) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *pluginLog) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *pluginLog) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *pluginLog) enabled(level hclog.Level) bool {
	return l.out.Enabled(context.Background(), slogLevel(level))
}

func (l *pluginLog) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *pluginLog) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *pluginLog) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *pluginLog) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *pluginLog) IsError() bool { return l.enabled(hclog.Error) }

func (l *pluginLog) ImpliedArgs() []any { return l.args }

func (l *pluginLog) With(args ...any) hclog.Logger {
	c := *l
	c.args = append(append([]any(nil), l.args...), args...)
	return &c
}

func (l *pluginLog) Name() string { return l.name }

func (l *pluginLog) Named(name string) hclog.Logger {
	c := *l
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (l *pluginLog) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

// SetLevel is ignored: MUSUBI_LOG decides what is logged.
func (l *pluginLog) SetLevel(hclog.Level) {}

// GetLevel reports the most detailed level Musubi's log keeps, so go-plugin skips parsing
// plugin lines nobody will see.
func (l *pluginLog) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if l.enabled(lv) {
			return lv
		}
	}
	return hclog.Error
}

func (l *pluginLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *pluginLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineLog{log: l, stream: "log"}
}

// lineLog logs what a plugin writes to its redirected stdout or stderr, a line at a time.
type lineLog struct {
	log    *pluginLog
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.log.Log(hclog.Info, line, "stream", w.stream)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
