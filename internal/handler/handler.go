// Package handler is the function's Lambda entry point: payload in, result out. It runs
// the pipeline payload -> alert -> targets -> decisions -> outcomes -> result, writes one
// audit line per target, and turns anything not fully handled into an invocation error
// (or a batch item failure) so Lambda's retries and failure destination keep the event.
//
// It never logs a payload, a secret or a token: only identifiers, statuses and reasons.
package handler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// Handler holds what one container builds once.
type Handler struct {
	Policy  policy.Settings
	Connect revoke.Connect
	Options revoke.Options
	Log     *slog.Logger
	// Ledger, when set, makes a redelivered event return its stored result instead of
	// running again (EventBridge and SQS deliver at least once; Lambda retries).
	Ledger Ledger
	// Sweeps runs scheduled sweeps ({"sweep": {...}}); its zero value refuses them.
	Sweeps Sweeps
	// Limits bound what alerts revoke on their own per delivery and per rolling window
	// (the circuit breaker); nil: only MAX_TARGETS_PER_ALERT.
	Limits *revoke.Limits
	// Breaker resets the circuit breaker on an operator's {"breaker": "reset"}; nil
	// without a state table.
	Breaker interface {
		ResetBreaker(ctx context.Context) error
	}
	// Polls runs scheduled polls of Graph's alerts ({"poll": {...}}); its zero value
	// refuses them.
	Polls Polls
	// Results, when set, is told every delivery's result, whatever the invocation type
	// (the result bus).
	Results Publisher
}

// Publisher announces a delivery's result.
type Publisher interface {
	Publish(ctx context.Context, res *outcome.Result) error
}

// ErrNotPublished marks a delivery whose result could not be announced. Its revokes are
// done: the invocation fails only so that the retry, which finds the stored result in
// the ledger and runs nothing again, announces it.
var ErrNotPublished = errors.New("result not published")

// Ledger remembers deliveries across invocations (the state table).
type Ledger interface {
	// ClaimAlert returns the stored result of a completed delivery, or nil after claiming
	// it for this invocation; an error (including another invocation holding it) means
	// it must not run now.
	ClaimAlert(ctx context.Context, key string, now time.Time, lease time.Duration) ([]byte, error)
	CompleteAlert(ctx context.Context, key string, result []byte, now time.Time, ttl time.Duration) error
	ReleaseAlert(ctx context.Context, key string) error
}

// resultTTL keeps a completed result as long as EventBridge may still redeliver.
const resultTTL = 24 * time.Hour

// BatchResponse is Lambda's partial batch response for SQS and EventBridge Pipes.
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names one record to be retried.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Handle is the function's handler. A single alert returns its *outcome.Result, and an
// error as well when any user in it was not handled (Lambda then reports only the error;
// the local tools print both); a batch returns a BatchResponse naming exactly the records
// to retry.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	log := h.logger(ctx)
	batch, err := delivery.Unwrap(payload)
	if err != nil {
		log.Error("payload refused", "error", err.Error(), "bytes", len(payload))
		return nil, err
	}
	// One budget for everything the delivery carries: a batch of alerts each under
	// MAX_TARGETS_PER_ALERT still stops at MAX_REVOKES_PER_DELIVERY.
	budget := h.Limits.ForDelivery()
	if batch.Kind == delivery.Single {
		res, err := h.respond(ctx, log, batch.Records[0], budget)
		if res == nil {
			return nil, err
		}
		return res, err
	}
	var failed BatchResponse
	for i, rec := range batch.Records {
		rlog := log.With("messageId", rec.MessageID)
		var err error
		if rec.Channel == delivery.Queue && h.Sweeps.QueueARN != "" && rec.SourceARN == h.Sweeps.QueueARN && rec.Err == nil {
			// The sweep queue: the engine's own work, not an alert. Its policy lets only
			// this function send to it.
			err = h.sweepWork(ctx, rlog, rec)
		} else {
			_, err = h.respond(ctx, rlog, rec, budget)
		}
		if err != nil {
			if rec.MessageID == "" {
				// Without an identifier the source cannot retry just this record, so the
				// whole batch must fail rather than lose it.
				return nil, fmt.Errorf("%s batch record %d (no messageId): %w", batch.Kind, i, err)
			}
			failed.BatchItemFailures = append(failed.BatchItemFailures, BatchItemFailure{ItemIdentifier: rec.MessageID})
		}
	}
	log.Info("batch done", "delivery", batch.Kind.String(), "records", len(batch.Records), "failedRecords", len(failed.BatchItemFailures))
	if failed.BatchItemFailures == nil {
		failed.BatchItemFailures = []BatchItemFailure{}
	}
	return failed, nil
}

