package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

// Lister reads one page of a listing.
type Lister interface {
	// ListUsers GETs link: a path relative to the Graph version root (FirstPage) or an
	// @odata.nextLink Graph returned. Errors are *revoke.Error, classified.
	ListUsers(ctx context.Context, link string) (Page, error)
}

// Page is one page of users and the link to the next ("" on the last).
type Page struct {
	Users []alert.Principal
	Next  string
}

// Cursors keeps an approved sweep's progress across invocations (the state table). The
// claim is a lease, so two runs of one sweep (a schedule firing while the previous run
// is still going) never work on it at once.
type Cursors interface {
	// ClaimSweep takes the sweep for lease and returns where it stopped ("" to start
	// afresh); ErrBusy when another run holds it.
	ClaimSweep(ctx context.Context, name string, now time.Time, lease time.Duration) (next string, err error)
	// SaveSweep records the next page to read and keeps the claim; "" means the sweep is
	// complete and its progress is deleted.
	SaveSweep(ctx context.Context, name, next string, now time.Time) error
	// ReleaseSweep ends the claim, keeping the progress.
	ReleaseSweep(ctx context.Context, name string) error
}

// ErrBusy says another run of the sweep holds it.
var ErrBusy = errors.New("another run of this sweep is in progress")

// Runner runs sweeps. Decide and Carry are the alert path's two steps, given by the
// handler with its settings, so a sweep is judged by exactly the same rules.
type Runner struct {
	Connect func(ctx context.Context) (Lister, error)
	Cursors Cursors // nil: a sweep must finish within one invocation
	Decide  func([]alert.Alert) []policy.Decision
	Carry   func(context.Context, []policy.Decision) []outcome.Outcome
	// MaxTargets (MAX_TARGETS_PER_SWEEP) is the blast radius of a sweep that is not
	// approved: listing more users than this revokes nobody. 0 means no bound.
	MaxTargets int
	// Reserve is the time left in the invocation below which no further page is begun
	// (default 20 s): a page's revokes, its cursor write and the result need it.
	Reserve     time.Duration
	MaxAttempts int                                              // per page read (default 4)
	Sleep       func(ctx context.Context, d time.Duration) error // tests replace it
	Now         func() time.Time
	// DryRun is DRY_RUN: with the spec's own dryRun, it keeps a dry run's progress apart
	// from the live run's.
	DryRun bool
	// Observe is given each page's outcomes as soon as they are known, so that they are
	// audited as they happen: an invocation killed at its timeout loses no audit line,
	// and memory does not grow with the sweep.
	Observe func([]outcome.Outcome)
	// Sample bounds the outcomes a Report keeps (default 200), unhandled ones first.
	Sample int
}

// Report is what one invocation of a sweep did.
type Report struct {
	// Summary counts every outcome; Targets is a sample of them (unhandled first), and
	// Omitted how many the sample left out. Every outcome went to Observe.
	Summary map[outcome.Status]int
	Targets []outcome.Outcome
	Omitted int
	Pages   int // pages read in this invocation
	Listed  int // users listed in this invocation
	// Complete: the listing reached its end in this invocation. Otherwise Continues
	// says whether progress was saved for the next run.
	Complete  bool
	Continues bool
	Resumed   bool // started where a previous run stopped
	Restarted bool // a saved place that was not this sweep's listing was dropped
	// Busy: another run of the sweep holds it; this one did nothing. Not a failure:
	// that run is responsible for the work, and a schedule firing again while a long
	// sweep runs is expected.
	Busy bool
}

// Run runs one invocation of s. The error says what keeps the sweep from being fully
// handled: the invocation must then fail, as for an alert.
func (r *Runner) Run(ctx context.Context, s Spec) (Report, error) {
	r.defaults()
	lister, err := r.Connect(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("sweep %s: no Graph client: %w", s.Name, err)
	}
	if !s.Approved {
		return r.bounded(ctx, s, lister)
	}
	return r.paged(ctx, s, lister)
}

func (r *Runner) defaults() {
	if r.Sample <= 0 {
		r.Sample = 200
	}
	if r.Reserve <= 0 {
		r.Reserve = 20 * time.Second
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 4
	}
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	if r.Now == nil {
		r.Now = time.Now
	}
}

