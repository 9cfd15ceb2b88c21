package webhookaws_test

// The endpoint against moto's EventBridge and Secrets Manager over the wire, with the real
// aws-sdk-go-v2 clients built as in Lambda (webhookaws.New from the default
// configuration): each product's request in through the function URL handler, out of a
// rule with the template's RiskAlerts pattern into an SQS queue.
//
// moto enforces no IAM here, and the rule's pattern is read from template.yaml as written.
// The authoritative check is internal/deploy's TestDeployedWebhookUnderIAM: the bootstrap
// under the Runtime Interface Emulator with WebhookRole's transformed policies enforced, out
// of the RiskAlerts rule as the SAM transform expands it. This test stays as the fast one,
// with fault cases (a missing bus, refused entries, a missing secret) the deployed stack
// does not have.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"gopkg.in/yaml.v3"

	"github.com/session-revoker/session-revoker/internal/sources"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
	"github.com/session-revoker/session-revoker/internal/webhook"
	"github.com/session-revoker/session-revoker/internal/webhook/webhooktest"
	"github.com/session-revoker/session-revoker/internal/webhookaws"
)

const (
	alertBus = "session-revoker-alerts"
	secretID = "session-revoker/webhook"
)

type stack struct {
	eb    *eventbridge.Client
	sqs   *sqs.Client
	queue string
	logs  *bytes.Buffer
}

