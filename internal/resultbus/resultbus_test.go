package resultbus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

func TestMain(m *testing.M) {
	srv, err := moto.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range srv.Env() {
		os.Setenv(k, v)
	}
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

func result() *outcome.Result {
	return &outcome.Result{
		Alerts:  []outcome.AlertRef{{Format: "graph-security-alert", ID: "da637", Title: "Impossible travel activity", Severity: "high"}},
		Targets: []outcome.Outcome{{UserID: "4d2c6f3a-0b1e-4c5d-8e9f-1a2b3c4d5e6f", UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", Status: outcome.Revoked, RequestID: "r-1", Format: "graph-security-alert", AlertID: "da637"}},
		Summary: map[outcome.Status]int{outcome.Revoked: 1},
	}
}

// TestPublishThroughEventBridge: the event reaches a rule matching the documented source
// and detail-type, with the result as its detail.
func TestPublishThroughEventBridge(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("soar-results")}); err != nil {
		t.Fatal(err)
	}
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("soar")})
	if err != nil {
		t.Fatal(err)
	}
	pattern := fmt.Sprintf(`{"source": [%q], "detail-type": [%q]}`, Source, DetailType)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("soar"), EventBusName: aws.String("soar-results"), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("soar"), EventBusName: aws.String("soar-results"), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:123456789012:soar")}}}); err != nil {
		t.Fatal(err)
	}

	if err := New(eb, "soar-results").Publish(ctx, result()); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("%d events reached the rule's queue", len(msgs.Messages))
	}
	var ev struct {
		Source     string         `json:"source"`
		DetailType string         `json:"detail-type"`
		Detail     outcome.Result `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != Source || ev.DetailType != DetailType || ev.Detail.Targets[0].Status != outcome.Revoked || ev.Detail.Summary[outcome.Revoked] != 1 {
		t.Errorf("event %+v", ev)
	}

	err = New(eb, "no-such-bus").Publish(ctx, result())
	if err == nil || !strings.Contains(err.Error(), "no-such-bus") {
		t.Errorf("a put on a missing bus: %v", err)
	}
}

// TestDetailFitsTheEntryLimit: a result too large for one event keeps its summary and every
// unhandled target first, and says how many targets it cut.
func TestDetailFitsTheEntryLimit(t *testing.T) {
	small := result()
	b, err := Detail(small, MaxDetailBytes)
	want, _ := json.Marshal(small)
	if err != nil || string(b) != string(want) {
		t.Fatalf("a small result changed: %s, %v", b, err)
	}

	big := result()
	big.Targets = nil
	for i := 0; i < 3000; i++ {
		st := outcome.Revoked
		if i%3 == 0 {
			st = outcome.NeedsApproval
		}
		big.Targets = append(big.Targets, outcome.Outcome{UserPrincipalName: fmt.Sprintf("user%04d@contoso.onmicrosoft.com", i), Status: st, Reason: strings.Repeat("r", 80), Format: "splunk-webhook", AlertID: "sid-1"})
	}
	big.Summary = outcome.Summarise(big.Targets)
	b, err = Detail(big, MaxDetailBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxDetailBytes {
		t.Fatalf("%d bytes", len(b))
	}
	var got struct {
		outcome.Result
		TargetsOmitted int `json:"targetsOmitted"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.TargetsOmitted == 0 || len(got.Targets)+got.TargetsOmitted != 3000 {
		t.Errorf("kept %d, omitted %d of 3000", len(got.Targets), got.TargetsOmitted)
	}
	if got.Summary[outcome.NeedsApproval] != 1000 || got.Summary[outcome.Revoked] != 2000 {
		t.Errorf("summary %v: it must count every target", got.Summary)
	}
	for i, tg := range got.Targets {
		if wantUnhandled := i < 1000; tg.Status.Unhandled() != wantUnhandled {
			t.Fatalf("target %d is %s: the unhandled ones come first", i, tg.Status)
		}
	}
	// The most that fits: one more target would not.
	if b2, _ := json.Marshal(struct {
		outcome.Result
		TargetsOmitted int `json:"targetsOmitted"`
	}{outcome.Result{Alerts: got.Alerts, Targets: append(got.Targets, got.Targets[0]), Summary: got.Summary}, got.TargetsOmitted - 1}); len(b2) <= MaxDetailBytes {
		t.Errorf("one more target (%d bytes) would have fitted", len(b2))
	}
}
