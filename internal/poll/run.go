package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/wait"
)

// Lister reads one page of a listing.
type Lister interface {
	// ListAlerts GETs link: a path relative to the Graph version root (FirstPage) or an
	// @odata.nextLink Graph returned. Errors are *revoke.Error, classified.
	ListAlerts(ctx context.Context, link string) (Page, error)
}

// Page is one page of a listing: its items as Graph sent them, and the link to the next
// page ("" on the last).
type Page struct {
	Items []json.RawMessage
	Next  string
}

// Store keeps what must outlive an invocation (the state table): each source's
// watermark, held by one run at a time, and which alerts were acted on.
type Store interface {
	// ClaimWatermark takes key for lease and returns its watermark, the lastUpdate time
	// the next listing starts from (zero before the first run); ErrBusy when another
	// run holds it.
	ClaimWatermark(ctx context.Context, key string, now time.Time, lease time.Duration) (time.Time, error)
	// SaveWatermark records the watermark and keeps the claim.
	SaveWatermark(ctx context.Context, key string, watermark, now time.Time) error
	ReleaseWatermark(ctx context.Context, key string) error

	// ClaimAlert takes the alert for this run, in one conditional write. When won is
	// false, the mark says why: done, given up, or claimed by a run still going. When
	// won, Attempts counts this claim.
	ClaimAlert(ctx context.Context, key string, now time.Time, lease time.Duration) (m Mark, won bool, err error)
	// CompleteAlert marks the alert handled: no poll acts on it again.
	CompleteAlert(ctx context.Context, key string, now time.Time) error
	// ReleaseAlert gives a claim made at claimedAt back, so a later poll tries again.
	ReleaseAlert(ctx context.Context, key string, claimedAt time.Time) error
	// GiveUpAlert marks an alert no retry can handle, by the invocation requestID.
	GiveUpAlert(ctx context.Context, key, requestID, reason string, now time.Time) error
}

// Mark states.
const (
	MarkClaimed = "claimed"
	MarkDone    = "done"
	MarkGivenUp = "given-up"
)

// Mark is what the store holds for one alert.
type Mark struct {
	State     string
	Attempts  int
	RequestID string // given up: the invocation that gave up
	Reason    string // given up: why
}

// ErrBusy says another run of the poll holds the source.
var ErrBusy = errors.New("another run of this poll is in progress")

// Runner runs polls. Decide and Carry are the alert path's two steps, given by the
// handler with its settings, so a polled alert is judged by exactly the rules a pushed
// one is.
type Runner struct {
	Connect func(ctx context.Context) (Lister, error)
	Store   Store
	Decide  func([]alert.Alert) []policy.Decision
	Carry   func(context.Context, []policy.Decision) []outcome.Outcome
	// Pacer spaces listing requests; it outlives the invocation (one per container).
	Pacer *Pacer
	// RequestID is the Lambda request id, which Lambda keeps across its retries of an
	// invocation: the retry of the run that gave an alert up fails the same way, so the
	// failure reaches the failure queue.
	RequestID string
	// DryRun: the deployment's DRY_RUN or the request's; its marks are its own.
	DryRun bool
	// Reserve is the time left below which no further page is begun (default 15 s).
	Reserve time.Duration
	// MaxReads bounds the attempts at one page (default 4); MaxAlertAttempts the polls
	// that try one alert before it is given up (default 3, as Lambda tries an event).
	MaxReads, MaxAlertAttempts int
	Sleep                      func(ctx context.Context, d time.Duration) error
	Now                        func() time.Time
}

// Report is what one invocation of a poll did.
type Report struct {
	Poll    outcome.Poll
	Targets []outcome.Outcome
	// Acted are the alerts whose users went down the alert path, for the result.
	Acted []alert.Alert
	// Passed are the items no rule matched, for the log.
	Passed []Passed
}

// Passed is one item no rule matched.
type Passed struct {
	Source Source
	Facts
}

