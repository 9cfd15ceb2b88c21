package sweep

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

const group = "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"

func parse(t *testing.T, body string) (Spec, error) {
	t.Helper()
	if !delivery.Valid([]byte(body)) {
		t.Fatalf("test input is not JSON: %s", body)
	}
	return Parse(delivery.TopLevel([]byte(body)))
}

func TestParse(t *testing.T) {
	s, err := parse(t, `{"sweep":{"name":"risky-high","riskyUsers":{}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.RiskyUsers.RiskLevels, ","); got != "high" {
		t.Errorf("default levels = %s, want high", got)
	}
	if got := strings.Join(s.RiskyUsers.RiskStates, ","); got != "atRisk,confirmedCompromised" {
		t.Errorf("default states = %s", got)
	}
	q, err := url.ParseQuery(strings.SplitN(s.FirstPage(), "?", 2)[1])
	if err != nil {
		t.Fatal(err)
	}
	if want := "(riskLevel eq 'high') and (riskState eq 'atRisk' or riskState eq 'confirmedCompromised')"; q.Get("$filter") != want {
		t.Errorf("$filter = %q, want %q", q.Get("$filter"), want)
	}
	g, err := parse(t, `{"sweep":{"name":"offboarding","group":"`+strings.ToUpper(group)+`","approved":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/groups/" + group + "/transitiveMembers/microsoft.graph.user?"; !strings.HasPrefix(g.FirstPage(), want) || !g.Approved {
		t.Errorf("group sweep: first page %q, approved %v", g.FirstPage(), g.Approved)
	}
}

func TestParseErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"sweep":"risky"}`:                                              `"sweep" must be an object`,
		`{"sweep":{"riskyUsers":{}}}`:                                    `"name"`,
		`{"sweep":{"name":"a/b","riskyUsers":{}}}`:                       `"name"`,
		`{"sweep":{"name":"x"}}`:                                         "exactly one",
		`{"sweep":{"name":"x","riskyUsers":{},"group":"` + group + `"}}`: "exactly one",
		`{"sweep":{"name":"x","group":"all users"}}`:                     "object id",
		`{"sweep":{"name":"x","riskyUsers":{"riskLevels":["severe"]}}}`:  `"severe" is not one of low, medium, high`,
		`{"sweep":{"name":"x","riskyUsers":{"riskStates":["atrisk"]}}}`:  `riskStates`,
		`{"sweep":{"name":"x","riskyUsers":{},"aproved":true}}`:          `unknown field "aproved"`,
		`{"sweep":{"name":"x","riskyUsers":{},"approved":"yes"}}`:        `"approved" has the wrong JSON type`,
	} {
		_, err := parse(t, body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to say %s", body, err, want)
		}
	}
}

// fakeLister serves pages: page i of users, linked "next-i".
type fakeLister struct {
	pages [][]alert.Principal
	read  []string
	fail  map[string][]error // link -> errors to return first, in order
}

func (f *fakeLister) ListUsers(_ context.Context, link string) (Page, error) {
	f.read = append(f.read, link)
	if errs := f.fail[link]; len(errs) > 0 {
		f.fail[link] = errs[1:]
		return Page{}, errs[0]
	}
	u, err := url.Parse(link)
	if err != nil {
		return Page{}, &revoke.Error{Kind: revoke.BadRequest, Status: 400, Message: "bad link"}
	}
	q := u.Query()
	i := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		fmt.Sscanf(tok, "%d", &i)
	}
	if i >= len(f.pages) {
		return Page{}, &revoke.Error{Kind: revoke.BadRequest, Status: 400, Message: "bad skip token"}
	}
	p := Page{Users: f.pages[i]}
	if i+1 < len(f.pages) {
		p.Next = nextLink(link, i+1)
	}
	return p, nil
}

// nextLink is link's page n, as Graph writes @odata.nextLink: absolute, the request's own
// query, and a skip token.
func nextLink(link string, n int) string {
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("$skiptoken", fmt.Sprint(n))
	return "https://graph.microsoft.com/v1.0" + strings.TrimPrefix(u.Path, "/v1.0") + "?" + q.Encode()
}

func users(prefix string, n int) []alert.Principal {
	out := make([]alert.Principal, n)
	for i := range out {
		out[i] = alert.Principal{UserPrincipalName: fmt.Sprintf("%s%d@contoso.onmicrosoft.com", prefix, i)}
	}
	return out
}

// fakeCursors is the state table's sweep items in memory.
type fakeCursors struct {
	next    map[string]string
	held    map[string]bool
	saves   []string
	failSet error
}

func (c *fakeCursors) ClaimSweep(_ context.Context, name string, _ time.Time, _ time.Duration) (string, error) {
	if c.held[name] {
		return "", ErrBusy
	}
	c.held[name] = true
	return c.next[name], nil
}

func (c *fakeCursors) SaveSweep(_ context.Context, name, next string, _ time.Time) error {
	if c.failSet != nil {
		return c.failSet
	}
	c.saves = append(c.saves, next)
	if next == "" {
		delete(c.next, name)
	} else {
		c.next[name] = next
	}
	return nil
}

func (c *fakeCursors) ReleaseSweep(_ context.Context, name string) error {
	delete(c.held, name)
	return nil
}

// runner revokes every user policy lets through, except those in fail.
func runner(l Lister, c Cursors, settings policy.Settings, fail map[string]outcome.Status) *Runner {
	r := &Runner{
		Connect: func(context.Context) (Lister, error) { return l, nil },
		Decide:  func(as []alert.Alert) []policy.Decision { return policy.Decide(as, settings) },
		Carry: func(_ context.Context, ds []policy.Decision) []outcome.Outcome {
			out := make([]outcome.Outcome, len(ds))
			for i, d := range ds {
				out[i] = outcome.Outcome{UserPrincipalName: d.UserPrincipalName, AlertID: d.AlertID, Status: d.Status, Reason: d.Reason}
				if d.Revoke {
					out[i].Status = outcome.Revoked
					if st, ok := fail[d.UserPrincipalName]; ok {
						out[i].Status = st
					}
				}
			}
			return out
		},
		MaxTargets: 5,
		Sleep:      func(context.Context, time.Duration) error { return nil },
	}
	if c != nil {
		r.Cursors = c
	}
	return r
}

func statuses(ts []outcome.Outcome) map[outcome.Status]int { return outcome.Summarise(ts) }

func TestBoundedSweepRevokesEveryListedUser(t *testing.T) {
	l := &fakeLister{pages: [][]alert.Principal{users("a", 2), users("b", 2)}}
	s, _ := parse(t, `{"sweep":{"name":"risky","riskyUsers":{}}}`)
	rep, err := runner(l, nil, policy.Settings{}, nil).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete || rep.Pages != 2 || rep.Listed != 4 || statuses(rep.Targets)[outcome.Revoked] != 4 {
		t.Errorf("report = %+v", rep)
	}
	if rep.Targets[0].AlertID != "risky/page-1" {
		t.Errorf("alert id = %q", rep.Targets[0].AlertID)
	}
}

// A sweep over its bound revokes nobody, and says so for every user it listed.
func TestBoundedSweepOverTheLimitNeedsApproval(t *testing.T) {
	l := &fakeLister{pages: [][]alert.Principal{users("a", 4), users("b", 4), users("c", 4)}}
	s, _ := parse(t, `{"sweep":{"name":"g","group":"`+group+`"}}`)
	revoked := 0
	r := runner(l, nil, policy.Settings{}, nil)
	carry := r.Carry
	r.Carry = func(ctx context.Context, ds []policy.Decision) []outcome.Outcome {
		revoked += len(ds)
		return carry(ctx, ds)
	}
	rep, err := r.Run(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=5") || !strings.Contains(err.Error(), "nobody was revoked") {
		t.Fatalf("err = %v", err)
	}
	if revoked != 0 || len(l.read) != 2 {
		t.Errorf("revoked %d, read %d pages: want 0 revoked and reading stopped past the bound", revoked, len(l.read))
	}
	if got := statuses(rep.Targets); got[outcome.NeedsApproval] != 8 || len(got) != 1 {
		t.Errorf("statuses = %v, want all 8 listed needing approval", got)
	}
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
	l := &fakeLister{pages: [][]alert.Principal{{
		{UserID: bgID, UserPrincipalName: "breakglass@contoso.onmicrosoft.com", UserType: "Member"},
		{UserID: "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16", UserPrincipalName: "ext_fabrikam.com#EXT#@contoso.onmicrosoft.com", UserType: "Guest"},
		{UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "adelev@contoso.onmicrosoft.com", UserType: "Member"},
	}}}
	s, _ := parse(t, `{"sweep":{"name":"g","group":"`+group+`","dryRun":true}}`)
	r := runner(l, nil, policy.Settings{}, nil)
	graph := oneUser{revoke.User{ID: bgID, UserPrincipalName: "breakglass@contoso.onmicrosoft.com", UserType: "Member"}}
	r.Carry = func(ctx context.Context, ds []policy.Decision) []outcome.Outcome {
		return revoke.Run(ctx, ds, func(context.Context) (revoke.Graph, error) { return graph, nil }, revoke.Options{Guard: &revoke.Guard{List: prot}})
	}
	rep, err := r.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := []outcome.Status{outcome.Skipped, outcome.Skipped, outcome.WouldRevoke}
	for i, st := range want {
		if i >= len(rep.Targets) || rep.Targets[i].Status != st {
			t.Fatalf("targets = %+v, want statuses %v", rep.Targets, want)
		}
	}
	for _, o := range rep.Targets {
		if o.Attempts != 0 {
			t.Errorf("%s: %d Graph calls for a listed user", o.UserPrincipalName, o.Attempts)
		}
	}
}

func TestPagedSweepContinuesAcrossInvocations(t *testing.T) {
	l := &fakeLister{pages: [][]alert.Principal{users("a", 3), users("b", 3), users("c", 3)}}
	cur := &fakeCursors{next: map[string]string{}, held: map[string]bool{}}
	s, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	r := runner(l, cur, policy.Settings{}, nil)
	r.Reserve = time.Hour // every invocation has "too little" time left: one page each

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var total int
	for run := 1; run <= 3; run++ {
		rep, err := r.Run(ctx, s)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		total += statuses(rep.Targets)[outcome.Revoked]
		if last := run == 3; rep.Complete != last || rep.Continues == last || rep.Resumed != (run > 1) {
			t.Fatalf("run %d: report %+v", run, rep)
		}
		if len(cur.held) != 0 {
			t.Fatalf("run %d: claim not released", run)
		}
	}
	if total != 9 || len(l.read) != 3 || len(cur.next) != 0 {
		t.Errorf("revoked %d, pages read %v, cursor left %v: want 9, each page once, no cursor", total, l.read, cur.next)
	}
}

// A page with a failure is read again by the next run: nothing on it is lost.
func TestPagedSweepKeepsAnUnhandledPage(t *testing.T) {
	pages := [][]alert.Principal{users("a", 2), users("b", 2)}
	l := &fakeLister{pages: pages}
	cur := &fakeCursors{next: map[string]string{}, held: map[string]bool{}}
	s, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	bad := pages[1][0].UserPrincipalName
	rep, err := runner(l, cur, policy.Settings{}, map[string]outcome.Status{bad: outcome.Failed}).Run(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "page 2 not fully handled") || !strings.Contains(err.Error(), "resumes at this page") {
		t.Fatalf("err = %v", err)
	}
	if key := s.StateKey(false); cur.next[key] != nextLink(s.FirstPage(), 1) || rep.Complete {
		t.Fatalf("cursor = %q, report %+v: want the failed page kept", cur.next[key], rep)
	}
	rep, err = runner(l, cur, policy.Settings{}, nil).Run(context.Background(), s)
	if err != nil || !rep.Resumed || !rep.Complete || statuses(rep.Targets)[outcome.Revoked] != 2 {
		t.Fatalf("retry: err %v, report %+v", err, rep)
	}
}

func TestPagedSweepBusyIsNotAFailure(t *testing.T) {
	s, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	cur := &fakeCursors{next: map[string]string{}, held: map[string]bool{s.StateKey(false): true}}
	l := &fakeLister{pages: [][]alert.Principal{users("a", 1)}}
	rep, err := runner(l, cur, policy.Settings{}, nil).Run(context.Background(), s)
	if err != nil || !rep.Busy || len(l.read) != 0 {
		t.Fatalf("err %v, report %+v, reads %v", err, rep, l.read)
	}
}

// Without a state table a sweep that cannot finish fails rather than claim it did.
func TestPagedSweepWithoutStateTableOutOfTime(t *testing.T) {
	l := &fakeLister{pages: [][]alert.Principal{users("a", 1), users("b", 1)}}
	s, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	r := runner(l, nil, policy.Settings{}, nil)
	r.Reserve = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := r.Run(ctx, s)
	if err == nil || !strings.Contains(err.Error(), "no STATE_TABLE") {
		t.Fatalf("err = %v", err)
	}
}

// A stale saved link (expired skip token) starts the listing over instead of failing
// every run from then on.
func TestPagedSweepStaleCursorStartsOver(t *testing.T) {
	l := &fakeLister{pages: [][]alert.Principal{users("a", 1)}}
	s, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	cur := &fakeCursors{next: map[string]string{s.StateKey(false): nextLink(s.FirstPage(), 7)}, held: map[string]bool{}}
	rep, err := runner(l, cur, policy.Settings{}, nil).Run(context.Background(), s)
	if err != nil || !rep.Complete || rep.Resumed || len(l.read) != 2 || l.read[1] != s.FirstPage() {
		t.Fatalf("err %v, report %+v, reads %v", err, rep, l.read)
	}
}

func TestPageReadsRetryThrottling(t *testing.T) {
	s, _ := parse(t, `{"sweep":{"name":"risky","riskyUsers":{}}}`)
	throttled := &revoke.Error{Kind: revoke.Throttled, Status: 429, RetryAfter: 1500 * time.Millisecond}
	l := &fakeLister{pages: [][]alert.Principal{users("a", 1)}, fail: map[string][]error{s.FirstPage(): {throttled, throttled}}}
	var waits []time.Duration
	r := runner(l, nil, policy.Settings{}, nil)
	r.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	rep, err := r.Run(context.Background(), s)
	if err != nil || !rep.Complete {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	if len(waits) != 2 || waits[0] != 1500*time.Millisecond {
		t.Errorf("waits = %v, want Retry-After honoured twice", waits)
	}

	denied := &revoke.Error{Kind: revoke.Denied, Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges"}
	l = &fakeLister{pages: [][]alert.Principal{users("a", 1)}, fail: map[string][]error{s.FirstPage(): {denied}}}
	_, err = runner(l, nil, policy.Settings{}, nil).Run(context.Background(), s)
	if !errors.Is(err, denied) || !strings.Contains(err.Error(), "Authorization_RequestDenied") || len(l.read) != 1 {
		t.Fatalf("err = %v after %d reads: want the 403 named, not retried", err, len(l.read))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"sweep":{"name":"r","riskyUsers":{"riskLevels":["high","medium"]}}}`, `{"sweep":{"name":"g","group":"` + group + `","approved":true,"dryRun":true}}`, `{"sweep":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		top, _, ok := delivery.ValidObject(b)
		if !ok || top == nil {
			return
		}
		s, err := Parse(top)
		if err != nil {
			return
		}
		// Whatever was accepted builds a URL from checked parts only.
		first := s.FirstPage()
		if strings.ContainsAny(first, " #\\") || strings.Contains(first, "..") || !strings.HasPrefix(first, "/") {
			t.Fatalf("first page %q from %q", first, b)
		}
	})
}

// TestProgressBelongsToOneSweep: a saved place is keyed by the sweep's name, what it lists
// and whether it is a dry run, and only a link on its own listing is followed.
func TestProgressBelongsToOneSweep(t *testing.T) {
	live, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	dry, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true,"dryRun":true}}`)
	other, _ := parse(t, `{"sweep":{"name":"all","group":"d6b4f9a2-3c8e-4f0b-8a72-4e9c3b8d5f26","approved":true}}`)
	risky, _ := parse(t, `{"sweep":{"name":"all","riskyUsers":{"riskLevels":["high","medium"]}}}`)
	riskyAgain, _ := parse(t, `{"sweep":{"name":"all","riskyUsers":{"riskLevels":["medium","high"]}}}`)
	keys := map[string]string{}
	for name, k := range map[string]string{
		"live": live.StateKey(false), "dry": dry.StateKey(false), "live under DRY_RUN": live.StateKey(true),
		"another group": other.StateKey(false), "risky": risky.StateKey(false),
	} {
		if prev, ok := keys[k]; ok && !(name == "dry" && prev == "live under DRY_RUN" || name == "live under DRY_RUN" && prev == "dry") {
			t.Errorf("%s and %s share the key %s", name, prev, k)
		}
		keys[k] = name
	}
	if live.StateKey(false) == dry.StateKey(false) {
		t.Error("a dry run's progress would be resumed by the live run")
	}
	if risky.StateKey(false) != riskyAgain.StateKey(false) {
		t.Error("the same sweep with its levels in another order has another key")
	}

	first := live.FirstPage()
	for link, want := range map[string]bool{
		nextLink(first, 3):             true,
		first:                          true,
		nextLink(other.FirstPage(), 3): false, // another group
		"https://graph.microsoft.com/v1.0/users?$top=100&$skiptoken=3":      false,
		strings.Replace(nextLink(first, 3), "%24top=100", "%24top=999", 1):  false, // query changed
		nextLink(first, 3) + "&$filter=x":                                   false,
		nextLink(first, 3) + "#frag":                                        false,
		"https://graph.microsoft.com/v1.0/groups/" + group + "/../../users": false,
	} {
		if got := live.OwnsLink(link); got != want {
			t.Errorf("OwnsLink(%s) = %v, want %v", link, got, want)
		}
	}

	// A dry run's cursor is never taken up by the live run: the live run lists from the start.
	l := &fakeLister{pages: [][]alert.Principal{users("a", 1), users("b", 1)}}
	cur := &fakeCursors{next: map[string]string{dry.StateKey(false): nextLink(first, 1)}, held: map[string]bool{}}
	rep, err := runner(l, cur, policy.Settings{}, nil).Run(context.Background(), live)
	if err != nil || rep.Resumed || statuses(rep.Targets)[outcome.Revoked] != 2 {
		t.Fatalf("live after a dry run: %v %+v", err, rep)
	}
	// A state item naming another listing is dropped, not followed.
	l = &fakeLister{pages: [][]alert.Principal{users("a", 1)}}
	cur = &fakeCursors{next: map[string]string{live.StateKey(false): "https://graph.microsoft.com/v1.0/users?$top=999"}, held: map[string]bool{}}
	rep, err = runner(l, cur, policy.Settings{}, nil).Run(context.Background(), live)
	if err != nil || !rep.Restarted || rep.Resumed || l.read[0] != first {
		t.Fatalf("foreign cursor: %v %+v reads %v", err, rep, l.read)
	}
	// A listing whose next link leaves the sweep's own path is not followed.
	evil := &evilLister{next: "https://graph.microsoft.com/v1.0/users?$top=999"}
	_, err = runner(evil, nil, policy.Settings{}, nil).Run(context.Background(), live)
	if err == nil || !strings.Contains(err.Error(), "not this sweep's listing") || evil.reads != 1 {
		t.Fatalf("foreign next link: %v after %d reads", err, evil.reads)
	}
}

