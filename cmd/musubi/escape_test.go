package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/engine/identity"
)

// hostile, arriving in an event or from a live system, would retitle and clear the terminal.
const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b31m"

// checkEscaped fails on a control character other than newline and tab in text output, and
// wants the hostile text shown escaped.
func checkEscaped(t *testing.T, out string) {
	t.Helper()
	for i, r := range out {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f {
			t.Fatalf("raw %U at byte %d: %q", r, i, out[max(i-40, 0):min(i+40, len(out))])
		}
	}
	if !strings.Contains(out, `\x1b]0;pwned\x07\x1b[2J\u009b31m`) {
		t.Errorf("the hostile text is not shown escaped:\n%s", out)
	}
}

func TestCustomerShowEscapesControlCharacters(t *testing.T) {
	id := identity.ID{Type: "email", Value: hostile}
	var b bytes.Buffer
	writeCustomer(&b, &engine.CustomerView{
		ID: "c" + hostile, Identifiers: []identity.ID{id},
		Consent:    map[string]bool{hostile: true},
		Attributes: map[string]any{hostile: hostile, "list": []any{hostile}},
		Traits:     map[string]any{hostile: 1.0},
		Segments:   []string{hostile},
		Merges:     []identity.Merge{{ID: hostile, From: hostile, At: time.Unix(0, 0), Moved: []identity.ID{id}, Cause: []identity.ID{id}}},
	})
	checkEscaped(t, b.String())
}

func TestOutboxEscapesControlCharacters(t *testing.T) {
	var b bytes.Buffer
	items := []engine.OutboxItem{
		{Name: hostile, Via: hostile, To: hostile, Text: hostile, Status: engine.StatusDead, LastError: hostile},
		{Name: hostile, Status: engine.StatusSent, SentAt: time.Unix(0, 0), MessageID: hostile},
		{Name: hostile, Status: engine.StatusPending, Attempts: 1, LastError: hostile},
	}
	if err := writeOutbox(&b, items); err != nil {
		t.Fatal(err)
	}
	checkEscaped(t, b.String())
}

func TestErrorsEscapeControlCharacters(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"validate", "--" + hostile}, strings.NewReader(""), &out, &errOut); code == 0 {
		t.Fatal("an unknown flag succeeded")
	}
	checkEscaped(t, errOut.String())
}
