package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// Options tune how calls are made. Zero values take the defaults.
type Options struct {
	Concurrency int           // users handled at once (default 4)
	MaxAttempts int           // calls per user for retryable failures (default 4)
	BaseDelay   time.Duration // first backoff without Retry-After (default 1 s)
	MaxDelay    time.Duration // longest single wait (default 30 s)
	CallTimeout time.Duration // one HTTP call, so a hung response cannot eat the deadline (default 15 s)
	// Margin is kept free before the invocation deadline to write the result (default 3 s).
	Margin time.Duration
	// Sleep waits d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Protected is checked again once Graph has told the user's other identifier.
	Protected policy.Protected
	// Verify reads signInSessionsValidFromDateTime back after each revoke (needs
	// User.Read.All) and reports Verified only when it moved to the call's time or later.
	Verify bool
	// Suppress, with a window, keeps a user this function revoked within the window from
	// being revoked again; nil turns it off.
	Suppress       Suppressor
	SuppressWindow time.Duration
	// Log, when set, gets a DEBUG line per Graph call: its status and request ids, never
	// a token or a body.
	Log *slog.Logger
}

// Suppressor remembers recent revokes across invocations (the state table). ClaimUser is
// atomic: of two invocations claiming one user, one wins.
type Suppressor interface {
	ClaimUser(ctx context.Context, userKey string, now time.Time, window time.Duration, alertID string) (ok bool, last time.Time, lastAlertID string, err error)
	ReleaseUser(ctx context.Context, userKey string, claimedAt time.Time) error
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 30 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 15 * time.Second
	}
	if o.Margin <= 0 {
		o.Margin = 3 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

// Connect yields a Graph client. It is called only when some decision needs Graph, so a
// dry run or an all-skipped alert never touches credentials.
type Connect func(ctx context.Context) (Graph, error)

// Run turns every decision into an outcome, in the decisions' order.
func Run(ctx context.Context, ds []policy.Decision, connect Connect, opt Options) []outcome.Outcome {
	opt = opt.withDefaults()
	out := make([]outcome.Outcome, len(ds))
	var pending []int
	for i := range ds {
		out[i] = base(&ds[i])
		if ds[i].Revoke {
			pending = append(pending, i)
		} else {
			out[i].Status, out[i].Reason = ds[i].Status, ds[i].Reason
		}
	}
	if len(pending) == 0 {
		return out
	}
	g, err := connect(ctx)
	if err != nil {
		for _, i := range pending {
			out[i].Status, out[i].Reason = outcome.Failed, "no Graph client: "+err.Error()
		}
		return out
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(opt.Concurrency, len(pending)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				revokeOne(ctx, g, &ds[i].Target, &out[i], opt)
				out[i].DurationMS = time.Since(start).Milliseconds()
			}
		}()
	}
	for _, i := range pending {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func base(d *policy.Decision) outcome.Outcome {
	return outcome.Outcome{
		UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Identifier: d.Identifier,
		Format: d.Format, AlertID: d.AlertID,
	}
}

func revokeOne(ctx context.Context, g Graph, t *policy.Target, o *outcome.Outcome, opt Options) {
	note := ""
	// An object id alone does not say whether the user is a guest (Graph answers 200 for a
	// guest whose sessions it did not end), and a protected-account list naming object ids
	// cannot clear a user known only by UPN: ask Graph before acting.
	if t.UserPrincipalName == "" || !opt.Protected.Decidable(t.UserID, t.UserPrincipalName) {
		u, err := readUser(ctx, g, t, o, opt)
		var ge *Error
		switch {
		case err == nil:
			if o.UserID == "" && u.ID != "" {
				o.UserID = strings.ToLower(u.ID)
			}
			if o.UserPrincipalName == "" {
				o.UserPrincipalName = u.UserPrincipalName
			}
			if opt.Protected.Has(o.UserID, o.UserPrincipalName) {
				o.Status, o.Reason = outcome.Skipped, "protected: a break-glass or responder account, never revoked"
				return
			}
			if strings.EqualFold(u.UserType, "guest") {
				o.Status, o.Reason = outcome.Skipped, "guest (external) user: revokeSignInSessions does not end a B2B guest's sessions; revoke them in the user's home tenant"
				return
			}
		case errors.As(err, &ge) && ge.Kind == NotFound:
			o.Status, o.Reason = outcome.NotFound, "no such user in the tenant (404 "+ge.Code+")"
			return
		case errors.Is(err, errDeadline):
			o.Status, o.Reason = outcome.Deferred, err.Error()
			return
		case !opt.Protected.Decidable(o.UserID, o.UserPrincipalName):
			// The guardrail cannot be evaluated: fail closed, never risk a break-glass account.
			o.Status, o.Reason = outcome.Failed, "not revoked: the protected-account list could not be checked for this user ("+short(err)+"); grant User.Read.All or list both object id and UPN of protected accounts"
			return
		default:
			// Cutting the attacker off matters more than the guest check; say it was not made.
			note = "; user type not checked (" + short(err) + "): if this is a guest, the call did not end their sessions"
		}
	}
	release, ok := suppress(ctx, t, o, opt)
	if !ok {
		return
	}
	defer func() {
		if o.Status != outcome.Revoked && o.Status != outcome.Verified {
			release()
		}
	}()
	// Graph stores the new validity time in whole seconds.
	called := time.Now().UTC().Truncate(time.Second)
	err := attempt(ctx, opt, o, "POST revokeSignInSessions", func(ctx context.Context) (Call, error) { return g.RevokeSignInSessions(ctx, t.Key()) })
	if err == nil {
		o.Status, o.Reason = outcome.Revoked, strings.TrimPrefix(note, "; ")
		if opt.Verify {
			verify(ctx, g, t, o, opt, called)
		}
		return
	}
	if errors.Is(err, errDeadline) {
		o.Status, o.Reason = outcome.Deferred, err.Error()
		return
	}
	var ge *Error
	if errors.As(err, &ge) && ge.Kind == NotFound {
		o.Status, o.Reason = outcome.NotFound, "no such user in the tenant (404 "+ge.Code+")"
		return
	}
	o.Status, o.Reason = outcome.Failed, failure(err, o.Attempts)
}

// suppress claims the user in the state table before the revoke. ok is false when the
// outcome is already final: suppressed (revoked recently), or failed because the state
// could not be read (a guardrail that cannot be evaluated fails closed). release undoes
// the claim when the revoke then does not happen, so Lambda's retry is not suppressed.
func suppress(ctx context.Context, t *policy.Target, o *outcome.Outcome, opt Options) (release func(), ok bool) {
	release = func() {}
	if opt.Suppress == nil || opt.SuppressWindow <= 0 {
		return release, true
	}
	// The object id when known, so that an alert naming the user by UPN and one naming
	// them by id meet; policy and the lookup fill it for most alerts.
	key := strings.ToLower(o.UserID)
	if key == "" {
		key = strings.ToLower(t.Key())
	}
	now := time.Now().UTC()
	claimed, last, lastAlert, err := opt.Suppress.ClaimUser(ctx, key, now, opt.SuppressWindow, t.AlertID)
	switch {
	case err != nil:
		o.Status, o.Reason = outcome.Failed, "not revoked: the suppression state could not be read ("+short(err)+"); retried by Lambda"
		return release, false
	case !claimed:
		o.Status = outcome.Suppressed
		// The claim is taken just before the call, so another invocation may still be
		// making it; if that call fails, its claim is given back and its own alert fails.
		o.Reason = fmt.Sprintf("revoked (or being revoked) by this function at %s for alert %s, within SUPPRESS_MINUTES=%d", last.UTC().Format(time.RFC3339), lastAlert, int(opt.SuppressWindow/time.Minute))
		return release, false
	}
	return func() {
		// A failed release leaves the user suppressed for the window: say so in the log
		// line, which the caller writes from the outcome.
		if err := opt.Suppress.ReleaseUser(context.WithoutCancel(ctx), key, now); err != nil {
			o.Reason = join(o.Reason, "suppression claim not released ("+short(err)+")")
		}
	}, true
}

// verify reads the user back. Revoked stands when the read itself fails: the revoke did
// get its 2xx, only the evidence is missing, and the reason says so.
func verify(ctx context.Context, g Graph, t *policy.Target, o *outcome.Outcome, opt Options, called time.Time) {
	revokeID, revokeClientID := o.RequestID, o.ClientRequestID
	u, err := readUser(ctx, g, t, o, opt)
	// The audit trail keeps the revoke call's ids: they are the evidence of the revoke.
	o.RequestID, o.ClientRequestID = revokeID, revokeClientID
	switch {
	case err != nil:
		o.Reason = join(o.Reason, "not verified: reading signInSessionsValidFromDateTime failed ("+short(err)+"); the app needs User.Read.All")
	case u.SignInSessionsValidFrom.IsZero():
		o.Reason = join(o.Reason, "not verified: Graph returned no signInSessionsValidFromDateTime")
	case u.SignInSessionsValidFrom.Before(called):
		o.Status = outcome.Failed
		o.Reason = fmt.Sprintf("Graph accepted the revoke but signInSessionsValidFromDateTime is %s, before the call at %s", u.SignInSessionsValidFrom.UTC().Format(time.RFC3339), called.Format(time.RFC3339))
	default:
		o.Status = outcome.Verified
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// readUser is Graph's User call with the same retries as the revoke.
func readUser(ctx context.Context, g Graph, t *policy.Target, o *outcome.Outcome, opt Options) (User, error) {
	var u User
	err := attempt(ctx, opt, o, "GET user", func(ctx context.Context) (Call, error) {
		var c Call
		var err error
		u, c, err = g.User(ctx, t.Key())
		return c, err
	})
	return u, err
}

// errDeadline marks giving up because the invocation's time is nearly spent.
var errDeadline = errors.New("deferred: the invocation's deadline was too near to try again")

// attempt makes one call, retrying throttling and transient failures with backoff, and
// records the request ids and attempt count on o.
func attempt(ctx context.Context, opt Options, o *outcome.Outcome, op string, call func(context.Context) (Call, error)) error {
	for n := 1; ; n++ {
		if err := roomFor(ctx, 0, opt); err != nil {
			return err
		}
		// A call may not run into the margin: a process Lambda kills at its timeout
		// releases no claim and writes no outcome.
		callDeadline := time.Now().Add(opt.CallTimeout)
		if d, ok := ctx.Deadline(); ok && d.Add(-opt.Margin).Before(callDeadline) {
			callDeadline = d.Add(-opt.Margin)
		}
		cctx, cancel := context.WithDeadline(ctx, callDeadline)
		began := time.Now()
		c, err := call(cctx)
		cancel()
		debugCall(ctx, opt.Log, op, o, n, c, err, time.Since(began))
		o.Attempts++
		if c.RequestID != "" {
			o.RequestID, o.ClientRequestID = c.RequestID, c.ClientRequestID
		}
		if err == nil {
			return nil
		}
		var ge *Error
		if errors.As(err, &ge) && ge.Kind == Throttled {
			o.Throttled++
		}
		if !errors.As(err, &ge) || !ge.Retryable() || n >= opt.MaxAttempts {
			return err
		}
		wait := ge.RetryAfter
		if wait <= 0 {
			wait = backoff(n, opt)
		}
		if err := roomFor(ctx, wait, opt); err != nil {
			return fmt.Errorf("%w (last: %s)", err, short(ge))
		}
		if err := opt.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (last: %s)", errDeadline, short(ge))
		}
	}
}

// debugCall writes one DEBUG line for a Graph call: what was called for whom, the HTTP
// status ("2xx" for a success, whose exact code the SDK does not surface; 0 when no
// response came) and Graph's request ids.
func debugCall(ctx context.Context, log *slog.Logger, op string, o *outcome.Outcome, n int, c Call, err error, took time.Duration) {
	if log == nil || !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	status, code := "2xx", ""
	var ge *Error
	switch {
	case errors.As(err, &ge):
		status, code = fmt.Sprint(ge.Status), ge.Code
		if c.RequestID == "" {
			c = ge.Call
		}
	case err != nil:
		status = "error"
	}
	log.Debug("graph call", "op", op, "alertId", o.AlertID, "userId", o.UserID, "userPrincipalName", o.UserPrincipalName,
		"attempt", n, "status", status, "code", code, "graphRequestId", c.RequestID, "clientRequestId", c.ClientRequestID,
		"durationMs", took.Milliseconds())
}

// minCall is the least time worth starting a Graph call with.
const minCall = time.Second

// roomFor fails when waiting d and making one more call would run into the margin kept
// before the invocation's deadline.
func roomFor(ctx context.Context, d time.Duration, opt Options) error {
	if ctx.Err() != nil {
		return errDeadline
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	if time.Until(deadline) < d+opt.Margin+minCall {
		return errDeadline
	}
	return nil
}

// backoff is exponential with full jitter, so throttled workers do not retry in step.
func backoff(n int, opt Options) time.Duration {
	d := opt.BaseDelay << (n - 1)
	if d > opt.MaxDelay || d <= 0 {
		d = opt.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failure says what went wrong and what fixes it.
func failure(err error, attempts int) string {
	var ge *Error
	if !errors.As(err, &ge) {
		return "Graph call failed: " + short(err)
	}
	switch ge.Kind {
	case Denied:
		return "Graph denied the revoke (" + short(ge) + "): grant the app registration the application permission User.RevokeSessions.All and admin consent"
	case Throttled:
		return fmt.Sprintf("throttled by Graph after %d attempts (%s): retry later", attempts, short(ge))
	case Unavailable:
		return fmt.Sprintf("Graph unavailable after %d attempts (%s)", attempts, short(ge))
	case Credential:
		return "no Graph token (" + short(ge) + "): check the app registration's tenant id, client id and credential (client secret, certificate or federated identity credential)"
	case BadRequest:
		return "Graph rejected the request (" + short(ge) + ")"
	}
	return "Graph call failed: " + short(ge)
}

// short bounds a service message in a reason.
func short(err error) string {
	s := err.Error()
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
