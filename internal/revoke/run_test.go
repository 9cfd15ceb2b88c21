package revoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// The directory the fake Graph serves. Ids are real GUIDs: Judge acts on nothing else.
const (
	adeleID  = "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"
	alexID   = "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"
	guestID  = "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16"
	breakID  = "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42"
	adeleUPN = "AdeleV@contoso.com"
	alexUPN  = "AlexW@contoso.com"
	guestUPN = "p_fabrikam.com#EXT#@contoso.com"
	breakUPN = "breakglass01@contoso.com"
)

func directory() []User {
	return []User{
		{ID: adeleID, UserPrincipalName: adeleUPN, UserType: "Member"},
		{ID: alexID, UserPrincipalName: alexUPN, UserType: "Member"},
		{ID: guestID, UserPrincipalName: guestUPN, UserType: "Guest"},
		{ID: breakID, UserPrincipalName: breakUPN, UserType: "Member"},
	}
}

// fakeGraph answers lookups from a directory and revokes from a script per key: the n-th
// revoke of a key gets the n-th error (nil for success); past the script, the last entry
// repeats. lookupErr overrides a lookup's answer.
type fakeGraph struct {
	mu        sync.Mutex
	users     []User
	revoke    map[string][]error
	lookupErr map[string]error
	calls     []string
	validFrom map[string][]time.Time // per id: what successive reads return after a revoke
}

func newGraph() *fakeGraph {
	return &fakeGraph{users: directory(), revoke: map[string][]error{}, lookupErr: map[string]error{}}
}

func (f *fakeGraph) find(key string) (User, bool) {
	for _, u := range f.users {
		if strings.EqualFold(u.ID, key) || strings.EqualFold(u.UserPrincipalName, key) {
			return u, true
		}
	}
	return User{}, false
}

func (f *fakeGraph) count(call string) int {
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (f *fakeGraph) RevokeSignInSessions(_ context.Context, user string) (Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "revoke "+user)
	n := f.count("revoke " + user)
	call := Call{RequestID: fmt.Sprintf("req-%s-%d", user, n), ClientRequestID: "client-" + user}
	if script := f.revoke[user]; len(script) > 0 {
		return call, script[min(n, len(script))-1]
	}
	if _, ok := f.find(user); !ok {
		return call, notFound
	}
	return call, nil
}

func (f *fakeGraph) User(_ context.Context, user string) (User, Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "user "+user)
	if err := f.lookupErr[strings.ToLower(user)]; err != nil {
		return User{}, Call{RequestID: "lookup"}, err
	}
	u, ok := f.find(user)
	if !ok {
		return User{}, Call{RequestID: "lookup"}, notFound
	}
	if vs := f.validFrom[u.ID]; len(vs) > 0 {
		u.SignInSessionsValidFrom = vs[0]
		if len(vs) > 1 {
			f.validFrom[u.ID] = vs[1:]
		}
	}
	return u, Call{RequestID: "lookup"}, nil
}

// revoked lists the keys a revoke was sent for.
func (f *fakeGraph) revoked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if k, ok := strings.CutPrefix(c, "revoke "); ok {
			out = append(out, k)
		}
	}
	return out
}

func connectTo(g Graph) Connect {
	return func(context.Context) (Graph, error) { return g, nil }
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return nil
}

// decide runs policy.Decide on one alert naming ps, as the handler does.
func decide(s policy.Settings, ps ...alert.Principal) []policy.Decision {
	return policy.Decide([]alert.Alert{{Format: "test", ID: "a-1", Principals: ps}}, s)
}

func upn(s string) alert.Principal { return alert.Principal{UserPrincipalName: s} }
func oid(s string) alert.Principal { return alert.Principal{UserID: s} }

var (
	throttled   = &Error{Kind: Throttled, Status: 429, Code: "TooManyRequests", Message: "Too many requests", RetryAfter: 1500 * time.Millisecond}
	unavailable = &Error{Kind: Unavailable, Status: 503, Code: "ServiceUnavailable", Message: "Service unavailable"}
	denied      = &Error{Kind: Denied, Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}
	notFound    = &Error{Kind: NotFound, Status: 404, Code: "Request_ResourceNotFound", Message: "Resource does not exist"}
)

