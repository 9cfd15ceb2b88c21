package sweep

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/wait"
)

// The engine runs a sweep of any size to completion on an SQS work queue, consumed by the
// sweep function with partial batch failures:
//
//   - Start (a direct invocation or EventBridge Scheduler) checks the spec and the blast
//     radius, records a run in the state table and queues the first plan step.
//   - A plan step lists one Graph page (or reads the whole explicit list), cuts it into
//     chunks of ChunkSize users, queues them and the next plan step, and records what it
//     planned. A plan step is applied once: the run's step number is its condition.
//   - A chunk is revoked by whichever consumer takes it, paced by the app's write quota,
//     and recorded done once: its sequence number is added to the run's set of done
//     chunks in the same conditional write as its counts. A chunk with a user not handled
//     (failed, deferred) is retried by SQS; the users its earlier attempts revoked are
//     recognised (their revoke records name this chunk) and reported revoked, not
//     revoked twice. After MaxReceives attempts it is poison: it goes to the failure queue
//     with each user's reason, and counts as done.
//   - The consumer that records the last chunk of a run whose listing is complete
//     publishes the run's summary (totals per status) to the result bus, once.
//
// Nothing is lost when an invocation dies: an unfinished message comes back after the
// queue's visibility timeout, and every step is idempotent.

// ChunkSize is the users one chunk revokes: about five seconds of Graph's write quota, so
// a retried chunk repeats little and a consumer never nears its timeout.
const ChunkSize = 100

// Work is one message on the sweep queue.
type Work struct {
	Sweep string `json:"sweep"` // the sweep's name: its run's key
	Run   string `json:"run"`   // the run it belongs to; another run's work is dropped
	Plan  *Plan  `json:"plan,omitempty"`
	Chunk *Chunk `json:"chunk,omitempty"`
}

// Plan is one plan step: the Graph page to read ("" for the first), or the explicit list.
type Plan struct {
	Step int    `json:"step"`
	Link string `json:"link,omitempty"`
}

// Chunk is users to revoke.
type Chunk struct {
	Seq   int      `json:"seq"`
	Users []Member `json:"users"`
}

// Member is a user in a chunk: from a Graph listing (its ids and type are Graph's) or an
// explicit list's line (a claim, looked up like an alert's).
type Member struct {
	ID   string `json:"id,omitempty"`
	UPN  string `json:"upn,omitempty"`
	Type string `json:"type,omitempty"`
}

// Run is a sweep run as the state table keeps it.
type Run struct {
	ID          string
	Name        string
	Spec        Spec
	DryRun      bool
	StartedAt   time.Time
	UpdatedAt   time.Time
	Step        int  // the next plan step to apply
	Listed      int  // users listed or read so far
	Planned     int  // chunks queued
	Done        int  // chunks recorded done
	ListingDone bool // no plan step remains
	Stopped     bool // an operator stopped it
	StopReason  string
	Summarized  bool
	// ListSHA is the SHA-256 of an S3 list as Start read it: the plan step reads the
	// object again and refuses it if it changed, so what was checked is what is swept.
	ListSHA string
	Counts  map[outcome.Status]int
}

// Complete reports whether every chunk the run planned is done.
func (r Run) Complete() bool { return r.ListingDone && r.Done >= r.Planned }

// Progress is the state table as the engine sees it.
type Progress interface {
	// Start records a new run of spec under its name, unless a run of that name is active
	// (not complete, and updated within stale); then active is that run.
	Start(ctx context.Context, run Run, stale time.Duration) (started bool, active Run, err error)
	Get(ctx context.Context, name string) (Run, bool, error)
	// Planned applies plan step step (once: only if the run's Step is step): users listed,
	// chunks queued, whether the listing is done, and the counts of lines refused.
	Planned(ctx context.Context, name, run string, step, listed, chunks int, done bool, counts map[outcome.Status]int) (Run, bool, error)
	// ChunkDone records chunk seq done with its counts (once: only if seq is not yet done).
	ChunkDone(ctx context.Context, name, run string, seq int, counts map[outcome.Status]int) (Run, bool, error)
	// Summarized marks the run's summary published; first is false when it already was.
	Summarized(ctx context.Context, name, run string) (first bool, err error)
	Stop(ctx context.Context, name, reason string) (Run, bool, error)
}

