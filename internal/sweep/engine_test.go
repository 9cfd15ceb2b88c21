package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// memProgress is the state table's sweep runs in memory, with the same conditions.
type memProgress struct {
	mu   sync.Mutex
	runs map[string]*Run
	done map[string]map[int]bool
}

func newProgress() *memProgress {
	return &memProgress{runs: map[string]*Run{}, done: map[string]map[int]bool{}}
}

func (m *memProgress) Start(_ context.Context, run Run, stale time.Duration) (bool, Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.runs[run.Name]; ok && !old.Summarized && run.StartedAt.Sub(old.UpdatedAt) < stale {
		return false, *old, nil
	}
	run.Counts = map[outcome.Status]int{}
	m.runs[run.Name], m.done[run.Name] = &run, map[int]bool{}
	return true, run, nil
}

func (m *memProgress) Get(_ context.Context, name string) (Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[name]
	if !ok {
		return Run{}, false, nil
	}
	return *r, true, nil
}

func (m *memProgress) Planned(_ context.Context, name, run string, step, listed, chunks int, done bool, counts map[outcome.Status]int) (Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.ID != run || r.Step != step {
		return Run{}, false, nil
	}
	r.Step, r.Listed, r.Planned, r.ListingDone = step+1, r.Listed+listed, r.Planned+chunks, done
	for st, n := range counts {
		r.Counts[st] += n
	}
	return *r, true, nil
}

func (m *memProgress) ChunkDone(_ context.Context, name, run string, seq int, counts map[outcome.Status]int) (Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.ID != run || m.done[name][seq] {
		if r == nil {
			return Run{}, false, nil
		}
		return *r, false, nil
	}
	m.done[name][seq] = true
	r.Done++
	for st, n := range counts {
		r.Counts[st] += n
	}
	return *r, true, nil
}

func (m *memProgress) Summarized(_ context.Context, name, run string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.ID != run || r.Summarized {
		return false, nil
	}
	r.Summarized = true
	return true, nil
}

func (m *memProgress) Stop(_ context.Context, name, reason string) (Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.Summarized {
		return Run{}, false, nil
	}
	r.Stopped, r.StopReason = true, reason
	return *r, true, nil
}

// memQueue is the sweep queue: work in order, each with its receive count.
type memQueue struct {
	mu    sync.Mutex
	items []queued
	sent  int
}

type queued struct {
	w        Work
	receives int
}

func (q *memQueue) Send(_ context.Context, ws []Work) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range ws {
		// Through the encoding the real queue uses.
		b, err := Encode(w)
		if err != nil {
			return err
		}
		back, err := Decode(b)
		if err != nil {
			return err
		}
		q.items = append(q.items, queued{w: back})
		q.sent++
	}
	return nil
}

// drain runs every message to the end, as the event source mapping would: a message
// whose handling fails comes back with its receive count up, until maxReceives.
func drain(t *testing.T, e *Engine, q *memQueue, maxReceives int) (failures []error) {
	t.Helper()
	for steps := 0; ; steps++ {
		if steps > 100000 {
			t.Fatal("the queue never drained")
		}
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			return failures
		}
		it := q.items[0]
		q.items = q.items[1:]
		q.mu.Unlock()
		it.receives++
		if err := e.Handle(context.Background(), it.w, it.receives); err != nil {
			failures = append(failures, err)
			if it.receives < maxReceives {
				q.mu.Lock()
				q.items = append(q.items, it)
				q.mu.Unlock()
			}
		}
	}
}

// world is an engine over fakes: a Graph listing of pages, a Carry that revokes everyone
// it is asked to (but those in fail, who fail fails times each), and records of it all.
type world struct {
	e        *Engine
	q        *memQueue
	p        *memProgress
	mu       sync.Mutex
	revoked  map[string]int // key -> revokes sent
	fail     map[string]int // key -> attempts still to fail
	observed int
	sums     []Summary
	poison   []Poison
}

func newWorld(pages [][]alert.Principal) *world {
	w := &world{q: &memQueue{}, p: newProgress(), revoked: map[string]int{}, fail: map[string]int{}}
	l := &fakeLister{pages: pages}
	w.e = &Engine{
		Progress: w.p, Queue: w.q,
		Lister: func(context.Context) (Lister, error) { return l, nil },
		Decide: func(as []alert.Alert) []policy.Decision { return policy.Decide(as, policy.Settings{}) },
		Carry:  w.carry,
		Observe: func(ts []outcome.Outcome) {
			w.mu.Lock()
			w.observed += len(ts)
			w.mu.Unlock()
		},
		Publish: func(_ context.Context, s Summary) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.sums = append(w.sums, s)
			return nil
		},
		Fail: func(_ context.Context, p Poison) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.poison = append(w.poison, p)
			return nil
		},
		MaxTargets: 5,
	}
	return w
}