func TestRun(t *testing.T) {
	cases := []struct {
		name      string
		p         alert.Principal
		revoke    []error
		lookupErr error
		status    outcome.Status
		attempts  int    // lookup and revoke calls
		reason    string // substring
		sleeps    []time.Duration
		noRevoke  bool
		requestID string
	}{
		{name: "a UPN is looked up, then revoked by its object id", p: upn(adeleUPN), status: outcome.Revoked, attempts: 2, requestID: "req-" + adeleID + "-1"},
		{name: "429 honours fractional Retry-After", p: upn(adeleUPN), revoke: []error{throttled, nil},
			status: outcome.Revoked, attempts: 3, sleeps: []time.Duration{1500 * time.Millisecond}, requestID: "req-" + adeleID + "-2"},
		{name: "503 backs off then succeeds", p: upn(adeleUPN), revoke: []error{unavailable, unavailable, nil}, status: outcome.Revoked, attempts: 4},
		{name: "503 exhausts attempts", p: upn(adeleUPN), revoke: []error{unavailable}, status: outcome.Failed, attempts: 5, reason: "unavailable after 5 attempts"},
		{name: "403 not retried, names the permission", p: upn(adeleUPN), revoke: []error{denied}, status: outcome.Failed, attempts: 2, reason: "User.RevokeSessions.All"},
		{name: "404 at the revoke", p: upn(adeleUPN), revoke: []error{notFound}, status: outcome.NotFound, attempts: 2, reason: "Request_ResourceNotFound"},
		{name: "a guest by object id is skipped, never revoked", p: oid(guestID), status: outcome.Skipped, reason: "guest", noRevoke: true, attempts: 1},
		{name: "not found at the lookup", p: upn("nobody@contoso.com"), status: outcome.NotFound, noRevoke: true, attempts: 1},
		{name: "lookup denied: revoked by the object id, and says so", p: oid(adeleID), lookupErr: denied, status: outcome.Revoked, reason: "user type not checked", attempts: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGraph()
			g.revoke[adeleID] = c.revoke
			if c.lookupErr != nil {
				g.lookupErr[strings.ToLower(c.p.UserID+c.p.UserPrincipalName)] = c.lookupErr
			}
			var s sleeps
			out := Run(context.Background(), decide(policy.Settings{}, c.p), connectTo(g), Options{Sleep: s.sleep})
			o := out[0]
			if o.Status != c.status || o.Attempts != c.attempts || !strings.Contains(o.Reason, c.reason) {
				t.Errorf("got %s after %d calls (%q), want %s after %d (%q)", o.Status, o.Attempts, o.Reason, c.status, c.attempts, c.reason)
			}
			if c.sleeps != nil && fmt.Sprint(s.d) != fmt.Sprint(c.sleeps) {
				t.Errorf("slept %v, want %v", s.d, c.sleeps)
			}
			if r := g.revoked(); c.noRevoke && len(r) > 0 {
				t.Errorf("revoke called: %v", g.calls)
			}
			if c.requestID != "" && o.RequestID != c.requestID {
				t.Errorf("requestId %q, want %q", o.RequestID, c.requestID)
			}
			if o.Status == outcome.Revoked && !strings.HasPrefix(o.RequestID, "req-") {
				t.Error("revoked without the revoke call's request id")
			}
		})
	}
}