// respond runs one record through the pipeline. It is Handle for one document, for the
// local tools.
func (h *Handler) respond(ctx context.Context, log *slog.Logger, rec delivery.Record, budget *revoke.DeliveryBudget) (*outcome.Result, error) {
	if rec.Err == nil {
		switch {
		case sweep.Is(rec.Top), isSweepControl(rec.Top):
			if err := trusted(rec, "a sweep request"); err != nil {
				log.Error("sweep refused", "error", err.Error(), "channel", rec.Channel.String())
				return nil, err
			}
			if sweep.Is(rec.Top) {
				return h.startSweep(ctx, log, rec)
			}
			return h.sweepControl(ctx, log, rec)
		case isBreakerRequest(rec.Top):
			return h.resetBreaker(ctx, log, rec)
		case poll.Is(rec.Top):
			if err := trusted(rec, "a poll"); err != nil {
				log.Error("poll refused", "error", err.Error(), "channel", rec.Channel.String())
				return nil, err
			}
			return h.poll(ctx, log, rec, budget)
		}
	}
	alerts, err := alert.Recognise(rec)
	// Some items of a list could not be read: the others run now, and the invocation
	// fails after them, so the event is retried and reaches the failure queue.
	var unread *alert.ItemErrors
	if errors.As(err, &unread) && len(alerts) > 0 {
		log.Error("alert items not read", "error", err.Error(), "source", rec.Envelope.Source, "detailType", rec.Envelope.DetailType, "eventId", rec.Envelope.ID)
		err = nil
	}
	if err == nil && len(alerts) == 0 {
		err = fmt.Errorf("%w: the payload holds no alert", alert.ErrUnrecognised)
	}
	if err != nil {
		log.Error("alert not recognised", "error", err.Error(), "source", rec.Envelope.Source, "detailType", rec.Envelope.DetailType, "eventId", rec.Envelope.ID)
		return nil, err
	}
	for i := range alerts {
		if alerts[i].ID == "" {
			// A direct invocation carries no id of its own: the Lambda request id names it
			// in the audit trail and in any retry.
			alerts[i].ID = requestID(ctx)
		}
		if !alerts[i].Approved {
			continue
		}
		// An approval is an operator's: only a channel that IAM reserves to operators may
		// carry one. Anywhere else it is refused, never quietly dropped: the sender must
		// learn that the request did not run as asked.
		if err := trusted(rec, "an approval (\"approved\": true)"); err != nil {
			log.Error("approval refused", "alertId", alerts[i].ID, "channel", rec.Channel.String(), "error", err.Error())
			return nil, err
		}
		log.Warn("approval accepted", "alertId", alerts[i].ID, "format", alerts[i].Format, "channel", rec.Channel.String(),
			"users", len(alerts[i].Principals), "reason", alerts[i].Reason)
	}
	res := &outcome.Result{Alerts: make([]outcome.AlertRef, len(alerts)), DryRun: h.Policy.DryRun}
	var nameless []string
	for i, a := range alerts {
		res.Alerts[i] = outcome.AlertRef{Format: a.Format, ID: a.ID, Title: a.Title, Severity: a.Severity}
		res.DryRun = res.DryRun || a.DryRun
		if len(a.Principals) == 0 {
			why := a.Format + " " + a.ID
			if a.NoUsers != "" {
				why += " (" + a.NoUsers + ")"
			}
			nameless = append(nameless, why)
		}
	}
	res.Notes = h.notes()
	key := deliveryKey(ctx, rec)
	if h.Ledger != nil {
		stored, err := h.Ledger.ClaimAlert(ctx, key, time.Now().UTC(), lease(ctx))
		if err != nil {
			// Fail closed: without the ledger a redelivery could run twice; Lambda retries.
			err = fmt.Errorf("idempotency state for %s: %w", key, err)
			log.Error("delivery not claimed", "alertId", alerts[0].ID, "error", err.Error())
			return nil, err
		}
		if stored != nil {
			var prev outcome.Result
			if json.Unmarshal(stored, &prev) == nil {
				prev.Replayed = true
				log.Info("redelivery: returning the stored result, nothing run again", "alertId", alerts[0].ID, "key", key)
				// Published again: the first run's put may be what failed.
				return &prev, h.publish(ctx, log.With("alertId", alerts[0].ID), &prev, nil)
			}
			log.Warn("stored result unreadable: running again", "alertId", alerts[0].ID, "key", key)
		}
	}
	decisions := policy.Decide(alerts, h.Policy)
	for i := range decisions {
		debugDecision(ctx, log, &decisions[i])
	}
	res.Targets = revoke.Run(ctx, decisions, h.Connect, h.runOptions(log, budget))
	res.Summary = outcome.Summarise(res.Targets)
	for _, t := range res.Targets {
		audit(log, &t)
	}
	// Lines about the alert as a whole carry its id (the first alert's, for a list) so a
	// CloudWatch query on one alert id finds every line of the invocation.
	alog := log.With("alertId", alerts[0].ID)
	alog.Info("alert done", "alerts", alertIDs(alerts), "dryRun", res.DryRun, "summary", res.Summary)
	emitMetrics(alog, tallyOf(res.Targets))
	err = unhandled(res, nameless)
	if unread != nil {
		err = errors.Join(err, fmt.Errorf("%w: %w", ErrUnhandled, unread))
	}
	if h.Ledger != nil {
		h.settle(ctx, alog, key, res, err == nil)
	}
	if err != nil {
		alog.Error("alert not fully handled", "error", err.Error())
	}
	return res, h.publish(ctx, alog, res, err)
}

