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
	"github.com/session-revoker/session-revoker/internal/wait"
)

// Options tune how calls are made. Zero values take the defaults.
type Options struct {
	Concurrency int           // users handled at once (default 4)
	MaxAttempts int           // calls per user for retryable failures (default 4)
	BaseDelay   time.Duration // first backoff without Retry-After (default 1 s)
	MaxDelay    time.Duration // longest backoff without Retry-After (default 30 s)
	CallTimeout time.Duration // one HTTP call, so a hung response cannot eat the deadline (default 15 s)
	// Margin is kept free before the invocation deadline to write the result (default 3 s).
	Margin time.Duration
	// Sleep waits d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	// Policy is what Judge decides by once Graph has answered.
	Policy policy.Settings
	// Guard resolves PROTECTED_USERS through Graph; nil: no protected accounts.
	Guard *Guard
	// Verify reads signInSessionsValidFromDateTime back after each revoke (needs
	// User.Read.All) and reports Verified only when it moved to the call's time or later.
	Verify bool
	// VerifyReads bounds the reads before a revoke is called unconfirmed (default 3): a
	// directory replica can answer with the old value for a moment after the write.
	VerifyReads int
	// Suppress, with a window, keeps a user this function revoked within the window from
	// being revoked again; nil turns it off.
	Suppress       Suppressor
	SuppressWindow time.Duration
	// Budget bounds the revokes alerts trigger on their own (per delivery, per rolling
	// window); nil: no bound beyond MAX_TARGETS_PER_ALERT.
	Budget Budget
	// Log gets a DEBUG line per Graph call; nil for none.
	Log *slog.Logger
	// Pacer keeps Graph writes under the app's quota across containers; nil: unpaced.
	Pacer Pacer
	// Sweep marks a sweep's run: its writes take what alerts leave (Pacer.Sweep) and go
	// to Graph at low priority.
	Sweep bool
}

// Pacer paces Graph writes (package pace): an alert's write never waits, a sweep's waits
// its turn; Observe is given Graph's x-ms-throttle-limit-percentage.
type Pacer interface {
	Alert(ctx context.Context) error
	Sweep(ctx context.Context) error
	Observe(limit float64)
}

// Suppressor remembers the revokes this function made (the state table). Only a revoke
// Graph answered 2xx is ever recorded, so nothing but a real revoke suppresses another.
type Suppressor interface {
	// LastRevoke returns when the user was last revoked and for which alert; zero when
	// never, or not within what the store keeps.
	LastRevoke(ctx context.Context, userKey string) (at time.Time, alertID string, err error)
	// RecordRevoke records a revoke Graph accepted at at, kept at least window.
	RecordRevoke(ctx context.Context, userKey string, at time.Time, window time.Duration, alertID string) error
}

// BatchSuppressor is a Suppressor that reads many users' records in one call: Run reads a
// sweep chunk's hundred users at once instead of one call each. Users without a record are
// absent from the map.
type BatchSuppressor interface {
	LastRevokes(ctx context.Context, userKeys []string) (map[string]Prior, error)
}

// Prior is a user's last recorded revoke.
type Prior struct {
	At      time.Time
	AlertID string
}

// Budget counts revokes before they are sent. An unapproved revoke beyond a limit is
// not sent (needs-approval, reason why); an approved one carries its operator's approval
// and is always allowed, and still counted.
type Budget interface {
	Take(ctx context.Context, approved bool) (ok bool, why string, err error)
	// Settle records what Take counted without writing it yet; Run calls it once its
	// revokes are done.
	Settle(ctx context.Context)
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
	if o.VerifyReads <= 0 {
		o.VerifyReads = 3
	}
	if o.Sleep == nil {
		o.Sleep = wait.For
	}
	return o
}

// Connect yields a Graph client. It is called only when some decision needs Graph, so an
// all-skipped alert never touches credentials.
type Connect func(ctx context.Context) (Graph, error)