// Queue is the sweep work queue.
type Queue interface {
	Send(ctx context.Context, work []Work) error
}

// Objects reads explicit lists from S3, only from where the deployment allows.
type Objects interface {
	Read(ctx context.Context, o Object) ([]byte, error)
}

// Waiter paces calls (package pace); nil does not wait.
type Waiter interface {
	Sweep(ctx context.Context) error
}

// Engine runs sweeps. Decide and Carry are the alert path's two steps, given with the
// settings, so a sweep is judged by exactly the rules an alert is.
type Engine struct {
	Progress Progress
	Queue    Queue
	Lister   func(ctx context.Context) (Lister, error)
	Objects  Objects // nil: explicit lists in S3 are not configured
	Decide   func([]alert.Alert) []policy.Decision
	Carry    func(context.Context, []policy.Decision) []outcome.Outcome
	// Observe is given every outcome as soon as it is known: audit lines and metrics.
	Observe func([]outcome.Outcome)
	// Publish sends a finished run's summary to the result bus.
	Publish func(context.Context, Summary) error
	// Fail sends a poison chunk, with each user's outcome, to the failure queue.
	Fail func(context.Context, Poison) error
	// IdentityProtection paces the risky-user listing: Graph allows its endpoints one
	// request a second per tenant, across all apps, and sends no Retry-After.
	IdentityProtection Waiter
	// MaxTargets (MAX_TARGETS_PER_SWEEP) is the blast radius of a sweep not approved.
	MaxTargets int
	// MaxReceives is how many times a chunk is tried before it is poison (default 5).
	MaxReceives int
	DryRun      bool // DRY_RUN
	Now         func() time.Time
	NewRunID    func() string
}

// Summary is what a finished run reports: one event on the result bus.
type Summary struct {
	Name      string                 `json:"name"`
	Run       string                 `json:"run"`
	Source    string                 `json:"source"`
	DryRun    bool                   `json:"dryRun"`
	Approved  bool                   `json:"approved"`
	Stopped   bool                   `json:"stopped,omitempty"`
	StartedAt time.Time              `json:"startedAt"`
	EndedAt   time.Time              `json:"endedAt"`
	Listed    int                    `json:"listed"`
	Chunks    int                    `json:"chunks"`
	Totals    map[outcome.Status]int `json:"totals"`
}

// Poison is a chunk given up on.
type Poison struct {
	Sweep, Run string
	Seq        int
	Attempts   int
	Outcomes   []outcome.Outcome
}

// staleRun is how long a run may go without progress before a new Start may replace it:
// longer than any plan step or chunk (seconds) and the queue's retries (minutes).
const staleRun = 6 * time.Hour

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now().UTC()
}

func (e *Engine) maxReceives() int {
	if e.MaxReceives > 0 {
		return e.MaxReceives
	}
	return 5
}

// Started is what Start reports.
type Started struct {
	Run     Run
	Started bool // false: a run of this name is already going (Run is it)
	// Targets are the users a sweep over its blast radius listed, each needs-approval.
	Targets []outcome.Outcome
}

