package planner

import (
	"maps"
	"slices"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
)

// schedules lists the campaign messages with a send_at, by campaign and in the order written,
// each numbered among its campaign's messages through the same provider as addresses number
// them. now tells those whose time has passed.
func schedules(cfg *lang.Config, now time.Time) []*plans.Schedule {
	var out []*plans.Schedule
	for _, name := range slices.Sorted(maps.Keys(cfg.Campaigns)) {
		index := map[addrs.Provider]int{}
		for _, m := range cfg.Campaigns[name].Messages {
			p := addrs.Provider{Type: m.Via.Type, Name: m.Via.Name}
			i := index[p]
			index[p]++
			if m.SendAt.IsZero() {
				continue
			}
			out = append(out, &plans.Schedule{
				Block: addrs.Block{Type: "campaign", Name: name}, Provider: p, Index: i,
				SendAt: m.SendAt.Format(time.RFC3339), Timezone: m.SendAt.Location().String(),
				Past: !m.SendAt.After(now),
			})
		}
	}
	return out
}