// Run turns every decision into an outcome, in the decisions' order. It asks Graph about
// every candidate first (a dry run too, so that it shows what a live run would do), judges
// each on Graph's answer, folds candidates that turn out to be one user, applies the
// blast radius again on real users, and only then revokes. Candidates folded into another
// have no outcome of their own: the result holds one outcome per user.
func Run(ctx context.Context, ds []policy.Decision, connect Connect, opt Options) []outcome.Outcome {
	opt = opt.withDefaults()
	if opt.Sweep {
		ctx = WithLowPriority(ctx)
	}
	out := make([]outcome.Outcome, len(ds))
	var cands []int
	for i := range ds {
		out[i] = base(&ds[i])
		if ds[i].Revoke {
			cands = append(cands, i)
		} else {
			out[i].Status, out[i].Reason = ds[i].Status, ds[i].Reason
		}
	}
	if len(cands) == 0 {
		return out
	}
	failAll := func(reason string) []outcome.Outcome {
		for _, i := range cands {
			out[i].Status, out[i].Reason = outcome.Failed, reason
		}
		return out
	}
	g, err := connect(ctx)
	if err != nil {
		return failAll("no Graph client: " + err.Error())
	}
	protected, stale, err := opt.Guard.Resolve(ctx, g, opt)
	if err != nil {
		return failAll("not revoked: " + err.Error())
	}
	if stale != nil && opt.Log != nil {
		opt.Log.Warn("protected accounts not refreshed: using the last resolution", "error", short(stale))
	}

	deferred := make([]bool, len(ds))
	facts := make([]policy.Facts, len(ds))
	each(cands, opt.Concurrency, func(i int) {
		start := time.Now()
		facts[i], deferred[i] = learn(ctx, g, &ds[i], &out[i], opt)
		out[i].DurationMS += time.Since(start).Milliseconds()
	})
	for _, i := range cands {
		if deferred[i] {
			ds[i].Revoke, ds[i].Status, ds[i].Reason = false, outcome.Deferred, errDeadline.Error()+" (looking the user up)"
			continue
		}
		ds[i] = policy.Judge(ds[i], facts[i], protected, opt.Policy)
	}
	gone := fold(ds, cands)
	ds = policy.Bound(ds, opt.Policy.MaxTargetsPerAlert, 1)

	var send []int
	for _, i := range cands {
		d := &ds[i]
		out[i].UserID, out[i].UserPrincipalName = d.UserID, d.UserPrincipalName
		switch {
		case gone[i]:
		case !d.Revoke:
			out[i].Status, out[i].Reason = d.Status, d.Reason
		case d.DryRun:
			out[i].Status, out[i].Reason = outcome.WouldRevoke, join("dry run: nothing sent to Graph", d.Reason)
		default:
			send = append(send, i)
		}
	}
	priors := readPriors(ctx, ds, send, opt)
	each(send, opt.Concurrency, func(i int) {
		start := time.Now()
		revokeOne(ctx, g, &ds[i].Target, &out[i], ds[i].Reason, priors, opt)
		out[i].DurationMS += time.Since(start).Milliseconds()
	})
	if opt.Budget != nil {
		opt.Budget.Settle(ctx)
	}

	kept := out[:0]
	for i := range out {
		if !gone[i] {
			kept = append(kept, out[i])
		}
	}
	return kept
}

// fold merges candidates Graph resolved to one object id into the first of them, so that
// one user is one outcome and counts once towards the blast radius.
func fold(ds []policy.Decision, cands []int) []bool {
	gone := make([]bool, len(ds))
	first := make(map[string]int, len(cands))
	for _, i := range cands {
		if ds[i].UserID == "" || ds[i].Status == outcome.Deferred {
			continue
		}
		if j, ok := first[ds[i].UserID]; ok {
			policy.Fold(&ds[j], ds[i])
			gone[i] = true
			ds[i].Revoke = false // counted once, in ds[j]
			continue
		}
		first[ds[i].UserID] = i
	}
	return gone
}

