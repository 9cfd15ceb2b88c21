package deploy

// Routing with EventBridge's own semantics: each rule of the deployed stack is created in
// moto's EventBridge as rendered (its bus, its pattern), aimed at a queue of its own, and
// every EventBridge-enveloped fixture in events/ is put on the bus its source implies. The
// rules that deliver it are read off the queues. moto's TestEventPattern is a stub, and its
// matcher misses fields inside arrays of objects unless corrected (the launcher does).

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/session-revoker/session-revoker/internal/sources"
)

// refusedByDesign are fixtures the function reads and refuses ("names no user"): no rule
// may deliver them.
var refusedByDesign = map[string]string{
	"guardduty.json":        "GuardDuty findings name AWS IAM principals, not Entra users",
	"securityhub-asff.json": "ASFF findings name AWS IAM principals, not Entra users",
}

// customMappings are fixtures of products described by ALERT_MAPPINGS; the custom-mapping
// rule delivers them once AlertMappingSources names their source.
const customDir = "custom"

type fixture struct {
	name   string // path under events/
	source string
	detail string // detail-type
	body   json.RawMessage
}

// envelopedFixtures lists every fixture in events/ (recursively) that is an EventBridge
// event.
func envelopedFixtures(t *testing.T) []fixture {
	t.Helper()
	root := filepath.Join("..", "..", "events")
	var out []fixture
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var env struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(b, &env) != nil || env.DetailType == "" || env.Source == "" || len(env.Detail) == 0 {
			return nil // not an EventBridge event: a direct request, a sweep, a mapping
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fixture{name: filepath.ToSlash(rel), source: env.Source, detail: env.DetailType, body: env.Detail})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 15 {
		t.Fatalf("found %d enveloped fixtures: the walk is broken", len(out))
	}
	return out
}

// expectedRule is the rule of the deployed stack meant to deliver f, per sources.go; ""
// for a fixture refused by design. ok is false when no source describes f.
func expectedRule(f fixture) (rule string, ok bool) {
	if _, refused := refusedByDesign[filepath.Base(f.name)]; refused {
		return "", true
	}
	if strings.HasPrefix(f.name, customDir+"/") {
		return "CustomMappingsRule", true
	}
	for _, s := range sources.All {
		switch {
		case s.SourcePrefix == "" && s.DetailType == f.detail:
			return s.Rule, true
		case s.SourcePrefix != "" && (f.source == s.SourcePrefix || strings.HasSuffix(s.SourcePrefix, "/") && strings.HasPrefix(f.source, s.SourcePrefix)) &&
			(s.DetailType == "" || s.DetailType == f.detail):
			return s.Rule, true
		}
	}
	return "", false
}

// busOf is the bus an event with this source arrives on: a partner's own bus (named as
// its source), the default bus for AWS services, the alert bus for relays.
func busOf(st *stack, source string) string {
	switch {
	case strings.HasPrefix(source, "aws.partner/"):
		return source
	case strings.HasPrefix(source, "aws."):
		return "default"
	}
	return scalar(st.Params["AlertBusName"])
}

// router is a deployed stack's rules in moto's EventBridge, each delivering to a queue.
type router struct {
	eb     *eventbridge.Client
	sqs    *sqs.Client
	queues map[string]string // rule logical id -> queue URL
	buses  map[string]bool
}

// ensureBus creates bus unless it exists: a partner's bus exists in the account whether or
// not the stack has a rule on it.
func (r *router) ensureBus(t *testing.T, bus string) {
	t.Helper()
	if r.buses[bus] {
		return
	}
	ctx := context.Background()
	in := &eventbridge.CreateEventBusInput{Name: aws.String(bus)}
	if strings.HasPrefix(bus, "aws.partner/") {
		// A partner bus exists once the partner offers its event source to the account
		// and the account associates a bus with it.
		if _, err := r.eb.CreatePartnerEventSource(ctx, &eventbridge.CreatePartnerEventSourceInput{Name: aws.String(bus), Account: aws.String(account)}); err != nil {
			t.Fatal(err)
		}
		in.EventSourceName = aws.String(bus)
	}
	if _, err := r.eb.CreateEventBus(ctx, in); err != nil {
		t.Fatalf("bus %s: %v", bus, err)
	}
	r.buses[bus] = true
}

// deployRules creates the stack's rules that target the function.
func deployRules(t *testing.T, env *awsEnv, st *stack) *router {
	t.Helper()
	ctx := context.Background()
	cfg := env.admin()
	r := &router{eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), queues: map[string]string{}, buses: map[string]bool{"default": true}}
	fn := arnOf(t, st, "RevokeFunction")
	for _, rule := range st.ofType("AWS::Events::Rule") {
		if !targets(rule, fn) {
			continue
		}
		bus := "default"
		if b := str(rule.Properties, "EventBusName"); b != "" {
			bus = b
		}
		r.ensureBus(t, bus)
		pattern, _ := json.Marshal(rule.Properties["EventPattern"])
		if _, err := r.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule.Name), EventBusName: aws.String(bus), EventPattern: aws.String(string(pattern))}); err != nil {
			t.Fatalf("rule %s: %v", rule.ID, err)
		}
		q, err := r.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("routed-" + rule.ID)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule.Name), EventBusName: aws.String(bus),
			Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:" + region + ":" + account + ":routed-" + rule.ID)}}}); err != nil {
			t.Fatal(err)
		}
		r.queues[rule.ID] = aws.ToString(q.QueueUrl)
	}
	if len(r.queues) == 0 {
		t.Fatal("no rule targets the function")
	}
	return r
}