// TestFactsNotClaims: the alert's pairing of an object id with a UPN, and what it says
// about a user's type, decide nothing: Graph's answer about the identifier sent does.
func TestFactsNotClaims(t *testing.T) {
	protected, err := policy.ParseProtected(breakUPN)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		p      alert.Principal
		status outcome.Status
		reason string
	}{
		// Listed by UPN, named by its real object id beside another user's UPN (renamed,
		// or a Sentinel entity rebuilding the UPN from Name@UPNSuffix): protected.
		{"break-glass id beside another UPN", alert.Principal{UserID: breakID, UserPrincipalName: adeleUPN}, outcome.Skipped, "protected"},
		{"break-glass id alone", oid(breakID), outcome.Skipped, "protected"},
		{"break-glass UPN in another case", upn("BREAKGLASS01@contoso.com"), outcome.Skipped, "protected"},
		// A guest's object id beside a member-looking UPN: a guest, never "revoked".
		{"guest id beside a member UPN", alert.Principal{UserID: guestID, UserPrincipalName: adeleUPN}, outcome.Skipped, "guest"},
		// The alert says guest; Graph says member: revoked, and the report says so.
		{"member claimed guest", alert.Principal{UserID: alexID, UserType: "Guest"}, outcome.Revoked, "the alert said guest; Graph says Member"},
		{"member id beside a stale UPN", alert.Principal{UserID: alexID, UserPrincipalName: "alex.old@contoso.com"}, outcome.Revoked, "Graph names it " + alexUPN},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGraph()
			opt := Options{Guard: &Guard{List: protected}}
			out := Run(context.Background(), decide(policy.Settings{}, c.p), connectTo(g), opt)
			if len(out) != 1 || out[0].Status != c.status || !strings.Contains(out[0].Reason, c.reason) {
				t.Fatalf("got %+v, want %s (%q)", out, c.status, c.reason)
			}
			for _, k := range g.revoked() {
				if k == breakID || k == guestID || strings.EqualFold(k, breakUPN) {
					t.Errorf("revoke sent for %s", k)
				}
			}
			if c.status == outcome.Revoked && (len(g.revoked()) != 1 || g.revoked()[0] != alexID) {
				t.Errorf("revokes %v, want only %s, by object id", g.revoked(), alexID)
			}
		})
	}
}

func TestProtectedListMustResolve(t *testing.T) {
	protected, _ := policy.ParseProtected(breakUPN + ", nosuch@contoso.com")
	g := newGraph()
	out := Run(context.Background(), decide(policy.Settings{}, upn(adeleUPN)), connectTo(g), Options{Guard: &Guard{List: protected}})
	if out[0].Status != outcome.Failed || !strings.Contains(out[0].Reason, "entry 2 (nosuch@contoso.com) is no user") {
		t.Errorf("an entry naming nobody: %+v", out[0])
	}
	protected, _ = policy.ParseProtected(breakUPN)
	g = newGraph()
	g.lookupErr[strings.ToLower(breakUPN)] = denied
	out = Run(context.Background(), decide(policy.Settings{}, upn(adeleUPN), oid(alexID)), connectTo(g), Options{Guard: &Guard{List: protected}})
	for _, o := range out {
		if o.Status != outcome.Failed || !strings.Contains(o.Reason, "protected accounts could not be resolved") || !strings.Contains(o.Reason, "User.Read.All") {
			t.Errorf("unresolvable list: %+v", o)
		}
	}
	if r := g.revoked(); len(r) != 0 {
		t.Errorf("revoked with the protected list unresolved: %v", r)
	}
}

func TestGuardKeepsTheLastResolution(t *testing.T) {
	protected, _ := policy.ParseProtected(breakUPN)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	guard := &Guard{List: protected, Now: func() time.Time { return now }}
	g := newGraph()
	opt := Options{Guard: guard}
	if out := Run(context.Background(), decide(policy.Settings{}, oid(breakID)), connectTo(g), opt); out[0].Status != outcome.Skipped {
		t.Fatalf("first: %+v", out[0])
	}
	lookups := g.count("user " + breakUPN)
	// Within the refresh: no new lookup of the list.
	Run(context.Background(), decide(policy.Settings{}, oid(alexID)), connectTo(g), opt)
	if g.count("user "+breakUPN) != lookups {
		t.Error("resolved again within the refresh interval")
	}
	// After it, Graph fails: the last resolution still protects the account by id.
	now = now.Add(DefaultGuardRefresh + time.Second)
	g.lookupErr[strings.ToLower(breakUPN)] = unavailable
	out := Run(context.Background(), decide(policy.Settings{}, alert.Principal{UserID: breakID, UserPrincipalName: adeleUPN}), connectTo(g), Options{Guard: guard, Sleep: (&sleeps{}).sleep})
	if out[0].Status != outcome.Skipped || !strings.Contains(out[0].Reason, "protected") {
		t.Errorf("after a failed refresh: %+v", out[0])
	}
}

