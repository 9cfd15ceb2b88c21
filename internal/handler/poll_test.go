package handler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// `make extract` on a poll request shows what it polls, before any network.
func TestExtractPollFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "poll", "*.json"))
	if len(files) == 0 {
		t.Fatal("no poll fixtures in events/poll")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		ex, err := Extract(b, policy.Settings{})
		if err != nil || len(ex.Alerts) != 1 || ex.Alerts[0].Format != "poll" || !strings.Contains(ex.Alerts[0].Title, "impossible-travel") {
			t.Errorf("%s: %v %+v", filepath.Base(f), err, ex)
		}
	}
}

func TestKeepAlerts(t *testing.T) {
	var as []outcome.PolledAlert
	for i := range 10 {
		st := outcome.PollActed
		if i%4 == 3 {
			st = outcome.PollGivenUp
		}
		as = append(as, outcome.PolledAlert{ID: fmt.Sprint(i), Status: st})
	}
	kept, omitted := keepAlerts(as, 4)
	if omitted != 6 || len(kept) != 4 || kept[0].ID != "3" || kept[1].ID != "7" || kept[2].ID != "0" {
		t.Errorf("%v %d: the alerts an operator must see come first", kept, omitted)
	}
	if kept, omitted := keepAlerts(as[:2], 4); len(kept) != 2 || omitted != 0 {
		t.Errorf("%v %d", kept, omitted)
	}
}