// Start begins a run of s. The blast radius is checked before anything is queued: a
// sweep not approved lists at most MaxTargets+1 users first, and one that lists more
// starts nothing (its users are reported needs-approval, and the error says so). An
// explicit list is read and checked whole before anyone is revoked.
func (e *Engine) Start(ctx context.Context, s Spec) (Started, error) {
	dry := s.DryRun || e.DryRun
	var listed int
	var listSHA string
	if s.Users != nil || s.List != nil {
		entries, _, sha, err := e.readList(ctx, s)
		if err != nil {
			return Started{}, err
		}
		listSHA = sha
		listed = len(entries)
		if !s.Approved && e.MaxTargets > 0 && listed > e.MaxTargets {
			return Started{Targets: e.askApproval(s, entryMembers(entries)[:e.MaxTargets+1], true)},
				fmt.Errorf("sweep %s: %d users listed, more than MAX_TARGETS_PER_SWEEP=%d: nobody was revoked; approve it with \"approved\": true, or raise the limit", s.Name, listed, e.MaxTargets)
		}
	} else if !s.Approved && e.MaxTargets > 0 {
		users, more, err := e.count(ctx, s)
		if err != nil {
			return Started{}, err
		}
		if len(users) > e.MaxTargets {
			return Started{Targets: e.askApproval(s, users, more)},
				fmt.Errorf("sweep %s: %d users listed%s, more than MAX_TARGETS_PER_SWEEP=%d: nobody was revoked; approve it with \"approved\": true in the schedule's input, or raise the limit", s.Name, len(users), moreText(more), e.MaxTargets)
		}
	}
	id := ""
	if e.NewRunID != nil {
		id = e.NewRunID()
	}
	if id == "" {
		id = fmt.Sprintf("%d", e.now().UnixNano())
	}
	run := Run{ID: id, Name: s.Name, Spec: s, DryRun: dry, StartedAt: e.now(), UpdatedAt: e.now(), ListSHA: listSHA}
	started, active, err := e.Progress.Start(ctx, run, staleRun)
	if err != nil {
		return Started{}, fmt.Errorf("sweep %s: recording the run: %w", s.Name, err)
	}
	if !started {
		return Started{Run: active}, nil
	}
	if err := e.Queue.Send(ctx, []Work{{Sweep: s.Name, Run: id, Plan: &Plan{}}}); err != nil {
		// The run is recorded but will never plan: stop it, so a retry can start afresh.
		if _, _, serr := e.Progress.Stop(context.WithoutCancel(ctx), s.Name, "its first plan step could not be queued"); serr != nil {
			err = fmt.Errorf("%w (and stopping the run: %v)", err, serr)
		}
		return Started{}, fmt.Errorf("sweep %s: queueing its first step: %w", s.Name, err)
	}
	return Started{Run: run, Started: true}, nil
}

// count lists at most MaxTargets+1 users of a Graph listing.
func (e *Engine) count(ctx context.Context, s Spec) (users []alert.Principal, more bool, err error) {
	l, err := e.Lister(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("sweep %s: no Graph client: %w", s.Name, err)
	}
	link := s.FirstPage()
	for pages := 1; link != ""; pages++ {
		p, err := e.page(ctx, s, l, link)
		if err != nil {
			return nil, false, fmt.Errorf("sweep %s: listing %s, page %d: %w", s.Name, s.Source(), pages, err)
		}
		users = append(users, p.Users...)
		link = p.Next
		if len(users) > e.MaxTargets {
			return users, link != "", nil
		}
	}
	return users, false, nil
}

func moreText(more bool) string {
	if more {
		return " and more not read"
	}
	return ""
}

// askApproval decides the listed users only to report them, each needing approval.
func (e *Engine) askApproval(s Spec, users []alert.Principal, more bool) []outcome.Outcome {
	ds := e.Decide([]alert.Alert{pageAlert(s, users, "approval", false)})
	out := make([]outcome.Outcome, len(ds))
	for i, d := range ds {
		out[i] = outcome.Outcome{UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Identifier: d.Identifier,
			Format: Format, AlertID: d.AlertID, Status: d.Status, Reason: d.Reason}
		if d.Revoke {
			out[i].Status = outcome.NeedsApproval
			out[i].Reason = fmt.Sprintf("sweep %s lists more than MAX_TARGETS_PER_SWEEP=%d users%s: nobody was revoked", s.Name, e.MaxTargets, moreText(more))
		}
	}
	return out
}

// Handle does one message's work. An error means the message must come back (the queue
// retries it); a message for another run, or already applied, is done.
func (e *Engine) Handle(ctx context.Context, w Work, receives int) error {
	run, ok, err := e.Progress.Get(ctx, w.Sweep)
	switch {
	case err != nil:
		return fmt.Errorf("sweep %s: reading its run: %w", w.Sweep, err)
	case !ok || run.ID != w.Run:
		return nil // a previous run's work, left when a new run replaced it
	case w.Plan != nil:
		return e.plan(ctx, run, *w.Plan)
	case w.Chunk != nil:
		return e.chunk(ctx, run, *w.Chunk, receives)
	}
	return fmt.Errorf("sweep %s: a work message with neither a plan step nor a chunk", w.Sweep)
}