type evilLister struct {
	next  string
	reads int
}

func (e *evilLister) ListUsers(context.Context, string) (Page, error) {
	e.reads++
	return Page{Users: users("e", 1), Next: e.next}, nil
}

func TestParseIsStrict(t *testing.T) {
	for body, want := range map[string]string{
		`{"sweep":{"name":"x","riskyUsers":{},"APPROVED":true}}`:              `unknown field "APPROVED"`,
		`{"sweep":{"name":"x","riskyUsers":{},"dryRun":true,"dryRun":false}}`: `"dryRun" is given twice`,
		`{"sweep":{"name":"x","riskyUsers":{"RiskLevels":["low"]}}}`:          `unknown field "RiskLevels"`,
		`{"sweep":{"name":"x","riskyUsers":{}},"users":["a@contoso.com"]}`:    `nothing may stand beside "sweep"`,
	} {
		if _, err := parse(t, body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// TestObserveSeesEveryOutcome: outcomes reach Observe page by page, the report counts
// every one and keeps a bounded sample with the unhandled ones in it.
func TestObserveSeesEveryOutcome(t *testing.T) {
	var pages [][]alert.Principal
	for i := 0; i < 5; i++ {
		pages = append(pages, users(fmt.Sprintf("p%d-", i), 4))
	}
	l := &fakeLister{pages: pages}
	s, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	bad := pages[4][3].UserPrincipalName
	r := runner(l, nil, policy.Settings{}, map[string]outcome.Status{bad: outcome.Failed})
	var seen [][]outcome.Outcome
	r.Observe = func(ts []outcome.Outcome) { seen = append(seen, ts) }
	r.Sample = 3
	rep, err := r.Run(context.Background(), s)
	if err == nil {
		t.Fatal("a failed user did not fail the sweep")
	}
	if len(seen) != 5 || rep.Summary[outcome.Revoked] != 19 || rep.Summary[outcome.Failed] != 1 {
		t.Fatalf("observed %d pages, summary %v", len(seen), rep.Summary)
	}
	if len(rep.Targets) != 3 || rep.Omitted != 17 || !slices.ContainsFunc(rep.Targets, func(o outcome.Outcome) bool { return o.UserPrincipalName == bad }) {
		t.Errorf("sample %+v, omitted %d: want 3 kept with the failure among them", rep.Targets, rep.Omitted)
	}
}
