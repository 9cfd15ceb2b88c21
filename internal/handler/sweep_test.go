package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// onePage lists n members on a single page.
type onePage struct{ n int }

func (p onePage) ListUsers(context.Context, string) (sweep.Page, error) {
	users := make([]alert.Principal, p.n)
	for i := range users {
		users[i] = alert.Principal{UserPrincipalName: fmt.Sprintf("u%03d@contoso.onmicrosoft.com", i), UserType: "Member"}
	}
	return sweep.Page{Users: users}, nil
}

const groupSweep = `{"sweep":{"name":"offboarding","group":"c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"}}`

func sweepHandler(g *okGraph, n, most int) *Handler {
	return &Handler{
		Connect: func(context.Context) (revoke.Graph, error) { return g, nil },
		Sweeps: Sweeps{
			Connect:    func(context.Context) (sweep.Lister, error) { return onePage{n}, nil },
			MaxTargets: most,
		},
	}
}

func TestSweepResult(t *testing.T) {
	g := &okGraph{}
	raw, err := sweepHandler(g, 3, 10).Handle(context.Background(), json.RawMessage(groupSweep))
	if err != nil {
		t.Fatal(err)
	}
	res := raw.(*outcome.Result)
	if res.Sweep == nil || !res.Sweep.Complete || res.Sweep.Listed != 3 || res.Summary[outcome.Revoked] != 3 || len(g.calls) != 3 {
		t.Fatalf("result %+v, sweep %+v, calls %v", res, res.Sweep, g.calls)
	}
	if res.Alerts[0].Format != sweep.Format || res.Alerts[0].ID != "offboarding" || res.Targets[0].AlertID != "offboarding/page-1" {
		t.Errorf("alerts %+v, first target %+v", res.Alerts, res.Targets[0])
	}
}

// A tenant-scale result lists at most maxResultTargets; every target is still audited.
func TestSweepResultIsBounded(t *testing.T) {
	g := &okGraph{}
	raw, err := sweepHandler(g, maxResultTargets+50, 0).Handle(context.Background(), json.RawMessage(groupSweep))
	if err != nil {
		t.Fatal(err)
	}
	res := raw.(*outcome.Result)
	if len(res.Targets) != maxResultTargets || res.Sweep.TargetsOmitted != 50 || res.Summary[outcome.Revoked] != maxResultTargets+50 {
		t.Fatalf("targets %d, omitted %d, summary %v", len(res.Targets), res.Sweep.TargetsOmitted, res.Summary)
	}
}

func TestSweepOverTheLimitFails(t *testing.T) {
	g := &okGraph{}
	raw, err := sweepHandler(g, 5, 4).Handle(context.Background(), json.RawMessage(groupSweep))
	if !errors.Is(err, ErrUnhandled) || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=4") || len(g.calls) != 0 {
		t.Fatalf("err %v, calls %v", err, g.calls)
	}
	if res := raw.(*outcome.Result); res.Summary[outcome.NeedsApproval] != 5 {
		t.Errorf("summary %v", res.Summary)
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

// Every line names the alert id once: a JSON line with a key twice is read differently by
// different log tools.
func TestSweepLogLinesNameTheAlertOnce(t *testing.T) {
	var buf strings.Builder
	h := sweepHandler(&okGraph{}, 2, 10)
	h.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	if _, err := h.Handle(context.Background(), json.RawMessage(groupSweep)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 4 {
		t.Fatalf("only %d log lines", len(lines))
	}
	for _, l := range lines {
		if n := strings.Count(l, `"alertId":`); n != 1 {
			t.Errorf("%d alert ids in %s", n, l)
		}
	}
}