// publish tells Results about res and returns err, joined with the put's failure.
func (h *Handler) publish(ctx context.Context, log *slog.Logger, res *outcome.Result, err error) error {
	if h.Results == nil {
		return err
	}
	perr := h.Results.Publish(ctx, res)
	if perr == nil {
		log.Debug("result published", "summary", res.Summary, "replayed", res.Replayed)
		return err
	}
	perr = fmt.Errorf("%w: %w; its revokes are done, and a retry publishes the stored result without running again", ErrNotPublished, perr)
	log.Error("result not published", "error", perr.Error())
	return errors.Join(err, perr)
}

// debugDecision says, at DEBUG, what policy decided for one user and why.
func debugDecision(ctx context.Context, log *slog.Logger, d *policy.Decision) {
	if !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	decision := "revoke"
	if !d.Revoke {
		decision = string(d.Status)
	}
	log.Debug("decision", "alertId", d.AlertID, "format", d.Format, "userId", d.UserID, "userPrincipalName", d.UserPrincipalName,
		"identifier", d.Identifier, "decision", decision, "reason", d.Reason)
}

// runOptions are the revoke runner's options for one delivery: the guardrails Judge
// decides by, the delivery's budget, its logger.
func (h *Handler) runOptions(log *slog.Logger, budget *revoke.DeliveryBudget) revoke.Options {
	opt := h.Options
	opt.Policy, opt.Log = h.Policy, log
	if budget != nil {
		opt.Budget = budget
	}
	return opt
}

// trusted refuses what only an operator may ask for when it came any other way than a
// direct invocation: the alert bus and the queues are written by every integration, so
// what arrives there is a claim, not an instruction.
func trusted(rec delivery.Record, what string) error {
	if rec.Channel.Trusted() {
		return nil
	}
	return fmt.Errorf("%w: %s is accepted only on a direct invocation (aws lambda invoke, a Step Functions task, EventBridge Scheduler), which IAM reserves to operators; this came through %s, which any integration can write to: nothing was run", ErrRefused, what, rec.Channel)
}

// ErrRefused wraps every request refused for the channel it came through.
var ErrRefused = errors.New("request refused")