// TestOneUserOneOutcome: a user named once by UPN and once by object id is looked up
// twice, revoked once, reported once, and counts once towards the blast radius.
func TestOneUserOneOutcome(t *testing.T) {
	g := newGraph()
	ds := decide(policy.Settings{MaxTargetsPerAlert: 2}, upn(adeleUPN), oid(adeleID), upn(alexUPN))
	if len(ds) != 3 {
		t.Fatalf("%d decisions before Graph: the mentions are separate identifiers", len(ds))
	}
	out := Run(context.Background(), ds, connectTo(g), Options{Policy: policy.Settings{MaxTargetsPerAlert: 2}})
	if len(out) != 2 {
		t.Fatalf("%d outcomes for two users: %+v", len(out), out)
	}
	for _, o := range out {
		if o.Status != outcome.Revoked {
			t.Errorf("%+v", o)
		}
	}
	if r := g.revoked(); len(r) != 2 {
		t.Errorf("revokes %v", r)
	}
	// Three real users under a limit of two: nobody is revoked.
	g = newGraph()
	ds = decide(policy.Settings{MaxTargetsPerAlert: 2}, upn(adeleUPN), oid(adeleID), upn(alexUPN), upn(breakUPN))
	out = Run(context.Background(), ds, connectTo(g), Options{Policy: policy.Settings{MaxTargetsPerAlert: 2}})
	for _, o := range out {
		if o.Status != outcome.NeedsApproval || !strings.Contains(o.Reason, "3 users") {
			t.Errorf("over the limit on facts: %+v", o)
		}
	}
	if r := g.revoked(); len(r) != 0 {
		t.Errorf("revoked over the limit: %v", r)
	}
}

