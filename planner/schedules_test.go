package planner

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func schedulesOf(f *fixture) []string {
	f.t.Helper()
	p, _ := f.plan()
	var out []string
	for _, s := range p.Schedules {
		out = append(out, fmt.Sprintf("%s %s,%d %s %s past=%v", s.Block, s.Provider, s.Index, s.SendAt, s.Timezone, s.Past))
	}
	return out
}

// A campaign message with a send_at is listed with the time, as written, when the plan pushes
// the rule bundle that carries it; one whose time has passed by the plan's clock says so.
func TestScheduledMessagesInThePlan(t *testing.T) {
	f := pureSenderFixture(t)
	f.config = strings.Replace(f.config, `    template = "Spring sale: {{ code }}"
  }`, `    template = "Spring sale: {{ code }}"
    send_at  = "2027-03-05T10:00:00"
  }
  message {
    via      = provider.mem.tablet
    template = "Last day"
  }
  message {
    via      = provider.mem.tablet
    template = "Spring sale ends tonight"
    send_at  = "2027-03-31T09:00:00+08:00"
    timezone = "Asia/Shanghai"
  }`, 1)
	f.now = func() time.Time { return time.Date(2027, 3, 10, 0, 0, 0, 0, time.UTC) }
	want := []string{
		"campaign.spring mem.tablet,0 2027-03-05T10:00:00+09:00 Asia/Tokyo past=true",
		"campaign.spring mem.tablet,2 2027-03-31T09:00:00+08:00 Asia/Shanghai past=false",
	}
	if got := schedulesOf(f); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("schedules:\n%v\nwant\n%v", got, want)
	}
	p, host := f.plan()
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	// Nothing to push: nothing to show.
	if got := schedulesOf(f); len(got) != 0 {
		t.Fatalf("a plan that pushes no bundle lists %v", got)
	}
	// A new time is a new bundle.
	f.config = strings.Replace(f.config, "2027-03-05T10:00:00", "2027-03-12T10:00:00", 1)
	if got := schedulesOf(f); len(got) != 2 || !strings.Contains(got[0], "2027-03-12T10:00:00+09:00 Asia/Tokyo past=false") {
		t.Fatalf("after a new time: %v", got)
	}
}