// carry revokes as revoke.Run would: once per user, recognising a user this very chunk
// revoked in an earlier attempt (revoke.Run reads that from the user's revoke record).
func (w *world) carry(_ context.Context, ds []policy.Decision) []outcome.Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]outcome.Outcome, len(ds))
	for i, d := range ds {
		out[i] = outcome.Outcome{UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Identifier: d.Identifier, Format: d.Format, AlertID: d.AlertID, Status: d.Status, Reason: d.Reason}
		if !d.Revoke {
			continue
		}
		key := strings.ToLower(d.Key())
		switch {
		case d.DryRun:
			out[i].Status = outcome.WouldRevoke
		case w.fail[key] > 0:
			w.fail[key]--
			out[i].Status, out[i].Reason = outcome.Failed, "Graph unavailable"
		default:
			if w.revoked[key] == 0 || !strings.Contains(out[i].AlertID, "/") {
				w.revoked[key]++
			}
			out[i].Status = outcome.Revoked
		}
	}
	return out
}

func listed(prefix string, n int) []alert.Principal {
	out := make([]alert.Principal, n)
	for i := range out {
		out[i] = alert.Principal{UserID: fmt.Sprintf("%08x-0000-4000-8000-%012d", prefix[0], i), UserPrincipalName: fmt.Sprintf("%s%04d@contoso.onmicrosoft.com", prefix, i), UserType: "Member"}
	}
	return out
}