// TestDryRunIsTheLiveDecision: a dry run asks Graph what a live run would ask, so a
// protected account or a guest named by object id is skipped in both.
func TestDryRunIsTheLiveDecision(t *testing.T) {
	protected, _ := policy.ParseProtected(breakUPN)
	ps := []alert.Principal{oid(breakID), oid(guestID), oid(alexID)}
	var runs [2][]string
	for i, dry := range []bool{false, true} {
		g := newGraph()
		s := policy.Settings{DryRun: dry}
		for _, o := range Run(context.Background(), decide(s, ps...), connectTo(g), Options{Guard: &Guard{List: protected}, Policy: s}) {
			runs[i] = append(runs[i], o.UserID+" "+string(o.Status))
		}
		if dry && len(g.revoked()) != 0 {
			t.Errorf("a dry run sent %v", g.revoked())
		}
	}
	want := []string{breakID + " skipped", guestID + " skipped", alexID + " revoked"}
	if fmt.Sprint(runs[0]) != fmt.Sprint(want) {
		t.Errorf("live: %v", runs[0])
	}
	want[2] = alexID + " would-revoke"
	if fmt.Sprint(runs[1]) != fmt.Sprint(want) {
		t.Errorf("dry: %v", runs[1])
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	opt := Options{}.withDefaults()
	seen := map[time.Duration]bool{}
	for n := 1; n <= 10; n++ {
		d := backoff(n, opt)
		if d < opt.BaseDelay/2 || d > opt.MaxDelay {
			t.Errorf("backoff(%d) = %v", n, d)
		}
		seen[d] = true
	}
	if len(seen) < 5 {
		t.Errorf("backoff not jittered: %v", seen)
	}
}

func TestDeadline(t *testing.T) {
	g := newGraph()
	g.revoke[adeleID] = []error{&Error{Kind: Throttled, Status: 429, RetryAfter: 10 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var s sleeps
	out := Run(ctx, decide(policy.Settings{}, oid(adeleID)), connectTo(g), Options{Sleep: s.sleep, Margin: 3 * time.Second})
	if out[0].Status != outcome.Deferred || len(s.d) != 0 || !strings.Contains(out[0].Reason, "Graph asked to wait 10s") {
		t.Errorf("Retry-After past the deadline: got %s (%s), slept %v", out[0].Status, out[0].Reason, s.d)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out = Run(ctx, decide(policy.Settings{}, oid(alexID)), connectTo(g), Options{Margin: 3 * time.Second})
	if out[0].Status != outcome.Deferred || out[0].Attempts != 0 {
		t.Errorf("inside the margin: got %s after %d attempts", out[0].Status, out[0].Attempts)
	}
}

func TestConnectOnlyWhenNeeded(t *testing.T) {
	called := false
	fail := func(context.Context) (Graph, error) { called = true; return nil, errors.New("secret x does not exist") }
	skip := decide(policy.Settings{}, alert.Principal{Account: "SYSTEM"})
	out := Run(context.Background(), skip, fail, Options{})
	if called || out[0].Status != outcome.Skipped {
		t.Fatalf("connect called for nothing to revoke: %v %+v", called, out)
	}
	out = Run(context.Background(), decide(policy.Settings{}, alert.Principal{Account: "SYSTEM"}, upn(adeleUPN)), fail, Options{})
	if out[0].Status != outcome.Skipped || out[1].Status != outcome.Failed || !strings.Contains(out[1].Reason, "does not exist") {
		t.Fatalf("got %+v", out)
	}
}

func TestManyTargetsKeepOrder(t *testing.T) {
	g := newGraph()
	var ps []alert.Principal
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		g.users = append(g.users, User{ID: id, UserPrincipalName: fmt.Sprintf("u%02d@contoso.com", i), UserType: "Member"})
		ps = append(ps, upn(fmt.Sprintf("u%02d@contoso.com", i)))
	}
	out := Run(context.Background(), decide(policy.Settings{}, ps...), connectTo(g), Options{Concurrency: 8})
	for i, o := range out {
		if o.UserPrincipalName != ps[i].UserPrincipalName || o.Status != outcome.Revoked {
			t.Fatalf("out[%d] = %+v", i, o)
		}
	}
	if n := len(g.revoked()); n != 50 {
		t.Errorf("%d revokes for 50 users", n)
	}
}

// memSuppressor is an in-memory Suppressor for the loop's logic; the DynamoDB one is
// tested against moto in package state.
type memSuppressor struct {
	mu    sync.Mutex
	at    map[string]time.Time
	alert map[string]string
	err   error
}

func (m *memSuppressor) LastRevoke(_ context.Context, key string) (time.Time, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at[key], m.alert[key], m.err
}

func (m *memSuppressor) RecordRevoke(_ context.Context, key string, at time.Time, _ time.Duration, alertID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.at[key], m.alert[key] = at, alertID
	return nil
}

func TestSuppressionOnlyAfterARevoke(t *testing.T) {
	sup := &memSuppressor{at: map[string]time.Time{}, alert: map[string]string{}}
	opt := Options{Suppress: sup, SuppressWindow: 30 * time.Minute}
	g := newGraph()
	n := 0
	run := func(p alert.Principal) outcome.Outcome {
		n++ // every call is another alert
		ds := policy.Decide([]alert.Alert{{Format: "test", ID: fmt.Sprint("alert-", n), Principals: []alert.Principal{p}}}, policy.Settings{})
		return Run(context.Background(), ds, connectTo(g), opt)[0]
	}
	if o := run(upn(adeleUPN)); o.Status != outcome.Revoked {
		t.Fatalf("first: %+v", o)
	}
	// Named the other way within the window: the same user, suppressed (keyed by id).
	if o := run(oid(strings.ToUpper(adeleID))); o.Status != outcome.Suppressed || !strings.Contains(o.Reason, "SUPPRESS_MINUTES=30") {
		t.Errorf("second, by object id: %+v", o)
	}
	// A failed revoke records nothing: the retry is not suppressed.
	g.revoke[alexID] = []error{denied, nil}
	if o := run(upn(alexUPN)); o.Status != outcome.Failed {
		t.Fatalf("failed revoke: %+v", o)
	}
	if !sup.at[alexID].IsZero() {
		t.Error("a failed revoke was recorded as a revoke")
	}
	if o := run(upn(alexUPN)); o.Status != outcome.Revoked {
		t.Errorf("retry after a failure: %+v", o)
	}
	// The state cannot be read: suppression guards nobody, so the user is revoked anyway.
	sup.err = errors.New("state table x does not exist")
	sup.at = map[string]time.Time{}
	if o := run(oid(breakID)); o.Status != outcome.Revoked || !strings.Contains(o.Reason, "suppression state not read") {
		t.Errorf("state down: %+v", o)
	}
}

// fakeWindow is the circuit breaker's store in memory.
type fakeWindow struct {
	mu           sync.Mutex
	n, approved  int
	carried      int
	trippedUntil time.Time
	err          error
}

func (w *fakeWindow) ReadWindow(context.Context, time.Time, time.Duration) (time.Time, int, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trippedUntil, w.n + w.carried, w.carried, w.err
}

func (w *fakeWindow) CountApproved(_ context.Context, _ time.Time, _ time.Duration, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.approved += n
	return nil
}

func (w *fakeWindow) CountRevoke(_ context.Context, _ time.Time, _ time.Duration, below int, approved bool) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, w.err
	}
	if approved {
		w.approved++
		return true, nil
	}
	if w.n >= below {
		return false, nil
	}
	w.n++
	return true, nil
}

func (w *fakeWindow) TripBreaker(_ context.Context, until time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trippedUntil = until
	return nil
}

func fiveUsers(g *fakeGraph) []alert.Principal {
	var ps []alert.Principal
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("10000000-0000-4000-8000-%012d", i)
		g.users = append(g.users, User{ID: id, UserPrincipalName: fmt.Sprintf("v%d@contoso.com", i), UserType: "Member"})
		ps = append(ps, oid(id))
	}
	return ps
}