// each runs fn for every index on at most n goroutines.
func each(idx []int, n int, fn func(int)) {
	if len(idx) == 0 {
		return
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(n, len(idx)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for _, i := range idx {
		work <- i
	}
	close(work)
	wg.Wait()
}

func base(d *policy.Decision) outcome.Outcome {
	return outcome.Outcome{
		UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Identifier: d.Identifier,
		Format: d.Format, AlertID: d.AlertID,
	}
}

// learn asks Graph about the identifier a candidate is addressed by. A sweep's listing
// already is Graph's answer. deferred is set when the invocation's time ran out first.
func learn(ctx context.Context, g Graph, t *policy.Decision, o *outcome.Outcome, opt Options) (f policy.Facts, deferred bool) {
	if t.Listed && t.UserType != "" && t.UserID != "" {
		return policy.Facts{Known: true, ID: t.UserID, UserPrincipalName: t.UserPrincipalName, UserType: t.UserType}, false
	}
	u, err := readUser(ctx, g, t.Key(), o, opt)
	var ge *Error
	switch {
	case err == nil:
		return policy.Facts{Known: true, ID: u.ID, UserPrincipalName: u.UserPrincipalName, UserType: u.UserType}, false
	case errors.As(err, &ge) && ge.Kind == NotFound:
		return policy.Facts{NotFound: true}, false
	case errors.Is(err, errDeadline):
		return policy.Facts{}, true
	}
	return policy.Facts{Unknown: short(err)}, false
}

// revokeOne sends the revoke for a judged candidate, addressed by the object id Graph gave
// (the UPN only when Graph could not be asked). note is the judgement's reason, kept.
// readPriors reads the suppression records of every user about to be revoked in one call,
// when there are several and the store can; nil (each user reads its own) otherwise, or
// when the batch read fails.
func readPriors(ctx context.Context, ds []policy.Decision, send []int, opt Options) map[string]Prior {
	b, ok := opt.Suppress.(BatchSuppressor)
	if !ok || opt.SuppressWindow <= 0 || len(send) < 2 {
		return nil
	}
	keys := make([]string, len(send))
	for n, i := range send {
		keys[n] = strings.ToLower(ds[i].Target.Key())
	}
	priors, err := b.LastRevokes(ctx, keys)
	if err != nil {
		if opt.Log != nil {
			opt.Log.Warn("suppression records not read in one call: each user reads its own", "error", short(err))
		}
		return nil
	}
	return priors
}

// lastRevoke is a user's suppression record, from the batch read when there was one.
func lastRevoke(ctx context.Context, key string, priors map[string]Prior, opt Options) (time.Time, string, error) {
	if priors != nil {
		p := priors[key]
		return p.At, p.AlertID, nil
	}
	return opt.Suppress.LastRevoke(ctx, key)
}

func revokeOne(ctx context.Context, g Graph, t *policy.Target, o *outcome.Outcome, note string, priors map[string]Prior, opt Options) {
	if err := roomFor(ctx, 0, opt); err != nil {
		o.Status, o.Reason = outcome.Deferred, err.Error()
		return
	}
	key := strings.ToLower(t.Key())
	if opt.Suppress != nil && opt.SuppressWindow > 0 {
		at, alertID, err := lastRevoke(ctx, key, priors, opt)
		switch {
		case err != nil:
			// Suppression keeps a travelling user from being signed out twice; it guards
			// nobody. When it cannot be read, revoking again is the safe side.
			note = join(note, "suppression state not read ("+short(err)+"): revoked without checking it")
		case opt.Sweep && !at.IsZero() && alertID == t.AlertID && t.AlertID != "":
			// An earlier attempt of this very chunk (its id names the run and the chunk)
			// revoked them: a revoke Graph accepted, counted as the sweep's own.
			o.Status, o.Reason = outcome.Revoked, join("revoked at "+at.UTC().Format(time.RFC3339)+" by an earlier attempt of this chunk", note)
			return
		case !at.IsZero() && time.Since(at) < opt.SuppressWindow:
			o.Status = outcome.Suppressed
			o.Reason = join(fmt.Sprintf("revoked by this function at %s for alert %s, within SUPPRESS_MINUTES=%d", at.UTC().Format(time.RFC3339), alertID, int(opt.SuppressWindow/time.Minute)), note)
			return
		}
	}
	if opt.Budget != nil {
		ok, why, err := opt.Budget.Take(ctx, t.Approved)
		switch {
		case err != nil && !t.Approved:
			// The circuit breaker guards the tenant against mass sign-out: unread, it fails
			// closed, and Lambda's retry tries again.
			o.Status, o.Reason = outcome.Failed, "not revoked: the revoke budget could not be checked ("+short(err)+")"
			return
		case err != nil:
			note = join(note, "approved; the revoke budget could not count it ("+short(err)+")")
		case !ok:
			o.Status, o.Reason = outcome.NeedsApproval, why
			return
		}
	}
	if opt.Pacer != nil {
		if !opt.Sweep {
			// An alert never waits for its pacing, nor for a store that cannot count it.
			if err := opt.Pacer.Alert(ctx); err != nil {
				note = join(note, "write not counted by the pacer ("+short(err)+")")
			}
		} else if err := opt.Pacer.Sweep(ctx); err != nil {
			o.Status, o.Reason = outcome.Deferred, join("deferred: waiting for Graph's write quota ("+short(err)+")", note)
			return
		}
	}
	// Graph stores the new validity time in whole seconds.
	called := time.Now().UTC().Truncate(time.Second)
	err := attempt(ctx, opt, o, "POST revokeSignInSessions", key, func(ctx context.Context) (Call, error) { return g.RevokeSignInSessions(ctx, key) })
	var ge *Error
	switch {
	case err == nil:
		o.Status, o.Reason = outcome.Revoked, note
		if opt.Suppress != nil && opt.SuppressWindow > 0 {
			if err := opt.Suppress.RecordRevoke(context.WithoutCancel(ctx), key, called, opt.SuppressWindow, t.AlertID); err != nil {
				o.Reason = join(o.Reason, "not recorded for suppression ("+short(err)+"): a new alert within the window revokes again")
			}
		}
		if opt.Verify {
			verify(ctx, g, key, o, opt, called)
		}
	case errors.Is(err, errDeadline):
		o.Status, o.Reason = outcome.Deferred, join(err.Error(), note)
	case errors.As(err, &ge) && ge.Kind == NotFound:
		o.Status, o.Reason = outcome.NotFound, "no such user in the tenant (404 "+ge.Code+")"
	default:
		o.Status, o.Reason = outcome.Failed, join(failure(err, o.Attempts), note)
	}
}

// verify reads the user back. Revoked stands when the read itself fails: the revoke did
// get its 2xx, only the evidence is missing, and the reason says so. A value older than
// the call is read again, a few times, before it is called a mismatch: a directory
// replica may answer with the old value for a moment after the write.
func verify(ctx context.Context, g Graph, key string, o *outcome.Outcome, opt Options, called time.Time) {
	revokeID, revokeClientID := o.RequestID, o.ClientRequestID
	// The audit trail keeps the revoke call's ids: they are the evidence of the revoke.
	defer func() { o.RequestID, o.ClientRequestID = revokeID, revokeClientID }()
	for n := 1; ; n++ {
		u, err := readUser(ctx, g, key, o, opt)
		switch {
		case err != nil:
			o.Reason = join(o.Reason, "not verified: reading signInSessionsValidFromDateTime failed ("+short(err)+"); the app needs User.Read.All")
			return
		case u.SignInSessionsValidFrom.IsZero():
			o.Reason = join(o.Reason, "not verified: Graph returned no signInSessionsValidFromDateTime")
			return
		case !u.SignInSessionsValidFrom.Before(called):
			o.Status = outcome.Verified
			return
		case n < opt.VerifyReads && roomFor(ctx, backoff(n, opt), opt) == nil && opt.Sleep(ctx, backoff(n, opt)) == nil:
			continue
		}
		o.Status = outcome.Failed
		o.Reason = fmt.Sprintf("Graph accepted the revoke but signInSessionsValidFromDateTime is %s, before the call at %s, after %d reads", u.SignInSessionsValidFrom.UTC().Format(time.RFC3339), called.Format(time.RFC3339), n)
		return
	}
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// readUser is Graph's User call with the same retries as the revoke.
func readUser(ctx context.Context, g Graph, key string, o *outcome.Outcome, opt Options) (User, error) {
	var u User
	err := attempt(ctx, opt, o, "GET user", key, func(ctx context.Context) (Call, error) {
		var c Call
		var err error
		u, c, err = g.User(ctx, key)
		return c, err
	})
	return u, err
}

// errDeadline marks giving up because the invocation's time is nearly spent.
var errDeadline = errors.New("deferred: the invocation's deadline was too near to try again")

// attempt makes one call, retrying throttling and transient failures with backoff, and
// records the request ids and attempt count on o. A Retry-After the deadline cannot wait
// for defers the call: the retry (Lambda's) then comes when Graph allows it.
func attempt(ctx context.Context, opt Options, o *outcome.Outcome, op, key string, call func(context.Context) (Call, error)) error {
	for n := 1; ; n++ {
		if err := roomFor(ctx, 0, opt); err != nil {
			return err
		}
		// A call may not run into the margin: a process Lambda kills at its timeout
		// writes no outcome.
		callDeadline := time.Now().Add(opt.CallTimeout)
		if d, ok := ctx.Deadline(); ok && d.Add(-opt.Margin).Before(callDeadline) {
			callDeadline = d.Add(-opt.Margin)
		}
		cctx, cancel := context.WithDeadline(ctx, callDeadline)
		began := time.Now()
		c, err := call(cctx)
		took := time.Since(began)
		cancel()
		o.Attempts++
		if c.RequestID != "" {
			o.RequestID, o.ClientRequestID = c.RequestID, c.ClientRequestID
		}
		var ge *Error
		isGraph := errors.As(err, &ge)
		debugCall(opt.Log, op, key, o, n, c, err, ge, took)
		if opt.Pacer != nil {
			limit := c.Limit
			if isGraph && ge.Limit > limit {
				limit = ge.Limit
			}
			opt.Pacer.Observe(limit)
		}
		if err == nil {
			return nil
		}
		if isGraph && ge.Kind == Throttled {
			o.Throttled++
		}
		if !isGraph || !ge.Retryable() || n >= opt.MaxAttempts {
			return err
		}
		wait := ge.RetryAfter
		if wait <= 0 {
			wait = backoff(n, opt)
		}
		if err := roomFor(ctx, wait, opt); err != nil {
			return fmt.Errorf("%w (last: %s; Graph asked to wait %v)", err, short(ge), wait.Round(time.Millisecond))
		}
		if err := opt.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (last: %s)", errDeadline, short(ge))
		}
	}
}

// debugCall writes one DEBUG line per Graph call: what was called for whom, the HTTP
// status ("2xx" for a success, whose exact code the SDK does not surface; 0 when no
// response came), Graph's error code and request ids. Never a token or a body.
func debugCall(log *slog.Logger, op, key string, o *outcome.Outcome, n int, c Call, err error, ge *Error, took time.Duration) {
	if log == nil || !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	status, code := "2xx", ""
	switch {
	case ge != nil:
		status, code = fmt.Sprint(ge.Status), ge.Code
		if c.RequestID == "" {
			c = ge.Call
		}
	case err != nil:
		status = "error"
	}
	log.Debug("graph call", "op", op, "user", key, "alertId", o.AlertID, "userId", o.UserID, "userPrincipalName", o.UserPrincipalName,
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