func approvedGroup(t *testing.T) Spec {
	s, err := parse(t, `{"sweep":{"name":"offboarding","group":"`+group+`","approved":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEngineRunsASweepToTheEnd: a 250-member group over three pages is listed step by
// step, cut into chunks, every member revoked exactly once, and one summary published.
func TestEngineRunsASweepToTheEnd(t *testing.T) {
	all := listed("m", 250)
	w := newWorld([][]alert.Principal{all[:100], all[100:200], all[200:]})
	started, err := w.e.Start(context.Background(), approvedGroup(t))
	if err != nil || !started.Started {
		t.Fatalf("start: %v %+v", err, started)
	}
	if fails := drain(t, w.e, w.q, 5); len(fails) != 0 {
		t.Fatalf("failures: %v", fails)
	}
	if len(w.revoked) != 250 {
		t.Errorf("%d users revoked, want 250", len(w.revoked))
	}
	for k, n := range w.revoked {
		if n != 1 {
			t.Errorf("%s revoked %d times", k, n)
		}
	}
	if len(w.sums) != 1 || w.sums[0].Totals[outcome.Revoked] != 250 || w.sums[0].Listed != 250 || w.sums[0].Chunks != 3 {
		t.Fatalf("summaries %+v", w.sums)
	}
	run, _, _ := w.p.Get(context.Background(), "offboarding")
	if !run.Complete() || !run.Summarized || w.observed != 250 {
		t.Errorf("run %+v, observed %d", run, w.observed)
	}
	// Started again while nothing runs: a new run.
	if again, err := w.e.Start(context.Background(), approvedGroup(t)); err != nil || !again.Started {
		t.Errorf("a new run after the first finished: %v %+v", err, again)
	}
}

// TestEngineMessagesAreIdempotent: every message delivered twice (SQS delivers at least
// once) changes nothing: each member revoked once, the totals counted once.
func TestEngineMessagesAreIdempotent(t *testing.T) {
	all := listed("m", 230)
	w := newWorld([][]alert.Principal{all[:120], all[120:]})
	if _, err := w.e.Start(context.Background(), approvedGroup(t)); err != nil {
		t.Fatal(err)
	}
	for steps := 0; len(w.q.items) > 0; steps++ {
		it := w.q.items[0]
		w.q.items = w.q.items[1:]
		for range 2 {
			if err := w.e.Handle(context.Background(), it.w, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	run, _, _ := w.p.Get(context.Background(), "offboarding")
	if run.Counts[outcome.Revoked] != 230 || run.Done != run.Planned || len(w.sums) != 1 {
		t.Errorf("run %+v, summaries %d", run, len(w.sums))
	}
	for k, n := range w.revoked {
		if n != 1 {
			t.Errorf("%s revoked %d times", k, n)
		}
	}
}

// TestEngineRetriesAChunkAndGivesUpOnPoison: a chunk with a user Graph fails comes back;
// one that still fails after MaxReceives goes to the failure queue with each user's
// reason, counts as done, and the sweep still finishes.
func TestEngineRetriesAChunkAndGivesUpOnPoison(t *testing.T) {
	all := listed("m", 150)
	w := newWorld([][]alert.Principal{all})
	w.fail[all[10].UserID] = 2   // fails twice, then succeeds
	w.fail[all[120].UserID] = 99 // never succeeds
	if _, err := w.e.Start(context.Background(), approvedGroup(t)); err != nil {
		t.Fatal(err)
	}
	fails := drain(t, w.e, w.q, 10)
	if len(fails) != 2+4 { // chunk 0 fails twice; chunk 1 fails its first four attempts
		t.Errorf("%d failed deliveries: %v", len(fails), fails)
	}
	if len(w.poison) != 1 || w.poison[0].Attempts != 5 {
		t.Fatalf("poison %+v", w.poison)
	}
	var bad []string
	for _, o := range w.poison[0].Outcomes {
		if o.Status == outcome.Failed {
			bad = append(bad, o.UserID)
		}
	}
	if !slices.Equal(bad, []string{all[120].UserID}) {
		t.Errorf("poison names %v as failed", bad)
	}
	if len(w.sums) != 1 || w.sums[0].Totals[outcome.Failed] != 1 || w.sums[0].Totals[outcome.Revoked] != 149 {
		t.Fatalf("summary %+v", w.sums)
	}
	if w.revoked[all[10].UserID] != 1 {
		t.Errorf("the user of the retried chunk was revoked %d times", w.revoked[all[10].UserID])
	}
}

func TestEngineBlastRadius(t *testing.T) {
	w := newWorld([][]alert.Principal{listed("m", 4), listed("n", 4)})
	s, _ := parse(t, `{"sweep":{"name":"g","group":"`+group+`"}}`)
	started, err := w.e.Start(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=5") || started.Started || w.q.sent != 0 {
		t.Fatalf("err %v, started %+v, queued %d", err, started, w.q.sent)
	}
	if got := outcome.Summarise(started.Targets); got[outcome.NeedsApproval] != 8 {
		t.Errorf("targets %v", got)
	}
	// Within the bound, an unapproved sweep runs.
	w = newWorld([][]alert.Principal{listed("m", 3)})
	if st, err := w.e.Start(context.Background(), s); err != nil || !st.Started {
		t.Fatalf("%v %+v", err, st)
	}
	drain(t, w.e, w.q, 5)
	if len(w.revoked) != 3 {
		t.Errorf("revoked %v", w.revoked)
	}
}

// TestEngineOneRunAtATime: a schedule firing while its sweep runs starts nothing.
func TestEngineOneRunAtATime(t *testing.T) {
	w := newWorld([][]alert.Principal{listed("m", 3)})
	first, _ := w.e.Start(context.Background(), approvedGroup(t))
	second, err := w.e.Start(context.Background(), approvedGroup(t))
	if err != nil || second.Started || second.Run.ID != first.Run.ID || w.q.sent != 1 {
		t.Fatalf("second start: %v %+v, %d queued", err, second, w.q.sent)
	}
}

// TestEngineStop: a stopped sweep lists no further and reports the users still queued
// as skipped, then finishes with its summary.
func TestEngineStop(t *testing.T) {
	all := listed("m", 300)
	w := newWorld([][]alert.Principal{all[:100], all[100:200], all[200:]})
	w.e.Start(context.Background(), approvedGroup(t))
	// Plan step 0 (queues chunk 0 and step 1), then the operator stops it.
	it := w.q.items[0]
	w.q.items = w.q.items[1:]
	if err := w.e.Handle(context.Background(), it.w, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := w.e.Stop(context.Background(), "offboarding", "wrong group"); !ok {
		t.Fatal("not stopped")
	}
	drain(t, w.e, w.q, 5)
	if len(w.revoked) != 0 {
		t.Errorf("revoked %d after the stop", len(w.revoked))
	}
	if len(w.sums) != 1 || !w.sums[0].Stopped || w.sums[0].Totals[outcome.Skipped] != 100 || w.sums[0].Listed != 100 {
		t.Fatalf("summary %+v", w.sums)
	}
}

// TestEngineDropsAnotherRunsWork: a message of a replaced run changes nothing.
func TestEngineDropsAnotherRunsWork(t *testing.T) {
	w := newWorld([][]alert.Principal{listed("m", 3)})
	w.e.Start(context.Background(), approvedGroup(t))
	stale := Work{Sweep: "offboarding", Run: "some-old-run", Chunk: &Chunk{Seq: 0, Users: []Member{{ID: listed("x", 1)[0].UserID}}}}
	if err := w.e.Handle(context.Background(), stale, 1); err != nil || len(w.revoked) != 0 {
		t.Fatalf("%v %v", err, w.revoked)
	}
}

// TestEngineExplicitList: an inline list's bad lines are reported by number and never stop
// the others; a list that cannot be read as a whole is refused before anyone is revoked.
func TestEngineExplicitList(t *testing.T) {
	w := newWorld(nil)
	s, err := parse(t, `{"sweep":{"name":"breach","approved":true,"users":[
		"AdeleV@contoso.onmicrosoft.com", "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", "not an identifier", "adelev@CONTOSO.onmicrosoft.com",
		"x@contoso.com?$select=*", "{\"userPrincipalName\": \"MeganB@contoso.onmicrosoft.com\"}"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.Start(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	drain(t, w.e, w.q, 5)
	if len(w.revoked) != 3 || len(w.sums) != 1 || w.sums[0].Totals[outcome.Failed] != 3 {
		t.Fatalf("revoked %v, summaries %+v", w.revoked, w.sums)
	}

	objects := &fakeObjects{}
	w = newWorld(nil)
	w.e.Objects = objects
	list, _ := parse(t, `{"sweep":{"name":"contractors","approved":true,"list":{"bucket":"contoso-sweeps","key":"lists/contractors.txt"}}}`)
	for name, c := range map[string]struct {
		body []byte
		err  error
		want string
	}{
		"unreadable": {nil, errors.New("AccessDenied"), "list s3://contoso-sweeps/lists/contractors.txt: AccessDenied"},
		"not text":   {[]byte("\x00\x01PK\x03\x04"), nil, "not text"},
		"a CSV":      {[]byte("name,upn\nAdele,AdeleV@contoso.onmicrosoft.com\n"), nil, "no line names a user"},
	} {
		objects.body, objects.err = c.body, c.err
		if _, err := w.e.Start(context.Background(), list); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if w.q.sent != 0 {
		t.Errorf("%d messages queued for refused lists", w.q.sent)
	}
}

type fakeObjects struct {
	body []byte
	err  error
}

func (f *fakeObjects) Read(context.Context, Object) ([]byte, error) { return f.body, f.err }

func TestParseList(t *testing.T) {
	entries, bad, err := ParseList([]byte("\xef\xbb\xbf# contractors\n\nAdeleV@contoso.onmicrosoft.com\r\n b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24 \n" +
		`{"userId": "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", "userPrincipalName": "MeganB@contoso.onmicrosoft.com"}` + "\n" +
		"adelev@contoso.onmicrosoft.com\n../../users\n" + `{"userId": "x", "extra": 1}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, e := range entries {
		lines = append(lines, e.Line)
	}
	if fmt.Sprint(lines) != "[3 4 5]" {
		t.Errorf("entries on lines %v", lines)
	}
	want := map[int]string{6: "a repeat of line 3", 7: "not an object id or a user principal name", 8: "not a JSON object with only userId"}
	if len(bad) != len(want) {
		t.Fatalf("bad lines %+v", bad)
	}
	for _, b := range bad {
		if !strings.Contains(b.Reason, want[b.Line]) {
			t.Errorf("line %d: %q, want %q", b.Line, b.Reason, want[b.Line])
		}
	}
	var big strings.Builder
	for i := 0; i <= MaxListUsers; i++ {
		fmt.Fprintf(&big, "u%d@contoso.onmicrosoft.com\n", i)
	}
	if _, _, err := ParseList([]byte(big.String())); err == nil || !strings.Contains(err.Error(), "more than 100000 users") {
		t.Errorf("over the limit: %v", err)
	}
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte("AdeleV@contoso.onmicrosoft.com\n{\"userId\": \"b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24\"}\n"))
	f.Add([]byte("\xef\xbb\xbf#x\n\n{}\n{\"userPrincipalName\":1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, bad, err := ParseList(b)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, e := range entries {
			if e.UserID == "" && e.UserPrincipalName == "" {
				t.Fatalf("line %d names nobody: %+v", e.Line, e)
			}
			if strings.ContainsAny(e.UserID+e.UserPrincipalName, "/?% \x00") {
				t.Fatalf("line %d: an identifier that could reach a URL: %+v", e.Line, e)
			}
			seen[e.Line] = true
		}
		for _, b := range bad {
			if seen[b.Line] || b.Reason == "" {
				t.Fatalf("line %d both read and refused, or refused without a reason", b.Line)
			}
		}
	})
}
