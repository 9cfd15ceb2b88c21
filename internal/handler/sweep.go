package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// Sweeps is what sweeps need beyond the alert path: the engine (package sweep) over the
// state table, its work queue, Graph's listings and S3, and the queue whose records are
// the engine's work rather than alerts.
//
// An operator (or EventBridge Scheduler) asks, on a direct invocation only:
//
//	{"sweep": {...}}                                 start a run (see sweep.Spec)
//	{"sweepStatus": "<name>"}                        how far it got
//	{"sweepStop": {"name": "<name>", "reason": "..."}}  stop it
type Sweeps struct {
	// Engine holds the I/O edges (Progress, Queue, Lister, Objects, Fail,
	// IdentityProtection) and MaxTargets; the handler adds the alert path's two steps, the
	// audit and the result bus per invocation. Progress nil: sweeps are not configured.
	Engine sweep.Engine
	// QueueARN is the sweep work queue: an SQS record from it is a plan step or a chunk.
	QueueARN string
}

// maxResultTargets bounds the targets a result lists: a result goes to the result bus
// (EventBridge takes 256 KB) and the state table; every target is in the audit log
// whatever the result keeps.
const maxResultTargets = 200

func isSweepControl(top delivery.Object) bool { return top.Has("sweepStatus") || top.Has("sweepStop") }

// engine is the configured engine with this invocation's logger: the same decisions and
// outcomes as an alert, each outcome audited and counted as soon as it is known.
func (h *Handler) engine(log *slog.Logger, counts *tally) *sweep.Engine {
	e := h.Sweeps.Engine
	opt := h.runOptions(log, nil)
	opt.Sweep = true // low priority, and writes take what alerts leave
	e.DryRun = h.Policy.DryRun
	e.Decide = func(as []alert.Alert) []policy.Decision {
		ds := policy.Decide(as, h.Policy)
		for i := range ds {
			debugDecision(context.Background(), log, &ds[i])
		}
		return ds
	}
	e.Carry = func(ctx context.Context, ds []policy.Decision) []outcome.Outcome {
		return revoke.Run(ctx, ds, h.Connect, opt)
	}
	e.Observe = func(ts []outcome.Outcome) {
		for i := range ts {
			audit(log, &ts[i])
		}
		counts.add(ts)
	}
	e.Publish = func(ctx context.Context, s sweep.Summary) error {
		log.Info("sweep finished", "listed", s.Listed, "stopped", s.Stopped, "totals", s.Totals)
		if h.Results == nil {
			return nil
		}
		return h.Results.Publish(ctx, summaryResult(s))
	}
	return &e
}

// summaryResult is a finished run as one result event.
func summaryResult(s sweep.Summary) *outcome.Result {
	status := "complete"
	if s.Stopped {
		status = "stopped"
	}
	return &outcome.Result{
		Alerts:  []outcome.AlertRef{{Format: sweep.Format, ID: s.Name + "/" + s.Run, Title: s.Source}},
		DryRun:  s.DryRun,
		Targets: []outcome.Outcome{},
		Summary: s.Totals,
		Sweep: &outcome.Sweep{Name: s.Name, Run: s.Run, Source: s.Source, Status: status, Listed: s.Listed, Chunks: s.Chunks, Done: s.Chunks,
			StartedAt: s.StartedAt.UTC().Format(time.RFC3339), EndedAt: s.EndedAt.UTC().Format(time.RFC3339)},
	}
}

// startSweep starts a run: {"sweep": {...}} on a direct invocation.
func (h *Handler) startSweep(ctx context.Context, log *slog.Logger, rec delivery.Record) (*outcome.Result, error) {
	spec, err := sweep.Parse(rec.Top)
	if err == nil && h.Sweeps.Engine.Progress == nil {
		err = errors.New("sweeps are not configured in this deployment (they need STATE_TABLE and SWEEP_QUEUE_URL)")
	}
	if err != nil {
		log.Error("sweep refused", "error", err.Error())
		return nil, err
	}
	log = log.With("sweep", spec.Name)
	if spec.Approved {
		log.Warn("approval accepted", "source", spec.Source(), "channel", rec.Channel.String(), "reason", spec.Reason)
	}
	counts := &tally{}
	started, runErr := h.engine(log, counts).Start(ctx, spec)
	res := &outcome.Result{
		Alerts:  []outcome.AlertRef{{Format: sweep.Format, ID: spec.Name, Title: spec.Source()}},
		DryRun:  h.Policy.DryRun || spec.DryRun,
		Notes:   h.notes(),
		Targets: []outcome.Outcome{},
		Summary: map[outcome.Status]int{},
		Sweep:   progress(started.Run, spec),
	}
	switch {
	case runErr != nil && len(started.Targets) > 0:
		// Over the blast radius: nothing started; the users it listed are reported.
		for i := range started.Targets {
			audit(log, &started.Targets[i])
		}
		counts.add(started.Targets)
		res.Summary = outcome.Summarise(started.Targets)
		res.Targets, res.Sweep.TargetsOmitted = keep(started.Targets, maxResultTargets)
		res.Sweep.Status = "needs-approval"
	case runErr != nil:
		log.Error("sweep not started", "error", runErr.Error())
		return nil, runErr
	case started.Started:
		res.Sweep.Status = "started"
		log.Info("sweep started", "run", started.Run.ID, "source", spec.Source(), "approved", spec.Approved, "dryRun", started.Run.DryRun)
	default:
		res.Notes = append(res.Notes, "a run of this sweep is going already: this request started nothing")
		log.Info("sweep already running", "run", started.Run.ID)
	}
	emitMetrics(log, counts)
	var failed error
	if runErr != nil {
		failed = fmt.Errorf("%w: %w", ErrUnhandled, runErr)
		log.Error("sweep not started", "error", failed.Error())
	}
	return res, h.publish(ctx, log, res, failed)
}