func statusCounts(out []outcome.Outcome) string { return fmt.Sprint(outcome.Summarise(out)) }

func TestBudget(t *testing.T) {
	// Per delivery: the third and later revokes of one delivery need approval.
	g := newGraph()
	ps := fiveUsers(g)
	limits := &Limits{PerDelivery: 2}
	out := Run(context.Background(), decide(policy.Settings{}, ps...), connectTo(g), Options{Budget: limits.ForDelivery(), Concurrency: 1})
	if got := statusCounts(out); got != "map[needs-approval:3 revoked:2]" || len(g.revoked()) != 2 {
		t.Errorf("per delivery: %s, revokes %v", got, g.revoked())
	}

	// Across invocations: the window holds 3 (one carried from the previous window).
	w := &fakeWindow{carried: 1}
	limits = &Limits{PerWindow: 3, Window: 10 * time.Minute, Store: w}
	g = newGraph()
	ps = fiveUsers(g)
	out = Run(context.Background(), decide(policy.Settings{}, ps[:1]...), connectTo(g), Options{Budget: limits.ForDelivery()})
	out = append(out, Run(context.Background(), decide(policy.Settings{}, ps[1:]...), connectTo(g), Options{Budget: limits.ForDelivery(), Concurrency: 1})...)
	if got := statusCounts(out); got != "map[needs-approval:3 revoked:2]" || w.trippedUntil.IsZero() {
		t.Errorf("window: %s, tripped %v", got, w.trippedUntil)
	}
	for _, o := range out {
		if o.Status == outcome.NeedsApproval && !strings.Contains(o.Reason, "circuit breaker tripped") {
			t.Errorf("reason %q", o.Reason)
		}
	}
	// Tripped: a later delivery revokes nobody without approval...
	g.calls = nil
	out = Run(context.Background(), decide(policy.Settings{}, oid(adeleID)), connectTo(g), Options{Budget: limits.ForDelivery()})
	if out[0].Status != outcome.NeedsApproval || len(g.revoked()) != 0 {
		t.Errorf("while tripped: %+v", out[0])
	}
	// ...but an approved request carries its operator's approval, and is counted apart.
	approved := policy.Decide([]alert.Alert{{Format: "direct", ID: "ok", Approved: true, Principals: []alert.Principal{oid(adeleID), oid(alexID)}}}, policy.Settings{})
	out = Run(context.Background(), approved, connectTo(g), Options{Budget: limits.ForDelivery()})
	if got := statusCounts(out); got != "map[revoked:2]" || w.approved != 2 {
		t.Errorf("approved while tripped: %s, counted %d", got, w.approved)
	}

	// The breaker's state cannot be read: an alert's revoke fails closed.
	w.err = errors.New("state table x does not exist")
	out = Run(context.Background(), decide(policy.Settings{}, oid(alexID)), connectTo(newGraph()), Options{Budget: (&Limits{PerWindow: 3, Window: time.Minute, Store: w}).ForDelivery()})
	if out[0].Status != outcome.Failed || !strings.Contains(out[0].Reason, "revoke budget could not be checked") {
		t.Errorf("breaker unreadable: %+v", out[0])
	}
}