func targets(rule resource, fnArn string) bool {
	list, _ := rule.Properties["Targets"].([]any)
	for _, tg := range list {
		if str(tg, "Arn") == fnArn {
			return true
		}
	}
	return false
}

// deliver puts one event on bus and returns the rules whose queues received it.
func (r *router) deliver(t *testing.T, bus, source, detailType string, detail []byte) []string {
	t.Helper()
	ctx := context.Background()
	r.ensureBus(t, bus)
	out, err := r.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(bus), Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(string(detail)),
	}}})
	if err != nil || out.FailedEntryCount > 0 {
		t.Fatalf("PutEvents on %s: %v %+v", bus, err, out)
	}
	var matched []string
	for _, d := range r.drain(t) {
		matched = append(matched, d.rule)
	}
	return matched
}

// routed is one event a rule delivered: the rule's logical id and the event as its
// target received it.
type routed struct {
	rule  string
	event []byte
}

// drain takes every event the rules delivered since the last drain off their queues, by
// rule. moto delivers to a rule's targets within PutEvents.
func (r *router) drain(t *testing.T) []routed {
	t.Helper()
	ctx := context.Background()
	var out []routed
	for id, url := range r.queues {
		for {
			msgs, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs.Messages {
				out = append(out, routed{rule: id, event: []byte(aws.ToString(m.Body))})
				if _, err := r.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
			// moto returns every message it holds, up to the maximum asked for.
			if len(msgs.Messages) < 10 {
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rule < out[j].rule })
	return out
}

// TestEveryFixtureReachesItsRule: each fixture is delivered by exactly the rule sources.go
// names for it, once, with every optional source on; with them off, only the alert
// bus's own sources arrive. A fixture whose shape no rule delivers fails the build: a
// relay copying it would get silence.
func TestEveryFixtureReachesItsRule(t *testing.T) {
	fixtures := envelopedFixtures(t)
	for _, set := range []struct {
		name string
		p    params
	}{{"all sources on", allOn}, {"defaults", defaults}} {
		t.Run(set.name, func(t *testing.T) {
			st := deploy(t, set.p)
			r := deployRules(t, launch(t), st)
			for _, f := range fixtures {
				want, known := expectedRule(f)
				if !known {
					t.Errorf("%s: no source in internal/sources delivers source %q, detail-type %q: fix the fixture, or add the source and its rule", f.name, f.source, f.detail)
					continue
				}
				if _, deployed := r.queues[want]; !deployed {
					want = "" // that source is off in this deployment
				}
				got := r.deliver(t, busOf(st, f.source), f.source, f.detail, f.body)
				if strings.Join(got, ",") != want {
					why := "delivered by " + want
					if want == "" {
						why = "delivered by no rule"
						if reason, refused := refusedByDesign[filepath.Base(f.name)]; refused {
							why += " (refused by design: " + reason + ")"
						}
					}
					t.Errorf("%s (source %q, detail-type %q): matched %v, want %s", f.name, f.source, f.detail, got, why)
				}
			}
		})
	}
}

// TestSourcesAgreeWithTheTemplate: every source names a rule the stack deploys, the main
// rule takes exactly the detail-types sources.go lists for it, every rule aimed at the
// function is some source's, and the README's source table names every detail-type.
func TestSourcesAgreeWithTheTemplate(t *testing.T) {
	st := deploy(t, allOn)
	fn := arnOf(t, st, "RevokeFunction")
	named := map[string]bool{"CustomMappingsRule": true}
	for _, s := range sources.All {
		named[s.Rule] = true
		rule, ok := st.Resources[s.Rule]
		if !ok || rule.Type != "AWS::Events::Rule" || !targets(rule, fn) {
			t.Errorf("source %s: %s is not a rule of the deployed stack aimed at the function", s.Name, s.Rule)
		}
	}
	for _, rule := range st.ofType("AWS::Events::Rule") {
		if targets(rule, fn) && !named[rule.ID] {
			t.Errorf("rule %s delivers to the function but no source in internal/sources names it", rule.ID)
		}
	}
	main := st.get(t, "RevokeFunctionRiskAlerts")
	got := strs(path(main.Properties, "EventPattern", "detail-type"))
	want := sources.DetailTypes("RevokeFunctionRiskAlerts")
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the alert bus rule takes %q; internal/sources lists %q", got, want)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sources.All {
		if s.DetailType != "" && !strings.Contains(string(readme), "`"+s.DetailType+"`") {
			t.Errorf("the README does not tell a relay the detail-type `%s` (%s)", s.DetailType, s.Name)
		}
	}
}
