// Package revoke carries out decisions against Graph: one revoke call per user, retried
// when a retry can help, bounded by the invocation's deadline, each ending in an outcome.
//
// It owns the small interface the Graph client implements, so everything here is tested
// without the SDK. It never reports Revoked without a 2xx from the revoke call, and never
// calls Graph for a decision policy did not mark Revoke.
package revoke

import (
	"context"
	"fmt"
	"time"
)

// Graph is the part of Microsoft Graph this function uses.
type Graph interface {
	// RevokeSignInSessions calls POST /users/{user}/revokeSignInSessions. user is an
	// object id or a UPN that policy has validated.
	RevokeSignInSessions(ctx context.Context, user string) (Call, error)
	// User reads id, userPrincipalName, userType and signInSessionsValidFromDateTime: to
	// learn whether an object id belongs to a guest before claiming their sessions were
	// revoked, and to verify a revoke took effect.
	User(ctx context.Context, user string) (User, Call, error)
}

// User is what User returns.
type User struct {
	ID                string
	UserPrincipalName string
	UserType          string
	// SignInSessionsValidFrom is what the revoke call moves to "now"; zero when Graph
	// did not return it.
	SignInSessionsValidFrom time.Time
}

// Call identifies one Graph request for the audit trail.
type Call struct {
	RequestID       string
	ClientRequestID string
	// Limit is Graph's x-ms-throttle-limit-percentage (sent from 0.8 of the quota): how
	// near this app is to being throttled; 0 when absent.
	Limit float64
}

type lowPriority struct{}

// WithLowPriority marks ctx's Graph calls as a sweep's: Graph is asked to throttle them
// first (x-ms-throttle-priority: Low), before any alert's.
func WithLowPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, lowPriority{}, true)
}

// LowPriority reports whether ctx's calls are a sweep's.
func LowPriority(ctx context.Context) bool {
	v, _ := ctx.Value(lowPriority{}).(bool)
	return v
}

// Kind says what a failed call means for the caller.
type Kind uint8

const (
	Other       Kind = iota // anything unclassified: not retried
	NotFound                // 404: no such user
	Denied                  // 403: the app lacks a permission or role
	BadRequest              // 400: Graph refused the address
	Throttled               // 429: wait Retry-After and retry
	Unavailable             // 5xx, connection reset, timeout: back off and retry
	Credential              // no token: the app's credentials were refused or unreachable
)

var kindNames = [...]string{"other", "not-found", "denied", "bad-request", "throttled", "unavailable", "credential"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Error is a failed Graph call, classified.
type Error struct {
	Kind   Kind
	Status int    // HTTP status, 0 when no response came
	Code   string // Graph's error code (Authorization_RequestDenied, ...) or Entra's AADSTS code
	// Message is the service's own message, which names no secret.
	Message    string
	RetryAfter time.Duration // from Retry-After; 0 when absent
	Call
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0 && e.Code != "":
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	case e.Status != 0:
		return fmt.Sprintf("%d: %s", e.Status, e.Message)
	case e.Code != "":
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return e.Message
}

// Retryable reports whether the same call may succeed later.
func (e *Error) Retryable() bool { return e.Kind == Throttled || e.Kind == Unavailable }