// bounded lists everything first, at most MaxTargets+1 users, and acts only when the
// listing ended within the bound: a wrong group id (All Users) revokes nobody.
func (r *Runner) bounded(ctx context.Context, s Spec, l Lister) (Report, error) {
	var rep Report
	var users []alert.Principal
	link := s.FirstPage()
	for link != "" {
		p, err := r.read(ctx, l, link)
		if err != nil {
			return rep, fmt.Errorf("sweep %s: listing %s, page %d: %w", s.Name, s.Source(), rep.Pages+1, err)
		}
		rep.Pages++
		users = append(users, p.Users...)
		link = p.Next
		if r.MaxTargets > 0 && len(users) > r.MaxTargets {
			rep.Listed = len(users)
			rep.add(r, r.askApproval(s, users, link != ""))
			return rep, fmt.Errorf("sweep %s: %d users listed%s, more than MAX_TARGETS_PER_SWEEP=%d: nobody was revoked; approve it with \"approved\": true in the schedule's input, or raise the limit",
				s.Name, len(users), more(link != ""), r.MaxTargets)
		}
	}
	rep.Listed, rep.Complete = len(users), true
	unhandled := 0
	for n := 0; n*pageSize < len(users); n++ {
		chunk := users[n*pageSize : min((n+1)*pageSize, len(users))]
		unhandled += rep.add(r, r.act(ctx, s, chunk, n+1))
	}
	if unhandled > 0 {
		return rep, fmt.Errorf("sweep %s: %d of %d users not handled (failed, deferred or needing approval); the retry lists the users again", s.Name, unhandled, len(users))
	}
	return rep, nil
}

// add counts a page's outcomes, keeps them in the sample while it has room (an unhandled
// one displaces a handled one), hands them to Observe, and returns how many were not
// handled.
func (rep *Report) add(r *Runner, ts []outcome.Outcome) int {
	if r.Observe != nil && len(ts) > 0 {
		r.Observe(ts)
	}
	if rep.Summary == nil {
		rep.Summary = map[outcome.Status]int{}
	}
	unhandled := 0
	for _, t := range ts {
		rep.Summary[t.Status]++
		switch {
		case len(rep.Targets) < r.Sample:
			rep.Targets = append(rep.Targets, t)
		case t.Status.Unhandled():
			if i := slices.IndexFunc(rep.Targets, func(k outcome.Outcome) bool { return !k.Status.Unhandled() }); i >= 0 {
				rep.Targets[i] = t
			}
			rep.Omitted++
		default:
			rep.Omitted++
		}
		if t.Status.Unhandled() {
			unhandled++
		}
	}
	return unhandled
}

// count counts the targets that keep a sweep from being fully handled.
func count(ts []outcome.Outcome) int {
	n := 0
	for _, t := range ts {
		if t.Status.Unhandled() {
			n++
		}
	}
	return n
}

func more(cut bool) string {
	if cut {
		return " and more not read"
	}
	return ""
}

// askApproval decides the listed users only to report them, each needing approval.
func (r *Runner) askApproval(s Spec, users []alert.Principal, cut bool) []outcome.Outcome {
	ds := r.Decide([]alert.Alert{page(s, users, 1)})
	out := make([]outcome.Outcome, len(ds))
	for i, d := range ds {
		out[i] = outcome.Outcome{UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Identifier: d.Identifier,
			Format: Format, AlertID: d.AlertID, Status: d.Status, Reason: d.Reason}
		if d.Revoke {
			out[i].Status = outcome.NeedsApproval
			out[i].Reason = fmt.Sprintf("sweep %s lists more than MAX_TARGETS_PER_SWEEP=%d users%s: nobody was revoked", s.Name, r.MaxTargets, more(cut))
		}
	}
	return out
}