// Run runs one invocation of s. The error says what keeps the poll from being fully
// handled: the invocation must then fail, as for an alert.
func (r *Runner) Run(ctx context.Context, s Spec) (Report, error) {
	r.defaults()
	rep := Report{Poll: outcome.Poll{Name: s.Name, Sources: []outcome.PollSource{}, Alerts: []outcome.PolledAlert{}}}
	if r.Store == nil {
		return rep, fmt.Errorf("poll %s: no STATE_TABLE: without a watermark every run would act on the same alerts again", s.Name)
	}
	l, err := r.Connect(ctx)
	if err != nil {
		return rep, fmt.Errorf("poll %s: no Graph client: %w", s.Name, err)
	}
	var problems []string
	for _, src := range s.Sources() {
		problems = append(problems, r.source(ctx, s, src, l, &rep)...)
	}
	rep.Poll.NotMatching = len(rep.Passed)
	if len(problems) == 0 {
		return rep, nil
	}
	const most = 3
	if len(problems) > most {
		problems = append(problems[:most], fmt.Sprintf("and %d more", len(problems)-most))
	}
	return rep, fmt.Errorf("poll %s: %s", s.Name, strings.Join(problems, "; "))
}

func (r *Runner) defaults() {
	if r.Reserve <= 0 {
		r.Reserve = 15 * time.Second
	}
	if r.MaxReads <= 0 {
		r.MaxReads = 4
	}
	if r.MaxAlertAttempts <= 0 {
		r.MaxAlertAttempts = 3
	}
	if r.Sleep == nil {
		r.Sleep = wait.For
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Pacer == nil {
		r.Pacer = &Pacer{}
	}
}

// pass is one source's listing in one invocation.
type pass struct {
	src      Source
	ps       *outcome.PollSource
	hold     bool // something keeps the watermark where it is
	problems []string
	seen     map[string]bool
}

func (p *pass) fail(format string, args ...any) {
	p.problems = append(p.problems, string(p.src)+": "+fmt.Sprintf(format, args...))
}

// source lists one source from its window and acts on what matches, page by page.
func (r *Runner) source(ctx context.Context, s Spec, src Source, l Lister, rep *Report) []string {
	rep.Poll.Sources = append(rep.Poll.Sources, outcome.PollSource{Source: string(src)})
	p := &pass{src: src, ps: &rep.Poll.Sources[len(rep.Poll.Sources)-1], seen: map[string]bool{}}
	key := s.WatermarkKey(src, r.DryRun)
	wm, err := r.Store.ClaimWatermark(ctx, key, r.Now(), leaseFor(ctx))
	if errors.Is(err, ErrBusy) {
		// That run is responsible for the listing; a schedule firing again while a slow
		// poll runs is expected.
		p.ps.Busy = true
		return nil
	}
	if err != nil {
		// Fail closed: without the claim two runs could act on one alert.
		p.fail("the watermark could not be read: %v", err)
		return p.problems
	}
	defer func() {
		if err := r.Store.ReleaseWatermark(context.WithoutCancel(ctx), key); err != nil {
			p.fail("the watermark's claim was not released (the next poll waits for its lease): %v", err)
		}
	}()
	start := r.Now()
	from, note := Window(wm, start, s.LookBack, s.Overlap)
	p.ps.From, p.ps.Note = stamp(from), note
	if wm.IsZero() {
		// Pin the first run's window: its retry must read the same alerts.
		if err := r.Store.SaveWatermark(ctx, key, from, start); err != nil {
			p.fail("the first run's watermark was not saved, so nothing was listed: %v", err)
			return p.problems
		}
	}
	link := FirstPage(src, from)
	for link != "" {
		if left, ok := ctx.Deadline(); ok && time.Until(left) < r.Reserve {
			// Not a failure: the next poll reads the same window again, and recognises
			// what this one handled.
			p.hold = true
			p.ps.Note = join(p.ps.Note, fmt.Sprintf("out of time after %d pages: the next poll reads from the same time", p.ps.Pages))
			break
		}
		page, err := r.read(ctx, l, src, link)
		if err != nil {
			p.hold = true
			p.fail("listing page %d: %v; the next poll reads from the same time", p.ps.Pages+1, err)
			break
		}
		p.ps.Pages++
		p.ps.Listed += len(page.Items)
		r.page(ctx, s, p, page.Items, rep)
		if link = page.Next; link != "" && !SameListing(src, link) {
			p.hold = true
			p.fail("the next-page link after page %d leaves %s: not followed", p.ps.Pages, src.Path())
			break
		}
	}
	p.ps.Complete = link == ""
	if p.ps.Complete && !p.hold {
		if err := r.Store.SaveWatermark(ctx, key, Next(start, s.Overlap), r.Now()); err != nil {
			p.fail("every alert was handled but the watermark was not saved (the next poll reads from the same time): %v", err)
		} else {
			p.ps.Advanced = true
		}
	}
	return p.problems
}

// candidate is a matching alert this run claimed.
type candidate struct {
	at        int // in rep.Poll.Alerts
	key       string
	raw       json.RawMessage
	claimedAt time.Time
	attempts  int
}

// page judges one page's items and acts on those that match and are not yet handled.
func (r *Runner) page(ctx context.Context, s Spec, p *pass, items []json.RawMessage, rep *Report) {
	var claimed []candidate
	for i, raw := range items {
		top := delivery.TopLevel(raw)
		f := FactsOf(p.src, top)
		if f.ID == "" {
			// Without an id an alert cannot be told from its next sighting: acting on it
			// could act on it again every minute. Graph always sends one.
			p.fail("item %d of page %d has no id: not acted on", i, p.ps.Pages)
			rep.Poll.Alerts = append(rep.Poll.Alerts, outcome.PolledAlert{Source: string(p.src), Status: outcome.PollGivenUp, Reason: "the item has no id"})
			continue
		}
		if p.seen[f.ID] {
			continue // listed again: a newer alert shifted the page under $skip
		}
		p.seen[f.ID] = true
		rule, ok := s.Match(p.src, f)
		if !ok {
			rep.Passed = append(rep.Passed, Passed{Source: p.src, Facts: f})
			continue
		}
		p.ps.Matched++
		pa := outcome.PolledAlert{Source: string(p.src), ID: f.ID, Title: f.Title, Severity: f.Severity, LastUpdate: f.LastUpdate, Rule: rule}
		if p.src == RiskDetections {
			pa.Title, pa.Severity = f.RiskEventType, f.RiskLevel
		}
		key := AlertKey(p.src, r.DryRun, f.ID)
		now := r.Now()
		m, won, err := r.Store.ClaimAlert(ctx, key, now, leaseFor(ctx))
		switch {
		case err != nil:
			pa.Status, pa.Reason = outcome.PollRetry, "whether it was handled could not be read: "+err.Error()
			p.hold = true
			p.fail("alert %s: %s", f.ID, pa.Reason)
		case won:
			claimed = append(claimed, candidate{at: len(rep.Poll.Alerts), key: key, raw: raw, claimedAt: now, attempts: m.Attempts})
		case m.State == MarkDone:
			pa.Status = outcome.PollAlreadyHandled
		case m.State == MarkGivenUp:
			pa.Status, pa.Reason = outcome.PollGivenUp, m.Reason
			if m.RequestID != "" && m.RequestID == r.RequestID {
				// Lambda's retry of the invocation that gave it up: fail as it did.
				p.fail("alert %s: %s", f.ID, m.Reason)
			}
		default:
			pa.Status, pa.Reason = outcome.PollHeld, "another run is acting on it"
			p.hold = true
		}
		rep.Poll.Alerts = append(rep.Poll.Alerts, pa)
	}
	r.act(ctx, p, claimed, rep)
}

// act sends the claimed alerts down the alert path: each alert is decided on its own (so
// its outcomes are its own, as a pushed alert's are), and the page's decisions are
// carried out together (so revokes run concurrently across alerts).
func (r *Runner) act(ctx context.Context, p *pass, cs []candidate, rep *Report) {
	type span struct {
		c      candidate
		a      alert.Alert
		lo, hi int
	}
	var spans []span
	var all []policy.Decision
	for _, c := range cs {
		a, why := recognise(p.src, c.raw, r.DryRun)
		if why != "" {
			r.giveUp(ctx, p, c, rep, why)
			continue
		}
		ds := r.Decide([]alert.Alert{a})
		spans = append(spans, span{c: c, a: a, lo: len(all), hi: len(all) + len(ds)})
		all = append(all, ds...)
	}
	if len(spans) == 0 {
		return
	}
	outs := r.Carry(ctx, all)
	for _, sp := range spans {
		ts := outs[sp.lo:sp.hi]
		rep.Targets = append(rep.Targets, ts...)
		rep.Acted = append(rep.Acted, sp.a)
		pa := &rep.Poll.Alerts[sp.c.at]
		pa.Format, pa.Targets = sp.a.Format, len(ts)
		if sp.a.Title != "" {
			pa.Title = sp.a.Title
		}
		var bad []outcome.Outcome
		var approval *outcome.Outcome // the first user held for an operator, and why
		for i, t := range ts {
			if t.Status.Unhandled() {
				bad = append(bad, t)
				if approval == nil && t.Status == outcome.NeedsApproval {
					approval = &ts[i]
				}
			}
		}
		switch {
		case len(bad) == 0:
			pa.Status = outcome.PollActed
			if err := r.Store.CompleteAlert(ctx, sp.c.key, r.Now()); err != nil {
				pa.Reason = "handled, but not marked so: the next poll may act on it again"
				p.fail("alert %s: handled, but its mark was not saved: %v", pa.ID, err)
			}
		case approval != nil:
			// The blast radius, the delivery's revoke budget or the circuit breaker: the
			// user's own reason says which, and an operator's approval is what it waits for.
			r.giveUp(ctx, p, sp.c, rep, fmt.Sprintf("needs approval (%s); revoke them with an approved direct request (%d of its %d users, in the audit log)", first([]outcome.Outcome{*approval}), outcome.Summarise(ts)[outcome.NeedsApproval], len(ts)))
		case sp.c.attempts >= r.MaxAlertAttempts:
			r.giveUp(ctx, p, sp.c, rep, fmt.Sprintf("not handled after %d polls: %s", sp.c.attempts, first(bad)))
		default:
			pa.Status = outcome.PollRetry
			pa.Reason = fmt.Sprintf("%d of %d users not handled (%s); the next poll tries again (attempt %d of %d)", len(bad), len(ts), first(bad), sp.c.attempts, r.MaxAlertAttempts)
			p.hold = true
			p.fail("alert %s: %s", pa.ID, pa.Reason)
			if err := r.Store.ReleaseAlert(context.WithoutCancel(ctx), sp.c.key, sp.c.claimedAt); err != nil {
				pa.Reason += "; its claim was not released, so the retry waits for its lease"
			}
		}
	}
}

// giveUp marks an alert no retry of the poll can handle, and fails this invocation (and
// Lambda's retries of it) so that the failure queue shows it.
func (r *Runner) giveUp(ctx context.Context, p *pass, c candidate, rep *Report, why string) {
	pa := &rep.Poll.Alerts[c.at]
	pa.Status, pa.Reason = outcome.PollGivenUp, why
	p.fail("alert %s: %s", pa.ID, why)
	if err := r.Store.GiveUpAlert(context.WithoutCancel(ctx), c.key, r.RequestID, why, r.Now()); err != nil {
		// The claim stays until its lease ends; the next poll then tries it again.
		p.hold = true
		pa.Reason += "; not marked given up: " + err.Error()
	}
}

func first(bad []outcome.Outcome) string {
	t := bad[0]
	who := t.UserPrincipalName
	if who == "" {
		who = t.UserID
	}
	if who == "" {
		who = fmt.Sprintf("%q", t.Identifier)
	}
	return fmt.Sprintf("%s %s: %s", who, t.Status, t.Reason)
}

// Graph's types of the two listings' items.
var itemTypes = map[Source]struct{ odataType, format string }{
	Alerts:         {"#microsoft.graph.security.alert", "graph-security-alert"},
	RiskDetections: {"#microsoft.graph.riskDetection", "entra-risk-detection"},
}

// recognise reads a listed item as the alert format a pushed copy of it is read by. A
// listing is typed, so Graph may leave @odata.type out of its items; it is added then.
// why is non-empty when the item is not an alert of the listing's format that names
// a user: no retry can change that.
func recognise(src Source, raw json.RawMessage, dryRun bool) (a alert.Alert, why string) {
	it := itemTypes[src]
	body := raw
	if delivery.TopLevel(raw).String("@odata.type") == "" {
		body = typed(raw, it.odataType)
	}
	as, err := alert.Recognise(delivery.Record{Body: body, Top: delivery.TopLevel(body)})
	switch {
	case err != nil:
		return a, "not readable as " + it.format + ": " + err.Error()
	case len(as) != 1 || as[0].Format != it.format:
		return a, "not a single " + it.format
	case len(as[0].Principals) == 0:
		why = "names no user"
		if as[0].NoUsers != "" {
			why += " (" + as[0].NoUsers + ")"
		}
		return a, why + ": nothing to revoke"
	}
	a = as[0]
	a.DryRun = a.DryRun || dryRun
	return a, ""
}

// typed returns the object raw with "@odata.type" set first.
func typed(raw json.RawMessage, odataType string) json.RawMessage {
	member := `{"@odata.type":"` + odataType + `"`
	i := 1
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	if i < len(raw) && raw[i] == '}' {
		return json.RawMessage(member + "}")
	}
	return json.RawMessage(member + "," + string(raw[1:]))
}

// read gets one page, paced, retrying what a retry can fix. Identity Protection sends no
// Retry-After: its backoff starts at a second, its rate.
func (r *Runner) read(ctx context.Context, l Lister, src Source, link string) (Page, error) {
	for n := 1; ; n++ {
		if err := r.Pacer.Wait(ctx, src, r.Now, r.Sleep); err != nil {
			return Page{}, err
		}
		p, err := l.ListAlerts(ctx, link)
		var gerr *revoke.Error
		if err == nil || !errors.As(err, &gerr) || !gerr.Retryable() || n == r.MaxReads {
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

// Pacer spaces one container's listing requests per source: Graph allows 150 requests a
// minute per app and tenant on /security, and Identity Protection one a second per
// tenant, for every app together, answering 429 without Retry-After beyond it.
type Pacer struct {
	// IdentityProtection, when set, is the tenant's one request a second to Identity
	// Protection shared by every container (package pace, through the state table), so
	// that the poll and the risky-user sweep never exceed it together.
	IdentityProtection interface {
		Sweep(ctx context.Context) error
	}

	mu   sync.Mutex
	next map[Source]time.Time
}

// Interval is the least time between two requests to src's listing.
func Interval(src Source) time.Duration {
	if src == RiskDetections {
		return time.Second
	}
	return 400 * time.Millisecond // 150 a minute
}

// Wait returns when a request to src may be sent, and books that slot.
func (p *Pacer) Wait(ctx context.Context, src Source, now func() time.Time, sleep func(context.Context, time.Duration) error) error {
	p.mu.Lock()
	if p.next == nil {
		p.next = map[Source]time.Time{}
	}
	t := now()
	at := p.next[src]
	if at.Before(t) {
		at = t
	}
	p.next[src] = at.Add(Interval(src))
	p.mu.Unlock()
	if d := at.Sub(t); d > 0 {
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if src == RiskDetections && p.IdentityProtection != nil {
		return p.IdentityProtection.Sweep(ctx)
	}
	return nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// leaseFor holds a claim for the rest of the invocation, at least a minute: a run that
// dies without releasing it frees it when Lambda would have ended it anyway.
func leaseFor(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok && time.Until(d) > time.Minute {
		return time.Until(d) + 5*time.Second
	}
	return time.Minute
}