// settle stores a handled delivery's result, or gives an unhandled one back so Lambda's
// retry runs it. A ledger error here costs at most a second run, which suppression
// keeps from revoking anyone twice: logged, not failed.
func (h *Handler) settle(ctx context.Context, log *slog.Logger, key string, res *outcome.Result, handled bool) {
	ctx = context.WithoutCancel(ctx)
	if !handled {
		if err := h.Ledger.ReleaseAlert(ctx, key); err != nil {
			log.Warn("delivery claim not released: a retry may wait for its lease", "key", key, "error", err.Error())
		}
		return
	}
	body, _ := json.Marshal(res)
	if err := h.Ledger.CompleteAlert(ctx, key, body, time.Now().UTC(), resultTTL); err != nil {
		log.Warn("result not stored: a redelivery would run again", "key", key, "error", err.Error())
	}
}

// deliveryKey names a delivery across redeliveries by what the channel itself assigned,
// never by an id inside the body: an SQS or Pipes record by its messageId (SQS assigns
// it; an EventBridge-shaped body on a queue carries whatever "id" its writer chose), an
// EventBridge event by its id (EventBridge assigns it). A direct invocation has neither;
// the ids in its body are the caller's (two requests may share an alertId and name
// different users), so it is keyed by the Lambda request id, which Lambda keeps across
// its async retries, and by a digest of the body, so that only the very same request is
// ever replayed.
func deliveryKey(ctx context.Context, rec delivery.Record) string {
	switch {
	case rec.MessageID != "":
		return "message#" + rec.MessageID
	case rec.Channel == delivery.Bus && rec.Envelope.ID != "":
		return "event#" + rec.Envelope.ID
	}
	sum := sha256.Sum256(rec.Body)
	return "request#" + requestID(ctx) + "#" + hex.EncodeToString(sum[:16])
}

// lease is how long a claim holds off a concurrent duplicate: the rest of this
// invocation, at least a minute.
func lease(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok && time.Until(d) > time.Minute {
		return time.Until(d) + 5*time.Second
	}
	return time.Minute
}

// notes say which guardrails are off, so a result never implies protection it lacked.
func (h *Handler) notes() []string {
	var n []string
	if h.Ledger == nil {
		n = append(n, "idempotency off: no STATE_TABLE configured; a redelivered event runs again")
	}
	if h.Options.Suppress == nil || h.Options.SuppressWindow <= 0 {
		n = append(n, "suppression off: a user revoked minutes ago is revoked again")
	}
	if h.Limits != nil && h.Limits.PerWindow > 0 && h.Limits.Store == nil {
		n = append(n, "circuit breaker per invocation only: no STATE_TABLE to count revokes across invocations")
	}
	return n
}

// ErrUnhandled wraps every error that means an alert was not fully handled.
var ErrUnhandled = errors.New("alert not fully handled")

func unhandled(res *outcome.Result, nameless []string) error {
	var parts []string
	if len(nameless) > 0 {
		parts = append(parts, "names no user: "+strings.Join(nameless, ", "))
	}
	bad := res.Unhandled()
	const most = 3
	for i, t := range bad {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(bad)-most))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", who(&t), t.Status, t.Reason))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d users: %s", ErrUnhandled, len(bad), len(res.Targets), strings.Join(parts, "; "))
}

func who(t *outcome.Outcome) string {
	switch {
	case t.UserPrincipalName != "":
		return t.UserPrincipalName
	case t.UserID != "":
		return t.UserID
	}
	return fmt.Sprintf("%q", t.Identifier)
}

// audit writes the one line per target that an operator reads in CloudWatch.
func audit(log *slog.Logger, t *outcome.Outcome) {
	level := slog.LevelInfo
	if t.Status.Unhandled() {
		level = slog.LevelError
	}
	log.LogAttrs(context.Background(), level, "target",
		slog.String("alertId", t.AlertID),
		slog.String("format", t.Format),
		slog.String("userId", t.UserID),
		slog.String("userPrincipalName", t.UserPrincipalName),
		slog.String("identifier", t.Identifier),
		slog.String("status", string(t.Status)),
		slog.String("reason", t.Reason),
		slog.String("graphRequestId", t.RequestID),
		slog.String("clientRequestId", t.ClientRequestID),
		slog.Int("attempts", t.Attempts),
		slog.Int64("durationMs", t.DurationMS),
	)
}

func alertIDs(alerts []alert.Alert) []string {
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	return ids
}

func (h *Handler) logger(ctx context.Context) *slog.Logger {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	if id := requestID(ctx); id != "" {
		log = log.With("requestId", id)
	}
	return log
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
