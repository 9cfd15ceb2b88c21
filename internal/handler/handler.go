// Package handler is the function's Lambda entry point: payload in, result out. It runs
// the pipeline payload -> alert -> targets -> decisions -> outcomes -> result, writes one
// audit line per target, and turns anything not fully handled into an invocation error
// (or a batch item failure) so Lambda's retries and failure destination keep the event.
//
// It never logs a payload, a secret or a token: only identifiers, statuses and reasons.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

// Handler holds what one container builds once.
type Handler struct {
	Policy  policy.Settings
	Connect revoke.Connect
	Options revoke.Options
	Log     *slog.Logger
}

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
			nameless = append(nameless, a.Format+" "+a.ID)
		}
	}
	decisions := policy.Decide(alerts, h.Policy)
	res.Targets = revoke.Run(ctx, decisions, h.Connect, h.Options)
	res.Summary = outcome.Summarise(res.Targets)
	for _, t := range res.Targets {
		audit(log, &t)
	}
	// Lines about the alert as a whole carry its id (the first alert's, for a list) so a
	// CloudWatch query on one alert id finds every line of the invocation.
	alog := log.With("alertId", alerts[0].ID)
	alog.Info("alert done", "alerts", alertIDs(alerts), "dryRun", res.DryRun, "summary", res.Summary)
	emitMetrics(alog, res)
	if err := unhandled(res, nameless); err != nil {
		alog.Error("alert not fully handled", "error", err.Error())
		return res, err
	}
	return res, nil
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