// paged works page by page, saving where it is after each page fully handled, so that
// an invocation's end (or a failure) never loses or repeats a page's worth of work.
func (r *Runner) paged(ctx context.Context, s Spec, l Lister) (rep Report, err error) {
	link := s.FirstPage()
	key := s.StateKey(r.DryRun)
	if r.Cursors != nil {
		next, err := r.Cursors.ClaimSweep(ctx, key, r.Now(), leaseFor(ctx))
		if errors.Is(err, ErrBusy) {
			rep.Busy = true
			return rep, nil
		}
		if err != nil {
			// Fail closed: without the claim two runs could work on one page.
			return rep, fmt.Errorf("sweep %s: progress not readable: %w", s.Name, err)
		}
		defer func() {
			if rerr := r.Cursors.ReleaseSweep(context.WithoutCancel(ctx), key); rerr != nil && err == nil && !rep.Complete {
				err = fmt.Errorf("sweep %s: progress kept but its claim not released (the next run waits for the lease): %w", s.Name, rerr)
			}
		}()
		switch {
		case next != "" && s.OwnsLink(next):
			link, rep.Resumed = next, true
		case next != "":
			// Not this sweep's listing: a state item written by something else. Starting
			// over loses nothing; users revoked within the window are suppressed.
			rep.Restarted = true
		}
	}
	for {
		p, err := r.read(ctx, l, link)
		if err != nil && rep.Resumed && rep.Pages == 0 && isBadRequest(err) {
			// A saved next link can go stale (Graph's skip tokens expire): start over;
			// users already revoked within the suppression window are suppressed.
			link, rep.Resumed = s.FirstPage(), false
			p, err = r.read(ctx, l, link)
		}
		if err != nil {
			return rep, fmt.Errorf("sweep %s: listing %s, page %d: %w%s", s.Name, s.Source(), rep.Pages+1, err, r.kept(ctx, s, key, link))
		}
		rep.Pages++
		rep.Listed += len(p.Users)
		if rep.add(r, r.act(ctx, s, p.Users, rep.Pages)) > 0 {
			// The page is read again next time: its revoked users are then suppressed,
			// its failed and deferred ones tried again.
			return rep, fmt.Errorf("sweep %s: page %d not fully handled%s", s.Name, rep.Pages, r.kept(ctx, s, key, link))
		}
		if p.Next != "" && !s.OwnsLink(p.Next) {
			return rep, fmt.Errorf("sweep %s: page %d's next link is not this sweep's listing: not followed%s", s.Name, rep.Pages, r.kept(ctx, s, key, link))
		}
		link = p.Next
		if r.Cursors != nil {
			if err := r.Cursors.SaveSweep(ctx, key, link, r.Now()); err != nil {
				return rep, fmt.Errorf("sweep %s: progress after page %d not saved: %w", s.Name, rep.Pages, err)
			}
		}
		if link == "" {
			rep.Complete = true
			return rep, nil
		}
		if left, ok := ctx.Deadline(); ok && time.Until(left) < r.Reserve {
			if r.Cursors == nil {
				return rep, fmt.Errorf("sweep %s: out of time after %d pages with more to list, and no STATE_TABLE to continue from: the next run starts over", s.Name, rep.Pages)
			}
			rep.Continues = true
			return rep, nil
		}
	}
}

// kept says, for an error, whether the next run picks up from here.
func (r *Runner) kept(ctx context.Context, s Spec, key, link string) string {
	if r.Cursors == nil {
		return ""
	}
	if err := r.Cursors.SaveSweep(context.WithoutCancel(ctx), key, link, r.Now()); err != nil {
		return "; progress not saved: " + err.Error()
	}
	return "; the next run resumes at this page"
}

// act sends one page's users down the alert path.
func (r *Runner) act(ctx context.Context, s Spec, users []alert.Principal, n int) []outcome.Outcome {
	if len(users) == 0 {
		return nil
	}
	return r.Carry(ctx, r.Decide([]alert.Alert{page(s, users, n)}))
}

// page makes an alert of a page: approved, since the sweep's own bound has been applied
// (and a sweep is an operator's, never an alert's: it does not use up the revokes alerts
// may make), and listed, since its users are Graph's own answer.
func page(s Spec, users []alert.Principal, n int) alert.Alert {
	return alert.Alert{Format: Format, ID: fmt.Sprintf("%s/page-%d", s.Name, n), Title: s.Source(),
		Principals: users, DryRun: s.DryRun, Reason: s.Reason, Approved: true, Listed: true}
}

// read gets one page, retrying what a retry can fix, honouring Retry-After.
func (r *Runner) read(ctx context.Context, l Lister, link string) (Page, error) {
	for n := 1; ; n++ {
		p, err := l.ListUsers(ctx, link)
		var gerr *revoke.Error
		if err == nil || !errors.As(err, &gerr) || !gerr.Retryable() || n == r.MaxAttempts {
			return p, err
		}
		wait := gerr.RetryAfter
		if wait <= 0 {
			wait = time.Duration(1<<(n-1)) * time.Second
		}
		if left, ok := ctx.Deadline(); ok && time.Until(left)-wait < r.Reserve/2 {
			return p, fmt.Errorf("%w (no time left to wait %v and retry)", err, wait)
		}
		if serr := r.Sleep(ctx, wait); serr != nil {
			return p, err
		}
	}
}

func isBadRequest(err error) bool {
	var gerr *revoke.Error
	return errors.As(err, &gerr) && gerr.Kind == revoke.BadRequest
}

// leaseFor holds the sweep for the rest of the invocation, at least a minute: a run
// that dies without releasing it frees it when Lambda would have ended it anyway.
func leaseFor(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok && time.Until(d) > time.Minute {
		return time.Until(d) + 5*time.Second
	}
	return time.Minute
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
