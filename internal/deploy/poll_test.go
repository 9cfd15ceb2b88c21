package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/session-revoker/session-revoker/internal/poll"
)

// The Graph poll's schedule, as the template ships it: off, every minute, and its input
// (the parameters' defaults substituted as CloudFormation's Fn::Sub does) a request the
// function accepts, with the rules the README documents as the defaults.

func pollNode(t *testing.T, n *yaml.Node, path ...string) *yaml.Node {
	t.Helper()
	for _, key := range path {
		var next *yaml.Node
		for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			t.Fatalf("template.yaml has no %s", strings.Join(path, "."))
		}
		n = next
	}
	return n
}

func pollTemplate(t *testing.T) (schedule *yaml.Node, defaults map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	defaults = map[string]string{}
	params := pollNode(t, root, "Parameters")
	for i := 0; i+1 < len(params.Content); i += 2 {
		for j := 0; j+1 < len(params.Content[i+1].Content); j += 2 {
			if params.Content[i+1].Content[j].Value == "Default" {
				defaults[params.Content[i].Value] = params.Content[i+1].Content[j+1].Value
			}
		}
	}
	return pollNode(t, root, "Resources", "RevokeFunction", "Properties", "Events", "GraphPoll"), defaults
}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// sub expands an Fn::Sub string with parameter values; an unknown name fails the test.
func sub(t *testing.T, s string, values map[string]string) string {
	return subRef.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := values[m[2:len(m)-1]]
		if !ok {
			t.Fatalf("Fn::Sub names %s, which is not a parameter with a default", m)
		}
		return v
	})
}

func TestPollSchedule(t *testing.T) {
	schedule, defaults := pollTemplate(t)
	if got := pollNode(t, schedule, "Type").Value; got != "ScheduleV2" {
		t.Errorf("Type %s: EventBridge Scheduler", got)
	}
	props := pollNode(t, schedule, "Properties")
	if st := pollNode(t, props, "State"); st.Tag != "!Ref" || st.Value != "PollState" || defaults["PollState"] != "DISABLED" {
		t.Errorf("State %s %s, default %q: the poll must be off until the operator turns it on", st.Tag, st.Value, defaults["PollState"])
	}
	if ex := pollNode(t, props, "ScheduleExpression"); ex.Value != "PollSchedule" || defaults["PollSchedule"] != "rate(1 minute)" {
		t.Errorf("schedule %s, default %q", ex.Value, defaults["PollSchedule"])
	}
	if pollNode(t, props, "DeadLetterConfig", "Arn") == nil {
		t.Error("no dead-letter queue")
	}
	input := pollNode(t, props, "Input")
	if input.Tag != "!Sub" {
		t.Fatalf("Input is %s, want !Sub of the parameters", input.Tag)
	}
	shipped, err := poll.Parse([]byte(sub(t, input.Value, defaults)))
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
	defaults["PollRiskDetectionRules"] = "[]"
	off, err := poll.Parse([]byte(sub(t, input.Value, defaults)))
	if err != nil || !reflect.DeepEqual(off.Sources(), []poll.Source{poll.Alerts}) {
		t.Errorf("%v %v", err, off.Sources())
	}
}