// progress is a run as a result shows it.
func progress(r sweep.Run, s sweep.Spec) *outcome.Sweep {
	p := &outcome.Sweep{Name: s.Name, Run: r.ID, Source: s.Source(), Listed: r.Listed, Chunks: r.Planned, Done: r.Done, Listing: r.ID != "" && !r.ListingDone}
	switch {
	case r.ID == "":
	case r.Stopped && r.Complete():
		p.Status = "stopped"
	case r.Complete():
		p.Status = "complete"
	default:
		p.Status = "running"
	}
	if !r.StartedAt.IsZero() {
		p.StartedAt = r.StartedAt.UTC().Format(time.RFC3339)
	}
	return p
}

// sweepControl answers a status request or stops a run.
func (h *Handler) sweepControl(ctx context.Context, log *slog.Logger, rec delivery.Record) (*outcome.Result, error) {
	var name, reason string
	var err error
	stop := rec.Top.Has("sweepStop")
	if stop {
		if err = delivery.Strict(rec.Body, "sweep stop request", "sweepStop"); err == nil {
			raw := rec.Top.Get("sweepStop")
			if err = delivery.Strict(raw, `sweep stop request: "sweepStop"`, "name", "reason"); err == nil {
				o := delivery.TopLevel(raw)
				name, reason = o.String("name"), o.String("reason")
			}
		}
	} else if err = delivery.Strict(rec.Body, "sweep status request", "sweepStatus"); err == nil {
		name = rec.Top.String("sweepStatus")
	}
	switch {
	case err != nil:
	case name == "":
		err = errors.New(`name the sweep: {"sweepStatus": "<name>"} or {"sweepStop": {"name": "<name>", "reason": "..."}}`)
	case h.Sweeps.Engine.Progress == nil:
		err = errors.New("sweeps are not configured in this deployment")
	case stop && reason == "":
		err = errors.New(`a stop needs a "reason": it is in every skipped user's outcome and the run's summary`)
	}
	if err != nil {
		log.Error("sweep request refused", "error", err.Error())
		return nil, err
	}
	e := h.engine(log, &tally{})
	var run sweep.Run
	var ok bool
	if stop {
		run, ok, err = e.Stop(ctx, name, reason)
		if err == nil && ok {
			log.Warn("sweep stopped by an operator", "sweep", name, "run", run.ID, "reason", reason)
		}
	} else {
		run, ok, err = e.Status(ctx, name)
	}
	if err != nil {
		log.Error("sweep request failed", "sweep", name, "error", err.Error())
		return nil, err
	}
	res := &outcome.Result{Alerts: []outcome.AlertRef{{Format: sweep.Format, ID: name}}, Targets: []outcome.Outcome{}, Summary: map[outcome.Status]int{}}
	if !ok {
		res.Notes = []string{"no run of this sweep is going, or none is recorded"}
		res.Sweep = &outcome.Sweep{Name: name}
		return res, nil
	}
	res.Summary, res.Sweep, res.DryRun = run.Counts, progress(run, run.Spec), run.DryRun
	return res, nil
}

// sweepWork does one message of the sweep queue: an error returns it to the queue.
func (h *Handler) sweepWork(ctx context.Context, log *slog.Logger, rec delivery.Record) error {
	w, err := sweep.Decode(rec.Body)
	if err != nil {
		log.Error("sweep work refused", "error", err.Error())
		return err
	}
	log = log.With("sweep", w.Sweep, "run", w.Run)
	counts := &tally{}
	err = h.engine(log, counts).Handle(ctx, w, max(rec.Receives, 1))
	emitMetrics(log, counts)
	if err != nil {
		log.Error("sweep work not done: it comes back", "error", err.Error(), "receives", rec.Receives)
	}
	return err
}
