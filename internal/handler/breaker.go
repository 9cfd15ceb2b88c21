package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// An operator resets the circuit breaker with a direct invocation:
//
//	{"breaker": "reset", "reason": "storm understood: rule 42 fixed"}
//
// Like an approval, only a direct invocation may ask for it.

func isBreakerRequest(top delivery.Object) bool { return top.Has("breaker") }

func (h *Handler) resetBreaker(ctx context.Context, log *slog.Logger, rec delivery.Record) (*outcome.Result, error) {
	err := trusted(rec, "a circuit breaker reset")
	if err == nil {
		err = delivery.Strict(rec.Body, "breaker request", "breaker", "reason")
	}
	if err == nil && rec.Top.String("breaker") != "reset" {
		err = errors.New(`breaker request: the only request is {"breaker": "reset", "reason": "..."}`)
	}
	if err == nil && h.Breaker == nil {
		err = errors.New("breaker request: this deployment has no STATE_TABLE: the circuit breaker lives only as long as one invocation, and there is nothing to reset")
	}
	if err == nil {
		if rerr := h.Breaker.ResetBreaker(ctx); rerr != nil {
			err = fmt.Errorf("breaker request: %w", rerr)
		}
	}
	if err != nil {
		log.Error("breaker reset refused", "error", err.Error(), "channel", rec.Channel.String())
		return nil, err
	}
	reason := rec.Top.String("reason")
	log.Warn("circuit breaker reset by an operator", "reason", reason, "channel", rec.Channel.String())
	return &outcome.Result{
		Alerts:  []outcome.AlertRef{{Format: "breaker", ID: requestID(ctx), Title: "circuit breaker reset"}},
		Targets: []outcome.Outcome{},
		Summary: map[outcome.Status]int{},
		Notes:   []string{"circuit breaker reset: alerts may revoke again up to MAX_REVOKES_PER_WINDOW; reason: " + clipReason(reason)},
	}, nil
}

func clipReason(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
