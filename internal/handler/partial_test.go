package handler

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

// A page of alerts with one item no format reads: the readable alerts run, and the
// invocation still fails, naming the item, so Lambda retries it and the failure queue
// keeps it. In a batch, only that record is reported for retry.
func TestOneUnreadableItemDoesNotSinkTheList(t *testing.T) {
	payload, err := os.ReadFile(filepath.Join("..", "..", "events", "graph-security-alerts-list-one-unreadable.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := &okGraph{}
	h := &Handler{Connect: func(context.Context) (revoke.Graph, error) { return g, nil }}
	raw, err := h.Handle(context.Background(), json.RawMessage(payload))
	var items *alert.ItemErrors
	if !errors.Is(err, ErrUnhandled) || !errors.As(err, &items) || !strings.Contains(err.Error(), `"value"[1]`) {
		t.Fatalf("err = %v, want the invocation failed naming value[1]", err)
	}
	res, _ := raw.(*outcome.Result)
	if res == nil || len(res.Alerts) != 2 || res.Summary[outcome.Revoked] != 1 || len(g.calls) != 1 || g.calls[0] != "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37" {
		t.Fatalf("result %+v, Graph calls %v: want Megan revoked from the readable alerts", res, g.calls)
	}

	body, _ := json.Marshal(string(payload))
	batch := `{"Records":[{"messageId":"m-1","body":` + string(body) + `,"eventSource":"aws:sqs"},` +
		`{"messageId":"m-2","body":"{\"userId\":\"AdeleV@contoso.onmicrosoft.com\"}","eventSource":"aws:sqs"}]}`
	raw, err = h.Handle(context.Background(), json.RawMessage(batch))
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.(BatchResponse).BatchItemFailures; len(got) != 1 || got[0].ItemIdentifier != "m-1" {
		t.Errorf("batch item failures %+v, want m-1 only", got)
	}
}

// A product whose event carries the person who reported it in a top-level "userId": the
// operator's rule for its source names the victim, and only the victim is revoked.
func TestCustomRuleForTheSourceRevokesTheVictimNotTheReporter(t *testing.T) {
	if _, err := alert.LoadMappings(`[{"name":"helpdesk","match":{"source":"com.contoso.helpdesk"},"users":"affected.upn","id":"ticket"}]`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alert.LoadMappings("") })
	g := &okGraph{}
	h := &Handler{Connect: func(context.Context) (revoke.Graph, error) { return g, nil }}
	event := `{"version":"0","id":"e-1","source":"com.contoso.helpdesk","detail-type":"Ticket Escalated","detail":` +
		`{"ticket":"HD-77","userId":"helpdesk.agent@contoso.onmicrosoft.com","affected":{"upn":"AdeleV@contoso.onmicrosoft.com"}}}`
	raw, err := h.Handle(context.Background(), json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	if res := raw.(*outcome.Result); len(g.calls) != 1 || g.calls[0] != idFor("AdeleV@contoso.onmicrosoft.com") || res.Alerts[0].Format != "custom:helpdesk" {
		t.Errorf("Graph calls %v, alerts %+v: want the victim only", g.calls, res.Alerts)
	}
}