// plan applies one plan step.
func (e *Engine) plan(ctx context.Context, run Run, p Plan) error {
	if run.Step != p.Step || run.ListingDone {
		return nil // applied already: a redelivered step
	}
	s := run.Spec
	if run.Stopped {
		_, _, err := e.Progress.Planned(ctx, s.Name, run.ID, p.Step, 0, 0, true, nil)
		return e.finishIfComplete(ctx, run.ID, s.Name, err)
	}
	var users []Member
	var next string
	counts := map[outcome.Status]int{}
	if s.Users != nil || s.List != nil {
		entries, bad, sha, err := e.readList(ctx, s)
		if err != nil {
			return err
		}
		if s.List != nil && sha != run.ListSHA {
			// Not what Start checked: refused rather than swept. The run ends with what it
			// planned (nothing), and says why in every line of its summary's log.
			_, _, perr := e.Progress.Planned(ctx, s.Name, run.ID, p.Step, 0, 0, true, map[outcome.Status]int{})
			if perr == nil {
				_, _, perr = e.Progress.Stop(ctx, s.Name, "the list s3://"+s.List.Bucket+"/"+s.List.Key+" changed after the sweep started: nothing of it was swept; start the sweep again")
			}
			return e.finishIfComplete(ctx, run.ID, s.Name, perr)
		}
		users = make([]Member, len(entries))
		for i, en := range entries {
			users[i] = Member{ID: en.UserID, UPN: en.UserPrincipalName, Type: en.UserType}
		}
		refused := badOutcomes(s, run.ID, bad)
		if e.Observe != nil && len(refused) > 0 {
			e.Observe(refused)
		}
		counts[outcome.Failed] = len(refused)
	} else {
		l, err := e.Lister(ctx)
		if err != nil {
			return fmt.Errorf("sweep %s: no Graph client: %w", s.Name, err)
		}
		link := p.Link
		if link == "" {
			link = s.FirstPage()
		}
		page, err := e.page(ctx, s, l, link)
		if err != nil {
			return fmt.Errorf("sweep %s: listing %s, step %d: %w", s.Name, s.Source(), p.Step, err)
		}
		if page.Next != "" && !s.OwnsLink(page.Next) {
			return fmt.Errorf("sweep %s: step %d's next link is not this sweep's listing: not followed", s.Name, p.Step)
		}
		next = page.Next
		for _, u := range page.Users {
			users = append(users, Member{ID: u.UserID, UPN: u.UserPrincipalName, Type: u.UserType})
		}
	}
	var work []Work
	for i := 0; i*ChunkSize < len(users); i++ {
		c := users[i*ChunkSize : min((i+1)*ChunkSize, len(users))]
		work = append(work, Work{Sweep: s.Name, Run: run.ID, Chunk: &Chunk{Seq: p.Step<<16 | i, Users: c}})
	}
	if next != "" {
		work = append(work, Work{Sweep: s.Name, Run: run.ID, Plan: &Plan{Step: p.Step + 1, Link: next}})
	}
	// Queued before the step is recorded: a step that dies after queueing is applied by
	// its retry, whose chunks (the same sequence numbers) are recorded done once.
	if err := e.Queue.Send(ctx, work); err != nil {
		return fmt.Errorf("sweep %s: queueing step %d: %w", s.Name, p.Step, err)
	}
	chunks := len(work)
	if next != "" {
		chunks--
	}
	_, _, err := e.Progress.Planned(ctx, s.Name, run.ID, p.Step, len(users), chunks, next == "", counts)
	return e.finishIfComplete(ctx, run.ID, s.Name, err)
}

// finishIfComplete publishes the summary when the run just became complete (an empty
// listing, a stopped run).
func (e *Engine) finishIfComplete(ctx context.Context, id, name string, err error) error {
	if err != nil {
		return fmt.Errorf("sweep %s: recording progress: %w", name, err)
	}
	run, ok, err := e.Progress.Get(ctx, name)
	if err != nil || !ok || run.ID != id {
		return err
	}
	return e.summarize(ctx, run)
}

// page reads one page, pacing Identity Protection's endpoints.
func (e *Engine) page(ctx context.Context, s Spec, l Lister, link string) (Page, error) {
	if s.RiskyUsers != nil && e.IdentityProtection != nil {
		if err := e.IdentityProtection.Sweep(ctx); err != nil {
			return Page{}, err
		}
	}
	return read(ctx, l, link)
}