func TestVerifyReadsAgainBeforeAMismatch(t *testing.T) {
	old := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		reads  []time.Time
		status outcome.Status
	}{
		"replica catches up": {[]time.Time{old, old, time.Now().Add(time.Minute)}, outcome.Verified},
		"never moves":        {[]time.Time{old}, outcome.Failed},
	} {
		t.Run(name, func(t *testing.T) {
			g := newGraph()
			g.validFrom = map[string][]time.Time{alexID: append([]time.Time{old}, c.reads...)} // the first read is the lookup
			var s sleeps
			out := Run(context.Background(), decide(policy.Settings{}, oid(alexID)), connectTo(g), Options{Verify: true, Sleep: s.sleep})
			if out[0].Status != c.status {
				t.Errorf("got %s (%s)", out[0].Status, out[0].Reason)
			}
			if reads := g.count("user " + alexID); reads != 4 {
				t.Errorf("%d reads, want the lookup and 3 verification reads", reads)
			}
		})
	}
}

// hangingGraph never answers, like a Graph that accepted the connection and went quiet.
type hangingGraph struct{}

func (hangingGraph) RevokeSignInSessions(ctx context.Context, _ string) (Call, error) {
	<-ctx.Done()
	return Call{}, &Error{Kind: Unavailable, Message: "no response from Graph: timed out"}
}

func (hangingGraph) User(ctx context.Context, _ string) (User, Call, error) {
	<-ctx.Done()
	return User{}, Call{}, &Error{Kind: Unavailable, Message: "no response from Graph: timed out"}
}

// TestCallsStopAtTheMargin: a call never runs into the margin kept before the deadline,
// so the outcome is written before Lambda's timeout.
func TestCallsStopAtTheMargin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	out := Run(ctx, decide(policy.Settings{}, upn("quiet@contoso.com")), connectTo(hangingGraph{}),
		Options{Margin: 1500 * time.Millisecond, CallTimeout: 15 * time.Second})
	if late := time.Until(deadline); late < 1200*time.Millisecond {
		t.Errorf("returned %v before the deadline, inside the 1.5 s margin", late)
	}
	if out[0].Status != outcome.Deferred {
		t.Errorf("got %s (%s), want deferred", out[0].Status, out[0].Reason)
	}
}

