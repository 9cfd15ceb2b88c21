package webhookaws_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/session-revoker/session-revoker/internal/webhook"
	"github.com/session-revoker/session-revoker/internal/webhookaws"
)

// A function URL base64-encodes a body whose content type it does not take for text; the
// signature covers the decoded bytes. Header names arrive lower-case, and are made so.
func TestRequestFromFunctionURL(t *testing.T) {
	body := []byte(`{"sid":"scheduler__admin","search_name":"ATO"}`)
	req, ok := webhookaws.Request(context.Background(), events.LambdaFunctionURLRequest{
		RawPath: "/splunk/t", Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
		Headers:        map[string]string{"X-Cs-Primary-Signature": "sig"},
		RequestContext: events.LambdaFunctionURLRequestContext{RequestID: "r1", HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", SourceIP: "203.0.113.9"}},
	})
	if !ok || string(req.Body) != string(body) || req.Headers["x-cs-primary-signature"] != "sig" || req.Path != "/splunk/t" || req.Method != "POST" || req.RequestID != "r1" || req.SourceIP != "203.0.113.9" {
		t.Errorf("%+v", req)
	}
	if _, ok := webhookaws.Request(context.Background(), events.LambdaFunctionURLRequest{Body: "%%%", IsBase64Encoded: true}); ok {
		t.Error("bad base64 accepted")
	}
}

type putEvents struct {
	out *eventbridge.PutEventsOutput
	err error
}

func (p putEvents) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return p.out, p.err
}

// TestPutOutcomes: only an entry with an event id and no ErrorCode is accepted; each
// failure says whether a retry may help.
func TestPutOutcomes(t *testing.T) {
	entry := webhook.Entry{Source: "s", DetailType: "d", Detail: []byte("{}")}
	for _, c := range []struct {
		name      string
		api       putEvents
		code      string
		temporary bool
	}{
		{"accepted", putEvents{out: &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{EventId: aws.String("e1")}}}}, "", false},
		{"throttled entry", putEvents{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("Rate exceeded")}}}}, "ThrottlingException", true},
		{"internal failure", putEvents{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{{ErrorCode: aws.String("InternalFailure")}}}}, "InternalFailure", true},
		{"refused source", putEvents{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{{ErrorCode: aws.String("NotAuthorizedForSourceException")}}}}, "NotAuthorizedForSourceException", false},
		{"error code but count 0", putEvents{out: &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{ErrorCode: aws.String("MalformedDetail")}}}}, "MalformedDetail", false},
		{"no entries", putEvents{out: &eventbridge.PutEventsOutput{}}, "FailedEntry", true},
		{"no event id", putEvents{out: &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{}}}}, "NoEventId", false},
		{"access denied", putEvents{err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized", Fault: smithy.FaultClient}}, "AccessDeniedException", false},
		{"throttled call", putEvents{err: &smithy.GenericAPIError{Code: "ThrottlingException", Fault: smithy.FaultClient}}, "ThrottlingException", true},
		{"server fault", putEvents{err: &smithy.GenericAPIError{Code: "InternalException", Fault: smithy.FaultServer}}, "InternalException", true},
		{"timeout", putEvents{err: context.DeadlineExceeded}, "Timeout", true},
		{"network", putEvents{err: errors.New("dial tcp 10.0.0.1:443: i/o timeout")}, "Unreachable", true},
	} {
		id, err := webhookaws.NewEventBridge(c.api, "alerts").Put(context.Background(), entry)
		if c.code == "" {
			if err != nil || id != "e1" {
				t.Errorf("%s: %q %v", c.name, id, err)
			}
			continue
		}
		var pe *webhook.PutError
		if !errors.As(err, &pe) || pe.Code != c.code || pe.Temporary != c.temporary || id != "" {
			t.Errorf("%s: %q %v, want %s temporary=%v", c.name, id, err, c.code, c.temporary)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	_, err := webhookaws.ConfigFromEnv(func(string) string { return "" })
	if err == nil || !contains(err.Error(), "ALERT_BUS_NAME", "WEBHOOK_SECRET_ID") {
		t.Errorf("%v", err)
	}
	c, err := webhookaws.ConfigFromEnv(env{"ALERT_BUS_NAME": "alerts", "WEBHOOK_SECRET_ID": "session-revoker/webhook"}.get)
	if err != nil || c.AlertBus != "alerts" || c.SecretID != "session-revoker/webhook" {
		t.Errorf("%+v %v", c, err)
	}
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
