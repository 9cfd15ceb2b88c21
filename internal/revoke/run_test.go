package revoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// fakeGraph answers from a script per user: the n-th call gets the n-th error (nil for
// success); past the script, the last entry repeats.
type fakeGraph struct {
	mu      sync.Mutex
	revoke  map[string][]error
	lookup  map[string]lookupAnswer
	calls   []string
	userHit int
}

type lookupAnswer struct {
	user User
	err  error
}

func (f *fakeGraph) RevokeSignInSessions(_ context.Context, user string) (Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "revoke "+user)
	script := f.revoke[user]
	n := 0
	for _, c := range f.calls {
		if c == "revoke "+user {
			n++
		}
	}
	call := Call{RequestID: fmt.Sprintf("req-%s-%d", user, n), ClientRequestID: "client-" + user}
	if len(script) == 0 {
		return call, nil
	}
	if n > len(script) {
		n = len(script)
	}
	return call, script[n-1]
}

func (f *fakeGraph) User(_ context.Context, user string) (User, Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "user "+user)
	a, ok := f.lookup[user]
	if !ok {
		return User{ID: user, UserPrincipalName: user + "@contoso.com", UserType: "Member"}, Call{RequestID: "lookup"}, nil
	}
	return a.user, Call{RequestID: "lookup"}, a.err
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

func revokeUPN(upn string) policy.Decision {
	return policy.Decision{Target: policy.Target{UserPrincipalName: upn, Format: "test", AlertID: "a"}, Revoke: true}
}

func revokeID(id string) policy.Decision {
	return policy.Decision{Target: policy.Target{UserID: id, Format: "test", AlertID: "a"}, Revoke: true}
}

var (
	throttled   = &Error{Kind: Throttled, Status: 429, Code: "TooManyRequests", Message: "Too many requests", RetryAfter: 1500 * time.Millisecond}
	unavailable = &Error{Kind: Unavailable, Status: 503, Code: "ServiceUnavailable", Message: "Service unavailable"}
	denied      = &Error{Kind: Denied, Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}
	notFound    = &Error{Kind: NotFound, Status: 404, Code: "Request_ResourceNotFound", Message: "Resource does not exist"}
)

