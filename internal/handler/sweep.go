package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// Sweeps is what a scheduled sweep needs beyond the alert path.
type Sweeps struct {
	Connect func(ctx context.Context) (sweep.Lister, error)
	Cursors sweep.Cursors // nil without STATE_TABLE: a sweep must then finish in one run
	// MaxTargets (MAX_TARGETS_PER_SWEEP) bounds a sweep that is not approved.
	MaxTargets int
}

// maxResultTargets bounds the targets a sweep's result lists: a result goes to the
// result bus (EventBridge takes 256 KB) and the state table; every target is in the
// audit log whatever the result keeps.
const maxResultTargets = 200

// sweep runs a scheduled sweep: the same decisions and outcomes as an alert, one page
// at a time. It is not replayed from the ledger: its cursor is its idempotency. Each
// page's outcomes are audited and counted as soon as they are known; the result keeps a
// sample.
func (h *Handler) sweep(ctx context.Context, log *slog.Logger, rec delivery.Record) (*outcome.Result, error) {
	spec, err := sweep.Parse(rec.Top)
	if err != nil {
		log.Error("sweep refused", "error", err.Error())
		return nil, err
	}
	// Target lines carry their page's alert id (name/page-N) themselves; every other line
	// of the sweep carries its name as the alert id.
	tlog := log.With("sweep", spec.Name)
	log = tlog.With("alertId", spec.Name)
	if h.Sweeps.Connect == nil {
		err := errors.New("sweeps are not configured in this deployment")
		log.Error("sweep refused", "error", err.Error())
		return nil, err
	}
	counts := &tally{}
	opt := h.runOptions(tlog, nil)
	runner := &sweep.Runner{
		Connect:    h.Sweeps.Connect,
		Cursors:    h.Sweeps.Cursors,
		MaxTargets: h.Sweeps.MaxTargets,
		DryRun:     h.Policy.DryRun,
		Sample:     maxResultTargets,
		Decide:     func(as []alert.Alert) []policy.Decision { return policy.Decide(as, h.Policy) },
		Carry: func(ctx context.Context, ds []policy.Decision) []outcome.Outcome {
			for i := range ds {
				debugDecision(ctx, tlog, &ds[i])
			}
			return revoke.Run(ctx, ds, h.Connect, opt)
		},
		Observe: func(ts []outcome.Outcome) {
			for i := range ts {
				audit(tlog, &ts[i])
			}
			counts.add(ts)
		},
	}
	if spec.Approved {
		log.Warn("approval accepted", "sweep", spec.Name, "source", spec.Source(), "channel", rec.Channel.String(), "reason", spec.Reason)
	}
	log.Info("sweep started", "source", spec.Source(), "approved", spec.Approved, "dryRun", spec.DryRun || h.Policy.DryRun)
	rep, runErr := runner.Run(ctx, spec)
	res := &outcome.Result{
		Alerts:  []outcome.AlertRef{{Format: sweep.Format, ID: spec.Name, Title: spec.Source()}},
		DryRun:  h.Policy.DryRun || spec.DryRun,
		Summary: rep.Summary,
		Targets: rep.Targets,
		Notes:   h.notes(),
		Sweep: &outcome.Sweep{Name: spec.Name, Pages: rep.Pages, Listed: rep.Listed, Complete: rep.Complete,
			Continues: rep.Continues, Resumed: rep.Resumed, Busy: rep.Busy, TargetsOmitted: rep.Omitted},
	}
	if res.Summary == nil {
		res.Summary = map[outcome.Status]int{}
	}
	if res.Targets == nil {
		res.Targets = []outcome.Outcome{}
	}
	if rep.Busy {
		res.Notes = append(res.Notes, "another run of this sweep holds it: this run did nothing")
	}
	if rep.Restarted {
		res.Notes = append(res.Notes, "the saved place was not this sweep's listing and was dropped: the sweep started over")
		log.Warn("sweep progress dropped: its saved link is not this sweep's listing")
	}
	log.Info("sweep done", "pages", rep.Pages, "listed", rep.Listed, "complete", rep.Complete, "continues", rep.Continues, "busy", rep.Busy, "summary", res.Summary)
	emitMetrics(log, counts)
	var failed error
	if runErr != nil {
		failed = fmt.Errorf("%w: %w", ErrUnhandled, runErr)
		log.Error("sweep not fully handled", "error", failed.Error())
	}
	// A sweep is not replayed: a failed put fails the run, and the next run, resumed from
	// the saved place, publishes its own result.
	return res, h.publish(ctx, log, res, failed)
}
