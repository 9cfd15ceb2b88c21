package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
	. "github.com/session-revoker/session-revoker/internal/sweep"
	"github.com/session-revoker/session-revoker/internal/sweep/sweeptest"
)

const group = "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"

func parse(t *testing.T, body string) (Spec, error) {
	t.Helper()
	if !delivery.Valid([]byte(body)) {
		t.Fatalf("test input is not JSON: %s", body)
	}
	return Parse(delivery.TopLevel([]byte(body)))
}

// pages is a Graph listing: page i of users, linked as Graph links them.
type pages struct{ users [][]alert.Principal }

func (p pages) ListUsers(_ context.Context, link string) (Page, error) {
	i := 0
	if _, tok, ok := strings.Cut(link, "skiptoken="); ok {
		fmt.Sscanf(tok, "%d", &i)
	}
	if i >= len(p.users) {
		return Page{}, &revoke.Error{Kind: revoke.BadRequest, Status: 400, Message: "bad skip token"}
	}
	page := Page{Users: p.users[i]}
	if i+1 < len(p.users) {
		u, _ := url.Parse(link)
		q := u.Query()
		q.Set("$skiptoken", fmt.Sprint(i+1))
		page.Next = "https://graph.microsoft.com/v1.0" + strings.TrimPrefix(u.Path, "/v1.0") + "?" + q.Encode()
	}
	return page, nil
}

func drain(t *testing.T, e *Engine, q *sweeptest.Queue, maxReceives int) []error {
	t.Helper()
	return q.Drain(func(w Work, receives int) error { return e.Handle(context.Background(), w, receives) }, maxReceives)
}

// world is an engine over fakes: a Graph listing of pages, a Carry that revokes everyone
// it is asked to (but those in fail, who fail fails times each), and records of it all.
type world struct {
	e        *Engine
	q        *sweeptest.Queue
	p        *sweeptest.Progress
	mu       sync.Mutex
	revoked  map[string]int // key -> revokes sent
	fail     map[string]int // key -> attempts still to fail
	observed int
	sums     []Summary
	poison   []Poison
}

func newWorld(listing [][]alert.Principal) *world {
	w := &world{q: &sweeptest.Queue{}, p: sweeptest.NewProgress(), revoked: map[string]int{}, fail: map[string]int{}}
	l := pages{listing}
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
	for {
		it, ok := w.q.Pop()
		if !ok {
			break
		}
		for range 2 {
			if err := w.e.Handle(context.Background(), it, 1); err != nil {
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
	if err == nil || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=5") || started.Started || w.q.Sent() != 0 {
		t.Fatalf("err %v, started %+v, queued %d", err, started, w.q.Sent())
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
	if err != nil || second.Started || second.Run.ID != first.Run.ID || w.q.Sent() != 1 {
		t.Fatalf("second start: %v %+v, %d queued", err, second, w.q.Sent())
	}
}

// TestEngineStop: a stopped sweep lists no further and reports the users still queued
// as skipped, then finishes with its summary.
func TestEngineStop(t *testing.T) {
	all := listed("m", 300)
	w := newWorld([][]alert.Principal{all[:100], all[100:200], all[200:]})
	w.e.Start(context.Background(), approvedGroup(t))
	// Plan step 0 (queues chunk 0 and step 1), then the operator stops it.
	it, _ := w.q.Pop()
	if err := w.e.Handle(context.Background(), it, 1); err != nil {
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
	if w.q.Sent() != 0 {
		t.Errorf("%d messages queued for refused lists", w.q.Sent())
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

// oneUser is a Graph that knows one user, for the protected list to resolve.
type oneUser struct{ u revoke.User }

func (g oneUser) RevokeSignInSessions(context.Context, string) (revoke.Call, error) {
	return revoke.Call{}, nil
}

func (g oneUser) User(_ context.Context, key string) (revoke.User, revoke.Call, error) {
	if strings.EqualFold(key, g.u.UserPrincipalName) || strings.EqualFold(key, g.u.ID) {
		return g.u, revoke.Call{}, nil
	}
	return revoke.User{}, revoke.Call{}, &revoke.Error{Kind: revoke.NotFound, Status: 404}
}

// Protected accounts and guests get the same treatment as from an alert: the listing's
// ids and user types are Graph's, so no lookup is needed to judge them.
func TestSweepKeepsTheGuardrails(t *testing.T) {
	prot, err := policy.ParseProtected("breakglass@contoso.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	const bgID = "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42"
	w := newWorld([][]alert.Principal{{
		{UserID: bgID, UserPrincipalName: "breakglass@contoso.onmicrosoft.com", UserType: "Member"},
		{UserID: "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16", UserPrincipalName: "ext_fabrikam.com#EXT#@contoso.onmicrosoft.com", UserType: "Guest"},
		{UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "adelev@contoso.onmicrosoft.com", UserType: "Member"},
	}})
	graph := oneUser{revoke.User{ID: bgID, UserPrincipalName: "breakglass@contoso.onmicrosoft.com", UserType: "Member"}}
	var got []outcome.Outcome
	w.e.Carry = func(ctx context.Context, ds []policy.Decision) []outcome.Outcome {
		out := revoke.Run(ctx, ds, func(context.Context) (revoke.Graph, error) { return graph, nil }, revoke.Options{Guard: &revoke.Guard{List: prot}})
		got = append(got, out...)
		return out
	}
	s, _ := parse(t, `{"sweep":{"name":"g","group":"`+group+`","dryRun":true}}`)
	if _, err := w.e.Start(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	drain(t, w.e, w.q, 5)
	want := []outcome.Status{outcome.Skipped, outcome.Skipped, outcome.WouldRevoke}
	for i, st := range want {
		if i >= len(got) || got[i].Status != st {
			t.Fatalf("targets = %+v, want statuses %v", got, want)
		}
	}
	for _, o := range got {
		if o.Attempts != 0 {
			t.Errorf("%s: %d Graph calls for a listed user", o.UserPrincipalName, o.Attempts)
		}
	}
}

// TestEngineListChangedAfterStart: an S3 list is swept as Start checked it, or not at all.
func TestEngineListChangedAfterStart(t *testing.T) {
	objects := &fakeObjects{body: []byte("AdeleV@contoso.onmicrosoft.com\nMeganB@contoso.onmicrosoft.com\n")}
	w := newWorld(nil)
	w.e.Objects = objects
	list, _ := parse(t, `{"sweep":{"name":"contractors","approved":true,"list":{"bucket":"contoso-sweeps","key":"lists/contractors.txt"}}}`)
	if _, err := w.e.Start(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	objects.body = []byte("AdeleV@contoso.onmicrosoft.com\nbreakglass01@contoso.onmicrosoft.com\n")
	drain(t, w.e, w.q, 5)
	if len(w.revoked) != 0 || len(w.sums) != 1 || !w.sums[0].Stopped {
		t.Fatalf("revoked %v, summaries %+v", w.revoked, w.sums)
	}
	run, _, _ := w.p.Get(context.Background(), "contractors")
	if !strings.Contains(run.StopReason, "changed after the sweep started") {
		t.Errorf("stop reason %q", run.StopReason)
	}
}
