package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

// Polls is what a scheduled poll of Graph's alerts needs beyond the alert path.
type Polls struct {
	Connect func(ctx context.Context) (poll.Lister, error)
	// Store is the state table; nil without STATE_TABLE, and a poll is then refused: it
	// could not tell a new alert from one it acted on a minute ago.
	Store poll.Store
	// Pacer spaces listing requests for the container's lifetime.
	Pacer *poll.Pacer
}

// maxResultAlerts bounds the polled alerts a result lists, as maxResultTargets bounds
// its targets; every alert has its line in the audit log.
const maxResultAlerts = 200

// poll runs a scheduled poll: every alert its rules match goes through the same
// decisions, outcomes and audit lines as a pushed alert, once. Its idempotency is its
// watermark and marks in the state table, not the delivery ledger.
func (h *Handler) poll(ctx context.Context, log *slog.Logger, rec delivery.Record, budget *revoke.DeliveryBudget) (*outcome.Result, error) {
	spec, err := poll.Parse(rec.Body)
	if err != nil {
		log.Error("poll refused", "error", err.Error())
		return nil, err
	}
	// Target lines carry their alert's id; every other line of the poll carries its name.
	tlog := log.With("poll", spec.Name)
	log = tlog.With("alertId", spec.Name)
	switch {
	case h.Polls.Connect == nil:
		err = errors.New("polls are not configured in this deployment")
	case h.Polls.Store == nil:
		err = errors.New("polls need STATE_TABLE: without the state table every run would act on the same alerts again")
	}
	if err != nil {
		log.Error("poll refused", "error", err.Error())
		return nil, err
	}
	dry := h.Policy.DryRun || spec.DryRun
	runner := &poll.Runner{
		Connect:   h.Polls.Connect,
		Store:     h.Polls.Store,
		Pacer:     h.Polls.Pacer,
		RequestID: requestID(ctx),
		DryRun:    dry,
		Decide:    func(as []alert.Alert) []policy.Decision { return policy.Decide(as, h.Policy) },
		Carry: func(ctx context.Context, ds []policy.Decision) []outcome.Outcome {
			// One poll is one delivery: what its alerts revoke counts against the budget
			// and the circuit breaker like any alert's.
			return revoke.Run(ctx, ds, h.Connect, h.runOptions(tlog, budget))
		},
	}
	log.Info("poll started", "sources", spec.Sources(), "dryRun", dry)
	rep, runErr := runner.Run(ctx, spec)
	for _, p := range rep.Passed {
		passed(tlog, p)
	}
	for _, a := range rep.Poll.Alerts {
		level := slog.LevelInfo
		if a.Status == outcome.PollRetry || a.Status == outcome.PollGivenUp {
			level = slog.LevelError
		}
		tlog.LogAttrs(ctx, level, "polled alert", slog.String("alertId", a.ID), slog.String("source", a.Source),
			slog.String("rule", a.Rule), slog.String("status", a.Status), slog.String("reason", a.Reason),
			slog.String("lastUpdate", a.LastUpdate), slog.Int("targets", a.Targets))
	}
	for _, t := range rep.Targets {
		audit(tlog, &t)
	}
	res := &outcome.Result{Alerts: []outcome.AlertRef{}, DryRun: dry, Summary: outcome.Summarise(rep.Targets), Notes: h.notes(), Poll: &rep.Poll}
	for i, a := range rep.Acted {
		if i == maxResultAlerts {
			break
		}
		res.Alerts = append(res.Alerts, outcome.AlertRef{Format: a.Format, ID: a.ID, Title: a.Title, Severity: a.Severity})
	}
	res.Targets, res.Poll.TargetsOmitted = keep(rep.Targets, maxResultTargets)
	res.Poll.Alerts, res.Poll.AlertsOmitted = keepAlerts(rep.Poll.Alerts, maxResultAlerts)
	for _, s := range rep.Poll.Sources {
		if s.Busy {
			res.Notes = append(res.Notes, "another run of this poll holds "+s.Source+": this run did not read it")
		}
		if s.Note != "" {
			// A first run is expected; any other window (a long gap, a clock that moved
			// back, a run out of time) is something to look at.
			level := slog.LevelWarn
			if strings.HasPrefix(s.Note, "first run") {
				level = slog.LevelInfo
			}
			log.Log(ctx, level, "poll window", "source", s.Source, "from", s.From, "note", s.Note)
		}
	}
	log.Info("poll done", "sources", rep.Poll.Sources, "notMatching", rep.Poll.NotMatching, "summary", res.Summary)
	emitMetrics(log, tallyOf(rep.Targets))
	if runErr != nil {
		runErr = fmt.Errorf("%w: %w", ErrUnhandled, runErr)
		log.Error("poll not fully handled", "error", runErr.Error())
	}
	// A poll that found nothing to act on publishes nothing: a schedule every few minutes
	// would otherwise put an empty result on the bus each time. One that acted on an
	// alert, or did not finish, publishes its result like any delivery.
	if len(res.Alerts) == 0 && len(rep.Targets) == 0 && runErr == nil {
		return res, nil
	}
	return res, h.publish(ctx, log, res, runErr)
}

// keep lists the targets an operator must look at first (not handled), then the rest,
// up to most; it returns how many were left out. Every target is in the audit log.
func keep(ts []outcome.Outcome, most int) ([]outcome.Outcome, int) {
	if len(ts) <= most {
		return ts, 0
	}
	kept := make([]outcome.Outcome, 0, most)
	for _, t := range ts {
		if t.Status.Unhandled() && len(kept) < most {
			kept = append(kept, t)
		}
	}
	for _, t := range ts {
		if !t.Status.Unhandled() && len(kept) < most {
			kept = append(kept, t)
		}
	}
	return kept, len(ts) - len(kept)
}

// passed says, at debug level, which alert no rule matched and on what it was judged:
// identifiers and Graph's enumerations only, never the alert's text.
func passed(log *slog.Logger, p poll.Passed) {
	attrs := []slog.Attr{slog.String("alertId", p.ID), slog.String("source", string(p.Source)), slog.String("lastUpdate", p.LastUpdate)}
	if p.Source == poll.RiskDetections {
		attrs = append(attrs, slog.String("riskEventType", p.RiskEventType), slog.String("riskLevel", p.RiskLevel),
			slog.String("riskState", p.RiskState), slog.String("detectionTimingType", p.DetectionTimingType))
	} else {
		attrs = append(attrs, slog.String("severity", p.Severity), slog.String("status", p.Status), slog.String("serviceSource", p.ServiceSource),
			slog.String("detectionSource", p.DetectionSource), slog.String("category", p.Category))
	}
	log.LogAttrs(context.Background(), slog.LevelDebug, "polled alert not acted on: no rule matches", attrs...)
}

// keepAlerts lists the alerts an operator must look at first (retried, given up), then
// the rest, up to most.
func keepAlerts(as []outcome.PolledAlert, most int) ([]outcome.PolledAlert, int) {
	if len(as) <= most {
		return as, 0
	}
	bad := func(a outcome.PolledAlert) bool {
		return a.Status == outcome.PollRetry || a.Status == outcome.PollGivenUp
	}
	kept := make([]outcome.PolledAlert, 0, most)
	for _, pass := range []bool{true, false} {
		for _, a := range as {
			if len(kept) < most && bad(a) == pass {
				kept = append(kept, a)
			}
		}
	}
	return kept, len(as) - len(kept)
}