// read gets one page, retrying what a retry can fix, honouring Retry-After.
func read(ctx context.Context, l Lister, link string) (Page, error) {
	for n := 1; ; n++ {
		p, err := l.ListUsers(ctx, link)
		var gerr *revoke.Error
		if err == nil || !errors.As(err, &gerr) || !gerr.Retryable() || n == 4 {
			return p, err
		}
		pause := gerr.RetryAfter
		if pause <= 0 {
			pause = time.Duration(1<<(n-1)) * time.Second
		}
		if left, ok := ctx.Deadline(); ok && time.Until(left)-pause < 10*time.Second {
			return p, fmt.Errorf("%w (no time left to wait %v and retry)", err, pause)
		}
		if serr := wait.For(ctx, pause); serr != nil {
			return p, err
		}
	}
}

// chunk revokes one chunk's users.
func (e *Engine) chunk(ctx context.Context, run Run, c Chunk, receives int) error {
	s := run.Spec
	alertID := fmt.Sprintf("%s/%s/%d", s.Name, run.ID, c.Seq)
	var out []outcome.Outcome
	if run.Stopped {
		for _, m := range c.Users {
			out = append(out, outcome.Outcome{UserID: m.ID, UserPrincipalName: m.UPN, Format: Format, AlertID: alertID,
				Status: outcome.Skipped, Reason: "the sweep was stopped by an operator before this user's turn: " + run.StopReason})
		}
	} else {
		users := make([]alert.Principal, len(c.Users))
		for i, m := range c.Users {
			users[i] = alert.Principal{UserID: m.ID, UserPrincipalName: m.UPN, UserType: m.Type}
		}
		listed := s.Users == nil && s.List == nil
		a := pageAlert(s, users, alertID, listed)
		a.DryRun = run.DryRun
		out = e.Carry(ctx, e.Decide([]alert.Alert{a}))
	}
	unhandled := 0
	for _, o := range out {
		if o.Status.Unhandled() {
			unhandled++
		}
	}
	if e.Observe != nil {
		e.Observe(out)
	}
	if unhandled > 0 && receives < e.maxReceives() {
		return fmt.Errorf("sweep %s: chunk %d, attempt %d of %d: %d of %d users not handled; retried", s.Name, c.Seq, receives, e.maxReceives(), unhandled, len(out))
	}
	if unhandled > 0 {
		if e.Fail == nil {
			return fmt.Errorf("sweep %s: chunk %d is poison after %d attempts and no failure queue is configured", s.Name, c.Seq, receives)
		}
		if err := e.Fail(ctx, Poison{Sweep: s.Name, Run: run.ID, Seq: c.Seq, Attempts: receives, Outcomes: out}); err != nil {
			return fmt.Errorf("sweep %s: chunk %d: sending it to the failure queue: %w", s.Name, c.Seq, err)
		}
	}
	after, _, err := e.Progress.ChunkDone(ctx, s.Name, run.ID, c.Seq, outcome.Summarise(out))
	if err != nil {
		return fmt.Errorf("sweep %s: recording chunk %d: %w", s.Name, c.Seq, err)
	}
	return e.summarize(ctx, after)
}

// summarize publishes a complete run's summary once.
func (e *Engine) summarize(ctx context.Context, run Run) error {
	if !run.Complete() || run.Summarized || run.ID == "" {
		return nil
	}
	if e.Publish != nil {
		// Published before it is marked: a put that fails is retried with the message; two
		// consumers finishing at once may both publish (the event names the run).
		if err := e.Publish(ctx, summaryOf(run, e.now())); err != nil {
			return fmt.Errorf("sweep %s: publishing its summary: %w", run.Name, err)
		}
	}
	if _, err := e.Progress.Summarized(ctx, run.Name, run.ID); err != nil {
		return fmt.Errorf("sweep %s: marking its summary: %w", run.Name, err)
	}
	return nil
}

