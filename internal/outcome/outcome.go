// Package outcome holds what happened to each user an alert named, and the result an
// invocation returns. Statuses are a closed set: every target ends in exactly one, and
// only a 2xx from Graph's revoke call may ever become Revoked.
package outcome

// Status is the end state of one target.
type Status string

const (
	// Revoked: Graph answered 2xx to POST /users/{id}/revokeSignInSessions.
	Revoked Status = "revoked"
	// Verified: revoked, and signInSessionsValidFromDateTime read back at or after the
	// revoke call (VERIFY_REVOCATION).
	Verified Status = "verified"
	// WouldRevoke: a dry run found the target eligible; nothing was sent to Graph.
	WouldRevoke Status = "would-revoke"
	// Skipped: policy chose not to revoke (guest, built-in account, role not targeted);
	// Reason says which. Not a failure.
	Skipped Status = "skipped"
	// NotFound: Graph has no such user (404). A retry would not change it.
	NotFound Status = "not-found"
	// Failed: the user should have been revoked and was not (Graph refused, an
	// identifier Graph cannot address, credentials unusable). Fails the invocation.
	Failed Status = "failed"
	// Deferred: not attempted because the invocation ran out of time. Fails the
	// invocation so Lambda's retry picks the user up.
	Deferred Status = "deferred"
	// NeedsApproval: not revoked without an operator's approval: the alert names more
	// users than MAX_TARGETS_PER_ALERT (then nobody in it was revoked), or the delivery's
	// revoke budget or the circuit breaker was spent. Fails the invocation so the event
	// reaches an operator.
	NeedsApproval Status = "needs-approval"
	// Suppressed: this function revoked the user within SUPPRESS_MINUTES; not revoked
	// again (VPN and travelling users re-trigger impossible travel right after a revoke).
	Suppressed Status = "suppressed"
)

// Statuses lists every status, in the order a summary shows them.
var Statuses = []Status{Revoked, Verified, WouldRevoke, Skipped, Suppressed, NotFound, Failed, Deferred, NeedsApproval}

// Unhandled reports whether a target in this status means the alert was not fully
// handled, so the invocation must fail and the event be kept.
func (s Status) Unhandled() bool { return s == Failed || s == Deferred || s == NeedsApproval }

// Outcome is one target's line in the result and in the audit log.
type Outcome struct {
	UserID            string `json:"userId,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// Identifier is the value the alert gave when it is neither an object id nor a UPN
	// (a login, a SID, a malformed value), clipped, so the report shows what was refused.
	Identifier string `json:"identifier,omitempty"`
	Status     Status `json:"status"`
	Reason     string `json:"reason,omitempty"`
	// RequestID is Graph's request-id for the last call made for this user.
	RequestID       string `json:"requestId,omitempty"`
	ClientRequestID string `json:"clientRequestId,omitempty"`
	Attempts        int    `json:"attempts,omitempty"`  // Graph calls made for this user
	Throttled       int    `json:"throttled,omitempty"` // of which answered 429
	DurationMS      int64  `json:"durationMs,omitempty"`
	Format          string `json:"format"`
	AlertID         string `json:"alertId,omitempty"`
}

// AlertRef names an alert in a result.
type AlertRef struct {
	Format   string `json:"format"`
	ID       string `json:"id,omitempty"`
	Title    string `json:"title,omitempty"`
	Severity string `json:"severity,omitempty"`
}

// Result is what one alert delivery comes to.
type Result struct {
	Alerts  []AlertRef     `json:"alerts"`
	DryRun  bool           `json:"dryRun"`
	Targets []Outcome      `json:"targets"`
	Summary map[Status]int `json:"summary"`
	// Notes say which guardrails were off for this run.
	Notes []string `json:"notes,omitempty"`
	// Replayed: a redelivery; this is the stored result of the first run, nothing ran.
	Replayed bool `json:"replayed,omitempty"`
	// Sweep says how far a scheduled sweep got; nil for alerts.
	Sweep *Sweep `json:"sweep,omitempty"`
	// Poll says what a scheduled poll of Graph's alerts read and did; nil otherwise.
	Poll *Poll `json:"poll,omitempty"`
}

// Sweep is a sweep run's progress, as a start, a status request or the final summary
// reports it.
type Sweep struct {
	Name   string `json:"name"`
	Run    string `json:"run,omitempty"`
	Source string `json:"source,omitempty"` // what it lists, in words
	// Status: started (this request began the run), running (a run of this name was
	// going already, or is still), complete, stopped, needs-approval (over the blast
	// radius: nothing started).
	Status    string `json:"status"`
	StartedAt string `json:"startedAt,omitempty"`
	EndedAt   string `json:"endedAt,omitempty"`
	Listed    int    `json:"listed"`  // users listed or read so far
	Chunks    int    `json:"chunks"`  // chunks queued
	Done      int    `json:"done"`    // chunks finished
	Listing   bool   `json:"listing"` // the listing is still being read
	// TargetsOmitted counts targets left out of the result (every one is in the audit log).
	TargetsOmitted int `json:"targetsOmitted,omitempty"`
}

// Summarise counts targets per status; statuses with no target are left out.
func Summarise(targets []Outcome) map[Status]int {
	m := make(map[Status]int, 4)
	for _, t := range targets {
		m[t.Status]++
	}
	return m
}

// Unhandled returns the targets that keep the alert from being fully handled.
func (r *Result) Unhandled() []Outcome {
	var out []Outcome
	for _, t := range r.Targets {
		if t.Status.Unhandled() {
			out = append(out, t)
		}
	}
	return out
}
