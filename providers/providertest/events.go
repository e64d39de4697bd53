package providertest

import (
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// CheckParsed checks what a webhook parser made of a body, for its fuzz test: no events
// beside an error, and none without an ID, a type or a record.
func CheckParsed(t *testing.T, evs []providers.InboundEvent, err error) {
	t.Helper()
	if err != nil && len(evs) > 0 {
		t.Fatal("events with an error")
	}
	for _, ev := range evs {
		if ev.ID == "" || ev.Type == "" || len(ev.Record) == 0 {
			t.Fatalf("an event without ID, type or record: %+v", ev)
		}
	}
}
