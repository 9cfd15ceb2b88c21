package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/session-revoker/session-revoker/internal/poll"
)

// The Graph poll's schedule as the stack deploys it: off until enabled, every minute, and
// its input (the parameters substituted) a request the function accepts, with the rules
// the README documents as the defaults.
func TestPollSchedule(t *testing.T) {
	off := deploy(t, defaults).get(t, "RevokeFunctionGraphPoll").Properties
	if str(off, "State") != "DISABLED" {
		t.Errorf("the poll is %s by default: it must be off until the operator turns it on", str(off, "State"))
	}
	st := deploy(t, allOn)
	sch := st.get(t, "RevokeFunctionGraphPoll").Properties
	if str(sch, "State") != "ENABLED" || str(sch, "ScheduleExpression") != "rate(1 minute)" {
		t.Errorf("state %s, schedule %s", str(sch, "State"), str(sch, "ScheduleExpression"))
	}
	shipped, err := poll.Parse([]byte(str(sch, "Target", "Input")))
	if err != nil {
		t.Fatalf("the shipped schedule's input is refused: %v", err)
	}
	builtIn, _ := poll.Parse([]byte(`{"poll": {"name": "graph"}}`))
	if !reflect.DeepEqual(shipped, builtIn) {
		t.Errorf("the template's defaults are not the function's:\n%+v\n%+v", shipped, builtIn)
	}
	fixture, err := os.ReadFile(filepath.Join("..", "..", "events", "poll", "graph.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fromFixture, err := poll.Parse(fixture); err != nil || !reflect.DeepEqual(fromFixture, shipped) {
		t.Errorf("events/poll/graph.json is not the schedule's input: %v", err)
	}
	// An operator turning risk detections off (no IdentityRiskEvent.Read.All to grant).
	alertsOnly := deploy(t, pollAlertsOnly).get(t, "RevokeFunctionGraphPoll").Properties
	only, err := poll.Parse([]byte(str(alertsOnly, "Target", "Input")))
	if err != nil || !reflect.DeepEqual(only.Sources(), []poll.Source{poll.Alerts}) {
		t.Errorf("%v %v", err, only.Sources())
	}
}