// riskAlertsPattern is the event pattern of the rule that delivers detail-type alerts to
// the revoke function, read from template.yaml so that this test follows the template. It
// is the YAML's, not the transformed template's: the SAM transform and renderer live in
// internal/deploy's test files, which no other package can import, and that package's
// TestDeployedWebhookUnderIAM routes every source through the transformed rule.
func riskAlertsPattern(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Properties struct {
				Events map[string]struct {
					Properties struct {
						Pattern map[string]any `yaml:"Pattern"`
					} `yaml:"Properties"`
				} `yaml:"Events"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	p := tpl.Resources["RevokeFunction"].Properties.Events["RiskAlerts"].Properties.Pattern
	if len(p) == 0 {
		t.Fatal("template.yaml has no RevokeFunction RiskAlerts pattern: the rule moved; point this test at it")
	}
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func startStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	srv, err := moto.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	for k, v := range srv.Env() {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), logs: &bytes.Buffer{}}
	if _, err := s.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(alertBus)}); err != nil {
		t.Fatal(err)
	}
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("delivered")})
	if err != nil {
		t.Fatal(err)
	}
	s.queue = *q.QueueUrl
	attrs, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("RiskAlerts"), EventBusName: aws.String(alertBus), EventPattern: aws.String(riskAlertsPattern(t))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("RiskAlerts"), EventBusName: aws.String(alertBus), Targets: []ebtypes.Target{{Id: aws.String("revoke"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
		t.Fatal(err)
	}
	if err := moto.PutSecret(ctx, secretID, webhooktest.Secret()); err != nil {
		t.Fatal(err)
	}
	return s
}

// endpoint is the function's handler, wired from a configuration as main does.
func (s *stack) endpoint(t *testing.T, c webhookaws.Config) func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	t.Helper()
	ep, err := webhookaws.New(context.Background(), c, slog.New(slog.NewJSONHandler(s.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return webhookaws.FunctionURLHandler(ep)
}

func invocation() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "6d5c4b3a-2910-4f8e-9d7c-6b5a49382716"})
}

// delivered waits for the events the rule sent to the queue (moto delivers synchronously
// within PutEvents; the wait only covers the receive).
func (s *stack) delivered(t *testing.T) []map[string]json.RawMessage {
	t.Helper()
	out, err := s.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var events []map[string]json.RawMessage
	for _, m := range out.Messages {
		var e map[string]json.RawMessage
		if err := json.Unmarshal([]byte(*m.Body), &e); err != nil {
			t.Fatalf("queue message is not an event: %v", err)
		}
		events = append(events, e)
		if _, err := s.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && jsonString(x) == jsonString(y)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestEverySourceReachesTheRule: each product's request is answered 200 with the event
// id EventBridge gave, and the rule that delivers alerts to the revoke function delivers
// exactly that event: the webhook source, the source's detail-type, the body as detail.
func TestEverySourceReachesTheRule(t *testing.T) {
	s := startStack(t)
	handle := s.endpoint(t, webhookaws.Config{AlertBus: alertBus, SecretID: secretID})
	for _, r := range webhook.Routes() {
		t.Run(r.Source.Name, func(t *testing.T) {
			body, err := webhooktest.Body(r.Source)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := handle(invocation(), webhooktest.FunctionURLEvent(webhooktest.Request(r, body, time.Now().Add(-time.Second))))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d %s, %v; log %s", resp.StatusCode, resp.Body, err, s.logs)
			}
			var answer struct{ EventID string }
			if json.Unmarshal([]byte(resp.Body), &answer) != nil || answer.EventID == "" || resp.Headers["x-request-id"] != "6d5c4b3a-2910-4f8e-9d7c-6b5a49382716" {
				t.Fatalf("answer %s, headers %v", resp.Body, resp.Headers)
			}
			got := s.delivered(t)
			if len(got) != 1 {
				t.Fatalf("the rule delivered %d events, want 1 (its pattern lacks %q?)", len(got), r.Source.DetailType)
			}
			e := got[0]
			if string(e["detail-type"]) != jsonString(r.Source.DetailType) || string(e["source"]) != jsonString(sources.WebhookSource) || string(e["id"]) != jsonString(answer.EventID) {
				t.Errorf("delivered %s / %s / %s", e["detail-type"], e["source"], e["id"])
			}
			if !sameJSON(e["detail"], body) {
				t.Errorf("the detail is not the body sent")
			}
		})
	}
}

// TestEventBridgeFailuresAre5xx: a bus that does not exist, and entries EventBridge
// refuses inside a successful call, are never a 2xx.
func TestEventBridgeFailuresAre5xx(t *testing.T) {
	s := startStack(t)
	r := webhook.Routes()[0]
	body, err := webhooktest.Body(r.Source)
	if err != nil {
		t.Fatal(err)
	}
	handle := s.endpoint(t, webhookaws.Config{AlertBus: "no-such-bus", SecretID: secretID})
	resp, _ := handle(invocation(), webhooktest.FunctionURLEvent(webhooktest.Request(r, body, time.Now())))
	if resp.StatusCode != 500 || !strings.Contains(s.logs.String(), "ResourceNotFoundException") {
		t.Errorf("missing bus: %d %s; log %s", resp.StatusCode, resp.Body, s.logs)
	}
	if len(s.delivered(t)) != 0 {
		t.Error("delivered")
	}

	// PutEvents answers 200 with FailedEntryCount 1 for these: the bus must see the
	// entry's ErrorCode, not only the call's error.
	bus := webhookaws.NewEventBridge(s.eb, alertBus)
	for _, c := range []struct {
		entry webhook.Entry
		code  string
	}{
		{webhook.Entry{Source: sources.WebhookSource, DetailType: r.Source.DetailType, Detail: []byte("{not json")}, "MalformedDetail"},
		{webhook.Entry{Source: "", DetailType: r.Source.DetailType, Detail: []byte("{}")}, "InvalidArgument"},
	} {
		id, err := bus.Put(context.Background(), c.entry)
		var pe *webhook.PutError
		if !errors.As(err, &pe) || pe.Code != c.code || pe.Temporary || id != "" {
			t.Errorf("%s: id %q, err %v", c.code, id, err)
		}
	}
}

// TestSecretsManagerFailure: without its secret the endpoint answers 503, naming the
// secret in its log and nothing of any value.
func TestSecretsManagerFailure(t *testing.T) {
	s := startStack(t)
	r := webhook.Routes()[0]
	body, _ := webhooktest.Body(r.Source)
	handle := s.endpoint(t, webhookaws.Config{AlertBus: alertBus, SecretID: "session-revoker/missing"})
	resp, _ := handle(invocation(), webhooktest.FunctionURLEvent(webhooktest.Request(r, body, time.Now())))
	if resp.StatusCode != 503 || !strings.Contains(s.logs.String(), "secret session-revoker/missing does not exist") {
		t.Errorf("%d %s; log %s", resp.StatusCode, resp.Body, s.logs)
	}

	// A secret that is not the JSON object expected: 503, the log says what shape is
	// wanted and nothing of what is there.
	if err := moto.PutSecret(context.Background(), "session-revoker/bad", "splunk="+webhooktest.SplunkToken); err != nil {
		t.Fatal(err)
	}
	s.logs.Reset()
	handle = s.endpoint(t, webhookaws.Config{AlertBus: alertBus, SecretID: "session-revoker/bad"})
	resp, _ = handle(invocation(), webhooktest.FunctionURLEvent(webhooktest.Request(r, body, time.Now())))
	if resp.StatusCode != 503 || !strings.Contains(s.logs.String(), "is not a JSON object") || strings.Contains(s.logs.String(), webhooktest.SplunkToken[:12]) {
		t.Errorf("%d %s; log %s", resp.StatusCode, resp.Body, s.logs)
	}
}