func TestRun(t *testing.T) {
	cases := []struct {
		name      string
		d         policy.Decision
		revoke    []error
		lookup    *lookupAnswer
		status    outcome.Status
		attempts  int
		reason    string // substring
		sleeps    []time.Duration
		noRevoke  bool
		requestID string
	}{
		{name: "revoked", d: revokeUPN("a@contoso.com"), status: outcome.Revoked, attempts: 1, requestID: "req-a@contoso.com-1"},
		{name: "429 honours fractional Retry-After", d: revokeUPN("a@contoso.com"), revoke: []error{throttled, nil},
			status: outcome.Revoked, attempts: 2, sleeps: []time.Duration{1500 * time.Millisecond}, requestID: "req-a@contoso.com-2"},
		{name: "503 backs off then succeeds", d: revokeUPN("a@contoso.com"), revoke: []error{unavailable, unavailable, nil},
			status: outcome.Revoked, attempts: 3},
		{name: "503 exhausts attempts", d: revokeUPN("a@contoso.com"), revoke: []error{unavailable},
			status: outcome.Failed, attempts: 4, reason: "unavailable after 4 attempts"},
		{name: "403 not retried, names the permission", d: revokeUPN("a@contoso.com"), revoke: []error{denied},
			status: outcome.Failed, attempts: 1, reason: "User.RevokeSessions.All"},
		{name: "404", d: revokeUPN("a@contoso.com"), revoke: []error{notFound}, status: outcome.NotFound, attempts: 1, reason: "Request_ResourceNotFound"},
		{name: "id-only guest is skipped, never revoked", d: revokeID("g-1"), lookup: &lookupAnswer{user: User{ID: "g-1", UserPrincipalName: "p_f.com#EXT#@contoso.com", UserType: "Guest"}},
			status: outcome.Skipped, reason: "guest", noRevoke: true, attempts: 1},
		{name: "id-only not found at lookup", d: revokeID("g-2"), lookup: &lookupAnswer{err: notFound},
			status: outcome.NotFound, noRevoke: true, attempts: 1},
		{name: "id-only lookup denied still revokes, says so", d: revokeID("g-3"), lookup: &lookupAnswer{err: denied},
			status: outcome.Revoked, reason: "user type not checked", attempts: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &fakeGraph{revoke: map[string][]error{c.d.Key(): c.revoke}, lookup: map[string]lookupAnswer{}}
			if c.lookup != nil {
				g.lookup[c.d.Key()] = *c.lookup
			}
			var s sleeps
			out := Run(context.Background(), []policy.Decision{c.d}, connectTo(g), Options{Sleep: s.sleep})
			o := out[0]
			if o.Status != c.status || o.Attempts != c.attempts || !strings.Contains(o.Reason, c.reason) {
				t.Errorf("got %s after %d attempts (%q), want %s after %d (%q)", o.Status, o.Attempts, o.Reason, c.status, c.attempts, c.reason)
			}
			if c.sleeps != nil && fmt.Sprint(s.d) != fmt.Sprint(c.sleeps) {
				t.Errorf("slept %v, want %v", s.d, c.sleeps)
			}
			for _, call := range g.calls {
				if c.noRevoke && strings.HasPrefix(call, "revoke") {
					t.Errorf("revoke called: %v", g.calls)
				}
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
	g := &fakeGraph{revoke: map[string][]error{"slow@contoso.com": {&Error{Kind: Throttled, Status: 429, RetryAfter: 10 * time.Second}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var s sleeps
	out := Run(ctx, []policy.Decision{revokeUPN("slow@contoso.com")}, connectTo(g), Options{Sleep: s.sleep, Margin: 3 * time.Second})
	if out[0].Status != outcome.Deferred || out[0].Attempts != 1 || len(s.d) != 0 {
		t.Errorf("Retry-After past the deadline: got %s after %d attempts, slept %v", out[0].Status, out[0].Attempts, s.d)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out = Run(ctx, []policy.Decision{revokeUPN("late@contoso.com")}, connectTo(g), Options{Margin: 3 * time.Second})
	if out[0].Status != outcome.Deferred || out[0].Attempts != 0 {
		t.Errorf("inside the margin: got %s after %d attempts", out[0].Status, out[0].Attempts)
	}
}

func TestConnectOnlyWhenNeeded(t *testing.T) {
	called := false
	fail := func(context.Context) (Graph, error) { called = true; return nil, errors.New("secret x does not exist") }
	skip := policy.Decision{Target: policy.Target{Identifier: "SYSTEM"}, Status: outcome.Skipped, Reason: "built-in"}
	out := Run(context.Background(), []policy.Decision{skip}, fail, Options{})
	if called || out[0].Status != outcome.Skipped {
		t.Fatalf("connect called for nothing to revoke: %v %+v", called, out)
	}
	out = Run(context.Background(), []policy.Decision{skip, revokeUPN("a@contoso.com")}, fail, Options{})
	if out[0].Status != outcome.Skipped || out[1].Status != outcome.Failed || !strings.Contains(out[1].Reason, "does not exist") {
		t.Fatalf("got %+v", out)
	}
}

func TestManyTargetsKeepOrder(t *testing.T) {
	g := &fakeGraph{revoke: map[string][]error{}}
	var ds []policy.Decision
	for i := 0; i < 50; i++ {
		ds = append(ds, revokeUPN(fmt.Sprintf("u%02d@contoso.com", i)))
	}
	out := Run(context.Background(), ds, connectTo(g), Options{Concurrency: 8})
	for i, o := range out {
		if o.UserPrincipalName != ds[i].UserPrincipalName || o.Status != outcome.Revoked {
			t.Fatalf("out[%d] = %+v", i, o)
		}
	}
	if len(g.calls) != 50 {
		t.Errorf("%d calls for 50 users", len(g.calls))
	}
}

func TestProtectedCheckedAfterLookup(t *testing.T) {
	protected, err := policy.ParseProtected("0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42")
	if err != nil {
		t.Fatal(err)
	}
	bg := User{ID: "0F6D3B9E-2A4C-4E8B-9D1F-5C7A3E6B8D42", UserPrincipalName: "breakglass01@contoso.com", UserType: "Member"}
	g := &fakeGraph{lookup: map[string]lookupAnswer{"breakglass01@contoso.com": {user: bg}}}
	out := Run(context.Background(), []policy.Decision{revokeUPN("breakglass01@contoso.com")}, connectTo(g), Options{Protected: protected})
	if out[0].Status != outcome.Skipped || !strings.Contains(out[0].Reason, "protected") {
		t.Errorf("break-glass known by UPN: %+v", out[0])
	}
	for _, c := range g.calls {
		if strings.HasPrefix(c, "revoke") {
			t.Errorf("revoke called: %v", g.calls)
		}
	}

	// The lookup fails: the list cannot be evaluated, so nobody is revoked.
	g = &fakeGraph{lookup: map[string]lookupAnswer{"someone@contoso.com": {err: denied}}}
	out = Run(context.Background(), []policy.Decision{revokeUPN("someone@contoso.com")}, connectTo(g), Options{Protected: protected})
	if out[0].Status != outcome.Failed || !strings.Contains(out[0].Reason, "protected-account list could not be checked") {
		t.Errorf("fail closed: %+v", out[0])
	}
	if len(g.calls) != 1 {
		t.Errorf("calls %v", g.calls)
	}

	// With no protected ids, a UPN-only user needs no lookup at all.
	g = &fakeGraph{}
	out = Run(context.Background(), []policy.Decision{revokeUPN("someone@contoso.com")}, connectTo(g), Options{})
	if out[0].Status != outcome.Revoked || len(g.calls) != 1 {
		t.Errorf("no list: %+v %v", out[0], g.calls)
	}
}

// memSuppressor is an in-memory Suppressor for the loop's logic; the DynamoDB one is
// tested against moto in package state.
type memSuppressor struct {
	mu       sync.Mutex
	at       map[string]time.Time
	alert    map[string]string
	err      error
	released []string
}

func (m *memSuppressor) ClaimUser(_ context.Context, key string, now time.Time, window time.Duration, alertID string) (bool, time.Time, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, time.Time{}, "", m.err
	}
	if last, ok := m.at[key]; ok && !last.Before(now.Add(-window)) {
		return false, last, m.alert[key], nil
	}
	m.at[key], m.alert[key] = now, alertID
	return true, time.Time{}, "", nil
}

func (m *memSuppressor) ReleaseUser(_ context.Context, key string, claimedAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at[key].Equal(claimedAt) {
		delete(m.at, key)
	}
	m.released = append(m.released, key)
	return nil
}

func TestSuppression(t *testing.T) {
	sup := &memSuppressor{at: map[string]time.Time{}, alert: map[string]string{}}
	opt := Options{Suppress: sup, SuppressWindow: 30 * time.Minute}
	g := &fakeGraph{revoke: map[string][]error{"fails@contoso.com": {denied}}}
	run := func(upn string) outcome.Outcome {
		return Run(context.Background(), []policy.Decision{revokeUPN(upn)}, connectTo(g), opt)[0]
	}
	if o := run("a@contoso.com"); o.Status != outcome.Revoked {
		t.Fatalf("first: %+v", o)
	}
	if o := run("A@contoso.com"); o.Status != outcome.Suppressed || !strings.Contains(o.Reason, "SUPPRESS_MINUTES=30") {
		t.Errorf("second: %+v", o)
	}
	// A failed revoke gives its claim back: the retry must not be suppressed.
	if o := run("fails@contoso.com"); o.Status != outcome.Failed || len(sup.released) != 1 {
		t.Errorf("failed revoke: %+v released %v", o, sup.released)
	}
	if o := run("fails@contoso.com"); o.Status != outcome.Failed {
		t.Errorf("retry after a failure was suppressed: %+v", o)
	}
	// The state cannot be read: nobody is revoked.
	sup.err = errors.New("state table x does not exist")
	calls := len(g.calls)
	if o := run("b@contoso.com"); o.Status != outcome.Failed || !strings.Contains(o.Reason, "suppression state could not be read") {
		t.Errorf("state down: %+v", o)
	}
	if len(g.calls) != calls {
		t.Error("revoked with the suppression state unreadable")
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
// so the outcome is written (and a suppression claim given back) before Lambda's timeout.
func TestCallsStopAtTheMargin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	sup := &memSuppressor{at: map[string]time.Time{}, alert: map[string]string{}}
	out := Run(ctx, []policy.Decision{revokeUPN("quiet@contoso.com")}, connectTo(hangingGraph{}),
		Options{Margin: 1500 * time.Millisecond, CallTimeout: 15 * time.Second, Suppress: sup, SuppressWindow: time.Minute})
	if late := time.Until(deadline); late < 1200*time.Millisecond {
		t.Errorf("returned %v before the deadline, inside the 1.5 s margin", late)
	}
	if out[0].Status != outcome.Deferred {
		t.Errorf("got %s (%s), want deferred", out[0].Status, out[0].Reason)
	}
	if len(sup.released) != 1 {
		t.Error("the suppression claim was not given back: the retry would be suppressed")
	}
}
