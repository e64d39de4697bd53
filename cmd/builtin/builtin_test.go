package builtin_test

import (
	"context"
	"os"
	"strings"
	"testing"

	_ "github.com/musubi-hq/musubi/cmd/builtin"
	"github.com/musubi-hq/musubi/providers"
)

// The providers' overview table names every built-in provider, the events its webhook
// subscriptions deliver, the consent channel it sends on, and the kinds it manages.
func TestProvidersOverviewIsTrue(t *testing.T) {
	b, err := os.ReadFile("../../docs/providers/README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 7 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "[`]")
		name, _, _ = strings.Cut(name, "`")
		rows[name] = line
	}
	for _, r := range providers.Registered() {
		row, ok := rows[r.Type]
		if !ok {
			t.Errorf("docs/providers/README.md has no row for provider %q", r.Type)
			continue
		}
		p := r.New()
		s := p.Schema(context.Background())
		cells := strings.Split(row, "|")
		for _, topic := range s.Kinds[providers.KindSubscription].Topics {
			if !strings.Contains(cells[2], "`"+topic+"`") {
				t.Errorf("%s: the row does not list the event %s its subscriptions deliver", r.Type, topic)
			}
		}
		for k := range s.Kinds {
			if !strings.Contains(cells[6], string(k)) {
				t.Errorf("%s: the row does not list the kind %s", r.Type, k)
			}
		}
		if snd, ok := p.(providers.Sender); ok {
			if c := snd.Messaging().Consent; c != "" && !strings.Contains(cells[4], "`"+c+"`") {
				t.Errorf("%s: the row does not name the channel %s it sends on", r.Type, c)
			}
		} else if strings.TrimSpace(cells[4]) != "—" {
			t.Errorf("%s sends nothing, but the row names a channel", r.Type)
		}
	}
}
