package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/sweep"
	"github.com/session-revoker/session-revoker/internal/sweep/sweeptest"
)

// onePage lists n members on a single page.
type onePage struct{ n int }

func (p onePage) ListUsers(context.Context, string) (sweep.Page, error) {
	users := make([]alert.Principal, p.n)
	for i := range users {
		upn := fmt.Sprintf("u%03d@contoso.onmicrosoft.com", i)
		users[i] = alert.Principal{UserID: idFor(upn), UserPrincipalName: upn, UserType: "Member"}
	}
	return sweep.Page{Users: users}, nil
}

const (
	groupSweep = `{"sweep":{"name":"offboarding","group":"c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"}}`
	queueARN   = "arn:aws:sqs:us-east-1:123456789012:session-revoker-SweepQueue"
)

// published collects result events.
type published struct {
	mu  sync.Mutex
	res []*outcome.Result
}

func (p *published) Publish(_ context.Context, r *outcome.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res = append(p.res, r)
	return nil
}

func sweepHandler(g *okGraph, n, most int) (*Handler, *sweeptest.Queue, *published) {
	q, pub := &sweeptest.Queue{}, &published{}
	return &Handler{
		Connect: func(context.Context) (revoke.Graph, error) { return g, nil },
		Results: pub,
		Sweeps: Sweeps{QueueARN: queueARN, Engine: sweep.Engine{
			Progress:   sweeptest.NewProgress(),
			Queue:      q,
			Lister:     func(context.Context) (sweep.Lister, error) { return onePage{n}, nil },
			MaxTargets: most,
		}},
	}, q, pub
}

// deliver hands the queue's messages to the handler as the SQS event source does, one
// record per invocation, each failure back on the queue.
func deliver(t *testing.T, h *Handler, q *sweeptest.Queue) {
	t.Helper()
	q.Drain(func(w sweep.Work, receives int) error { return record(t, h, w, receives) }, 5)
}

// record delivers one work message as an SQS record of the sweep queue.
func record(t *testing.T, h *Handler, w sweep.Work, receives int) error {
	t.Helper()
	body, _ := sweep.Encode(w)
	b, _ := json.Marshal(string(body))
	event := fmt.Sprintf(`{"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "eventSourceARN": %q, "attributes": {"ApproximateReceiveCount": "%d"}, "body": %s}]}`, queueARN, receives, b)
	raw, err := h.Handle(context.Background(), json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	if f := raw.(BatchResponse).BatchItemFailures; len(f) > 0 {
		return errors.New("failed: " + f[0].ItemIdentifier)
	}
	return nil
}

func TestSweepStartWorkAndSummary(t *testing.T) {
	g := &okGraph{}
	h, q, pub := sweepHandler(g, 250, 0)
	raw, err := h.Handle(context.Background(), json.RawMessage(groupSweep))
	if err != nil {
		t.Fatal(err)
	}
	res := raw.(*outcome.Result)
	if res.Sweep == nil || res.Sweep.Status != "started" || res.Sweep.Run == "" || q.Len() != 1 {
		t.Fatalf("start: %+v %+v, %d queued", res, res.Sweep, q.Len())
	}
	deliver(t, h, q)
	if len(g.calls) != 250 {
		t.Errorf("%d revokes, want 250", len(g.calls))
	}
	// The start's result, then the summary: one event per run, not one per chunk.
	if len(pub.res) != 2 || pub.res[1].Sweep.Status != "complete" || pub.res[1].Summary[outcome.Revoked] != 250 {
		t.Fatalf("published %d: %+v", len(pub.res), pub.res)
	}
	// The status request reads the run.
	raw, err = h.Handle(context.Background(), json.RawMessage(`{"sweepStatus": "offboarding"}`))
	if err != nil {
		t.Fatal(err)
	}
	if st := raw.(*outcome.Result); st.Sweep.Status != "complete" || st.Sweep.Chunks != 3 || st.Sweep.Done != 3 || st.Summary[outcome.Revoked] != 250 {
		t.Errorf("status %+v %v", st.Sweep, st.Summary)
	}
}

func TestSweepOverTheLimitStartsNothing(t *testing.T) {
	g := &okGraph{}
	h, q, _ := sweepHandler(g, 5, 4)
	raw, err := h.Handle(context.Background(), json.RawMessage(groupSweep))
	if !errors.Is(err, ErrUnhandled) || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=4") || len(g.calls) != 0 || q.Sent() != 0 {
		t.Fatalf("err %v, calls %v, queued %d", err, g.calls, q.Sent())
	}
	if res := raw.(*outcome.Result); res.Summary[outcome.NeedsApproval] != 5 || res.Sweep.Status != "needs-approval" {
		t.Errorf("summary %v, sweep %+v", res.Summary, res.Sweep)
	}
}

func TestSweepNotConfigured(t *testing.T) {
	_, err := (&Handler{}).Handle(context.Background(), json.RawMessage(groupSweep))
	if err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("err = %v", err)
	}
	_, err = (&Handler{}).Handle(context.Background(), json.RawMessage(`{"sweep":{"name":"x"}}`))
	if err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Fatalf("err = %v", err)
	}
}

// TestSweepStop: an operator's stop, with its reason, skips every user still queued.
func TestSweepStop(t *testing.T) {
	g := &okGraph{}
	h, q, pub := sweepHandler(g, 50, 0)
	if _, err := h.Handle(context.Background(), json.RawMessage(groupSweep)); err != nil {
		t.Fatal(err)
	}
	// The first plan step lists the group and queues its chunk; then the operator stops.
	if w, _ := q.Pop(); record(t, h, w, 1) != nil || q.Len() != 1 {
		t.Fatalf("the plan step: %d queued", q.Len())
	}
	for name, req := range map[string]string{
		"no reason":   `{"sweepStop": {"name": "offboarding"}}`,
		"misspelt":    `{"sweepStop": {"name": "offboarding", "Reason": "x"}}`,
		"beside else": `{"sweepStop": {"name": "offboarding", "reason": "x"}, "users": []}`,
	} {
		if _, err := h.Handle(context.Background(), json.RawMessage(req)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := h.Handle(context.Background(), json.RawMessage(`{"sweepStop": {"name": "offboarding", "reason": "wrong group id"}}`)); err != nil {
		t.Fatal(err)
	}
	deliver(t, h, q)
	last := pub.res[len(pub.res)-1]
	if len(g.calls) != 0 || last.Sweep.Status != "stopped" || last.Summary[outcome.Skipped] != 50 {
		t.Fatalf("calls %d, last result %+v %v", len(g.calls), last.Sweep, last.Summary)
	}
}

// Every line names the alert id once: a JSON line with a key twice is read differently by
// different log tools.
func TestSweepLogLinesNameTheAlertOnce(t *testing.T) {
	var buf strings.Builder
	h, q, _ := sweepHandler(&okGraph{}, 2, 10)
	h.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "r-1"})
	if _, err := h.Handle(ctx, json.RawMessage(groupSweep)); err != nil {
		t.Fatal(err)
	}
	deliver(t, h, q)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	targets := 0
	for _, l := range lines {
		if n := strings.Count(l, `"alertId":`); n > 1 {
			t.Errorf("%d alert ids in %s", n, l)
		}
		if strings.Contains(l, `"msg":"target"`) {
			targets++
		}
	}
	if targets != 2 {
		t.Errorf("%d target lines, want 2", targets)
	}
}
