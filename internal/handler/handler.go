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
	if batch.Kind == delivery.Single {
		res, err := h.respond(ctx, log, batch.Records[0])
		if res == nil {
			return nil, err
		}
		return res, err
	}
	var failed BatchResponse
	for i, rec := range batch.Records {
		rlog := log.With("messageId", rec.MessageID)
		if _, err := h.respond(ctx, rlog, rec); err != nil {
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

// Respond runs one record through the pipeline. It is Handle for one document, for the
// local tools.
func (h *Handler) respond(ctx context.Context, log *slog.Logger, rec delivery.Record) (*outcome.Result, error) {
	if rec.Err == nil && sweep.Is(rec.Top) {
		return h.sweep(ctx, log, rec)
	}
	alerts, err := alert.Recognise(rec)
	if err == nil && len(alerts) == 0 {
		err = fmt.Errorf("%w: the payload holds no alert", alert.ErrUnrecognised)
	}
	if err != nil {
		log.Error("alert not recognised", "error", err.Error(), "source", rec.Envelope.Source, "detailType", rec.Envelope.DetailType, "eventId", rec.Envelope.ID)
		return nil, err
	}
	res := &outcome.Result{Alerts: make([]outcome.AlertRef, len(alerts)), DryRun: h.Policy.DryRun}
	var nameless []string
	for i := range alerts {
		if alerts[i].ID == "" {
			// A direct invocation carries no id of its own: the Lambda request id names it
			// in the audit trail and in any retry.
			alerts[i].ID = requestID(ctx)
		}
		a := alerts[i]
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
	res.Targets = revoke.Run(ctx, decisions, h.Connect, h.options(log))
	res.Summary = outcome.Summarise(res.Targets)
	for _, t := range res.Targets {
		audit(log, &t)
	}
	// Lines about the alert as a whole carry its id (the first alert's, for a list) so a
	// CloudWatch query on one alert id finds every line of the invocation.
	alog := log.With("alertId", alerts[0].ID)
	alog.Info("alert done", "alerts", alertIDs(alerts), "dryRun", res.DryRun, "summary", res.Summary)
	emitMetrics(alog, res)
	err = unhandled(res, nameless)
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

// options are h.Options with the invocation's logger, for revoke's debug lines.
func (h *Handler) options(log *slog.Logger) revoke.Options {
	o := h.Options
	o.Log = log
	return o
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

// deliveryKey names a delivery across redeliveries: the EventBridge event id, else the
// SQS message id. A direct invocation has neither; the ids in its body are the caller's
// (two requests may share an alertId and name different users), so it is keyed by the
// Lambda request id, which Lambda keeps across its async retries, and by a digest of the
// body, so that only the very same request is ever replayed.
func deliveryKey(ctx context.Context, rec delivery.Record) string {
	switch {
	case rec.Envelope.ID != "":
		return "event#" + rec.Envelope.ID
	case rec.MessageID != "":
		return "message#" + rec.MessageID
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
