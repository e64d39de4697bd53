package states_test

import (
	"path/filepath"
	"testing"

	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/planner/states/statestest"
)

func TestLocalConformance(t *testing.T) {
	statestest.Run(t, func(t *testing.T) statestest.Harness {
		path := filepath.Join(t.TempDir(), "musubi.state.json")
		return statestest.Harness{
			Open:    func(t *testing.T) states.Backend { return states.NewLocal(path) },
			Abandon: func(t *testing.T, u states.Unlocker) { states.AbandonLocalLock(u) },
		}
	})
}
