package sdk

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers/plugin/protocol"
)

func TestProtocolOf(t *testing.T) {
	t.Parallel()
	if v, err := protocolOf(""); err != nil || v != protocol.Version {
		t.Errorf("no override: %d, %v", v, err)
	}
	if v, err := protocolOf("2"); err != nil || v != 2 {
		t.Errorf("override 2: %d, %v", v, err)
	}
	for _, bad := range []string{"0", "-1", "two"} {
		if _, err := protocolOf(bad); err == nil {
			t.Errorf("override %q accepted", bad)
		}
	}
}

// The plugin's log lines are in the shape go-plugin parses on Musubi's side.
func TestLogLinesAreHclogJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	slog.New(jsonHandler(&buf)).Warn("slow answer", "took", "2s")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["@level"] != "WARN" || line["@message"] != "slow answer" || line["took"] != "2s" {
		t.Fatalf("line: %s", buf.Bytes())
	}
	if _, err := time.Parse(hclogTime, line["@timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
}
