package handler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

type recordingPublisher struct {
	mu   sync.Mutex
	got  []*outcome.Result
	fail int // fail this many puts first
}

func (p *recordingPublisher) Publish(_ context.Context, res *outcome.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("EventBridge unavailable")
	}
	p.got = append(p.got, res)
	return nil
}

const eventAlert = `{"version": "0", "id": "evt-1", "detail-type": "Session Revocation Requested", "source": "contoso.soar", "detail": {"userId": "bob@contoso.com"}}`

// TestEveryDeliveryIsPublished: one result per delivery, whatever its shape: a single
// event, each record of a batch, a redelivery's replay.
func TestEveryDeliveryIsPublished(t *testing.T) {
	g := &okGraph{}
	pub := &recordingPublisher{}
	h := &Handler{Ledger: &memLedger{done: map[string][]byte{}}, Results: pub, Connect: func(context.Context) (revoke.Graph, error) { return g, nil }}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	if _, err := h.Handle(ctx, json.RawMessage(eventAlert)); err != nil {
		t.Fatal(err)
	}
	batch := `{"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": "{\"userId\": \"carol@contoso.com\"}"}, {"messageId": "m-2", "eventSource": "aws:sqs", "body": "{\"userId\": \"dave@contoso.com\"}"}]}`
	if _, err := h.Handle(ctx, json.RawMessage(batch)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(ctx, json.RawMessage(eventAlert)); err != nil {
		t.Fatal(err)
	}
	if len(pub.got) != 4 {
		t.Fatalf("%d results published for 4 deliveries", len(pub.got))
	}
	if !pub.got[3].Replayed || pub.got[3].Targets[0].UserPrincipalName != "bob@contoso.com" {
		t.Errorf("the redelivery published %+v", pub.got[3])
	}
}

// TestAFailedPublishIsRetriedFromTheLedger: the revokes are done when the put fails; the
// delivery fails so that Lambda retries it, and the retry publishes the stored result
// without calling Graph again.
func TestAFailedPublishIsRetriedFromTheLedger(t *testing.T) {
	g := &okGraph{}
	pub := &recordingPublisher{fail: 1}
	h := &Handler{Ledger: &memLedger{done: map[string][]byte{}}, Results: pub, Connect: func(context.Context) (revoke.Graph, error) { return g, nil }}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	raw, err := h.Handle(ctx, json.RawMessage(eventAlert))
	if !errors.Is(err, ErrNotPublished) || !strings.Contains(err.Error(), "EventBridge unavailable") {
		t.Fatalf("a failed put: %v", err)
	}
	if res := raw.(*outcome.Result); res.Targets[0].Status != outcome.Revoked {
		t.Fatalf("the revoke: %+v", res.Targets)
	}
	if _, err := h.Handle(ctx, json.RawMessage(eventAlert)); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if len(pub.got) != 1 || !pub.got[0].Replayed || pub.got[0].Targets[0].Status != outcome.Revoked {
		t.Errorf("published %+v", pub.got)
	}
	if len(g.calls) != 1 {
		t.Errorf("Graph called %v: the retry ran again", g.calls)
	}

	// In a batch, only the record whose result was not published is retried.
	pub.fail = 1
	batch := `{"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": "{\"userId\": \"carol@contoso.com\"}"}, {"messageId": "m-2", "eventSource": "aws:sqs", "body": "{\"userId\": \"dave@contoso.com\"}"}]}`
	raw, err = h.Handle(ctx, json.RawMessage(batch))
	if err != nil {
		t.Fatal(err)
	}
	if failed := raw.(BatchResponse).BatchItemFailures; len(failed) != 1 || failed[0].ItemIdentifier != "m-1" {
		t.Errorf("batch failures %+v", failed)
	}
}