func summaryOf(run Run, now time.Time) Summary {
	totals := run.Counts
	if totals == nil {
		totals = map[outcome.Status]int{}
	}
	return Summary{Name: run.Name, Run: run.ID, Source: run.Spec.Source(), DryRun: run.DryRun, Approved: run.Spec.Approved,
		Stopped: run.Stopped, StartedAt: run.StartedAt, EndedAt: now, Listed: run.Listed, Chunks: run.Planned, Totals: totals}
}

// Stop stops a run: no more plan steps, and the chunks still queued report their users
// skipped. The run then finishes, with its summary, as its queued work drains.
func (e *Engine) Stop(ctx context.Context, name, reason string) (Run, bool, error) {
	return e.Progress.Stop(ctx, name, reason)
}

// Status reads a run's progress.
func (e *Engine) Status(ctx context.Context, name string) (Run, bool, error) {
	return e.Progress.Get(ctx, name)
}

// readList reads an explicit list, inline or from S3, checks it whole, and returns the
// SHA-256 of an S3 object's bytes.
func (e *Engine) readList(ctx context.Context, s Spec) ([]Entry, []BadLine, string, error) {
	if s.Users != nil {
		entries, bad, err := ParseList([]byte(strings.Join(s.Users, "\n")))
		if err != nil {
			return nil, nil, "", fmt.Errorf("sweep %s: \"users\": %w", s.Name, err)
		}
		return entries, bad, "", nil
	}
	if e.Objects == nil {
		return nil, nil, "", fmt.Errorf("sweep %s: lists in S3 are not configured in this deployment (SweepListBucket)", s.Name)
	}
	b, err := e.Objects.Read(ctx, *s.List)
	if err != nil {
		return nil, nil, "", fmt.Errorf("sweep %s: list s3://%s/%s: %w", s.Name, s.List.Bucket, s.List.Key, err)
	}
	entries, bad, err := ParseList(b)
	if err != nil {
		return nil, nil, "", fmt.Errorf("sweep %s: list s3://%s/%s: %w", s.Name, s.List.Bucket, s.List.Key, err)
	}
	sum := sha256.Sum256(b)
	return entries, bad, hex.EncodeToString(sum[:]), nil
}

func entryMembers(entries []Entry) []alert.Principal {
	out := make([]alert.Principal, len(entries))
	for i, e := range entries {
		out[i] = e.Principal
	}
	return out
}

// badOutcomes reports each refused line of a list, by its number.
func badOutcomes(s Spec, run string, bad []BadLine) []outcome.Outcome {
	out := make([]outcome.Outcome, len(bad))
	for i, b := range bad {
		out[i] = outcome.Outcome{Identifier: b.Value, Format: Format, AlertID: fmt.Sprintf("%s/%s/line-%d", s.Name, run, b.Line),
			Status: outcome.Failed, Reason: fmt.Sprintf("line %d: %s", b.Line, b.Reason)}
	}
	return out
}

// pageAlert makes an alert of a chunk: approved (the sweep's own bound was applied when it
// started, and a sweep is an operator's, never an alert's: it does not use up the revokes
// alerts may make), and listed when its users are Graph's own answer.
func pageAlert(s Spec, users []alert.Principal, id string, listed bool) alert.Alert {
	return alert.Alert{Format: Format, ID: id, Title: s.Source(), Principals: users, DryRun: s.DryRun,
		Reason: s.Reason, Approved: true, Listed: listed}
}

// Encode and Decode are a work message's body on the queue.
func Encode(w Work) ([]byte, error) { return json.Marshal(w) }

// Decode reads a work message strictly: the queue is the sweep function's own (its policy
// lets nothing else send), but a message that is not one is refused, never guessed at.
func Decode(b []byte) (Work, error) {
	var w Work
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Work{}, fmt.Errorf("not a sweep work message: %s", describe(err))
	}
	if !delivery.ValidName(w.Sweep) || w.Run == "" || (w.Plan == nil) == (w.Chunk == nil) {
		return Work{}, errors.New("not a sweep work message: it needs a sweep name, a run and exactly one of plan or chunk")
	}
	if w.Chunk != nil && (len(w.Chunk.Users) == 0 || len(w.Chunk.Users) > ChunkSize) {
		return Work{}, fmt.Errorf("not a sweep work message: a chunk holds 1 to %d users", ChunkSize)
	}
	return w, nil
}