// TestRetryReportsItsOwnRevokes: the retry of a sweep's chunk whose first attempt revoked
// a user reports that user revoked, with when, not suppressed by its own earlier attempt,
// and sends nothing again.
func TestRetryReportsItsOwnRevokes(t *testing.T) {
	sup := &memSuppressor{at: map[string]time.Time{}, alert: map[string]string{}}
	opt := Options{Suppress: sup, SuppressWindow: 30 * time.Minute, Sweep: true}
	g := newGraph()
	g.revoke[alexID] = []error{denied, nil}
	first := Run(context.Background(), decide(policy.Settings{}, oid(adeleID), oid(alexID)), connectTo(g), opt)
	if first[0].Status != outcome.Revoked || first[1].Status != outcome.Failed {
		t.Fatalf("first attempt: %+v", first)
	}
	retry := Run(context.Background(), decide(policy.Settings{}, oid(adeleID), oid(alexID)), connectTo(g), opt)
	if retry[0].Status != outcome.Revoked || !strings.Contains(retry[0].Reason, "earlier attempt of this chunk") || retry[1].Status != outcome.Revoked {
		t.Fatalf("retry: %+v", retry)
	}
	if n := g.count("revoke " + adeleID); n != 1 {
		t.Errorf("%d revokes of a user the first attempt revoked", n)
	}
	// Another alert within the window is suppressed, as before.
	other := Run(context.Background(), policy.Decide([]alert.Alert{{Format: "test", ID: "a-2", Principals: []alert.Principal{oid(adeleID)}}}, policy.Settings{}), connectTo(g), opt)
	if other[0].Status != outcome.Suppressed {
		t.Errorf("another alert: %+v", other[0])
	}
}

// batchSuppressor reads every record in one call, and counts the calls of each kind.
type batchSuppressor struct {
	memSuppressor
	batchErr      error
	batch, single int
}

func (b *batchSuppressor) LastRevoke(ctx context.Context, key string) (time.Time, string, error) {
	b.mu.Lock()
	b.single++
	b.mu.Unlock()
	return b.memSuppressor.LastRevoke(ctx, key)
}

func (b *batchSuppressor) LastRevokes(_ context.Context, keys []string) (map[string]Prior, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batch++
	if b.batchErr != nil {
		return nil, b.batchErr
	}
	out := map[string]Prior{}
	for _, k := range keys {
		if at, ok := b.at[k]; ok {
			out[k] = Prior{At: at, AlertID: b.alert[k]}
		}
	}
	return out, nil
}

// TestPriorsReadInOneCall: a run of several users reads their suppression records in one
// call and decides on them as on single reads (the chunk's own earlier revoke recognised);
// when the batch read fails, each user reads its own.
func TestPriorsReadInOneCall(t *testing.T) {
	sup := &batchSuppressor{memSuppressor: memSuppressor{at: map[string]time.Time{}, alert: map[string]string{}}}
	opt := Options{Suppress: sup, SuppressWindow: 30 * time.Minute, Sweep: true}
	g := newGraph()
	g.revoke[alexID] = []error{denied, nil}
	first := Run(context.Background(), decide(policy.Settings{}, oid(adeleID), oid(alexID)), connectTo(g), opt)
	if first[0].Status != outcome.Revoked || first[1].Status != outcome.Failed || sup.batch != 1 || sup.single != 0 {
		t.Fatalf("first attempt: %+v; %d batch reads, %d single", first, sup.batch, sup.single)
	}
	sup.batchErr = errors.New("ProvisionedThroughputExceededException")
	retry := Run(context.Background(), decide(policy.Settings{}, oid(adeleID), oid(alexID)), connectTo(g), opt)
	if retry[0].Status != outcome.Revoked || !strings.Contains(retry[0].Reason, "earlier attempt of this chunk") || retry[1].Status != outcome.Revoked {
		t.Fatalf("retry: %+v", retry)
	}
	if sup.batch != 2 || sup.single != 2 || g.count("revoke "+adeleID) != 1 {
		t.Errorf("retry after a failed batch read: %d batch reads, %d single, %d revokes of Adele", sup.batch, sup.single, g.count("revoke "+adeleID))
	}
}
