package graphemu

import (
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves; the throttle models read it, nothing waits.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// revokeAs posts a revoke with x-ms-throttle-priority set to prio ("" sends none).
func revokeAs(t *testing.T, srv *Server, tok, key, prio string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+revokePath(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if prio != "" {
		req.Header.Set("x-ms-throttle-priority", prio)
	}
	resp, body := send(t, srv, req)
	if resp.StatusCode == http.StatusTooManyRequests {
		wantGraphError(t, resp, body, http.StatusTooManyRequests, "TooManyRequests")
	}
	return resp
}

type answer struct {
	status                      int
	percent, retry, scope, info string
}

func answerOf(resp *http.Response) answer {
	h := resp.Header
	return answer{resp.StatusCode, h.Get("x-ms-throttle-limit-percentage"), h.Get("Retry-After"),
		h.Get("x-ms-throttle-scope"), h.Get("x-ms-throttle-information")}
}

func TestWriteQuota(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, WithWriteQuota(10, 10*time.Second), WithClock(clock.now))
	tok := getToken(t, srv)
	scope := "Tenant_Application/ReadWrite/" + srv.ClientID + "/" + srv.TenantID
	ok := func(pct string) answer { return answer{status: 200, percent: pct} }
	refused := func(pct, retry string) answer {
		return answer{http.StatusTooManyRequests, pct, retry, scope, "WriteLimitExceeded"}
	}

	// Seven writes at 0 s, three at 2 s: the header from the eighth (80%) on.
	var got []answer
	for i := range 10 {
		if i == 7 {
			clock.advance(2 * time.Second)
		}
		got = append(got, answerOf(revokeAs(t, srv, tok, adeleID, "")))
	}
	want := []answer{ok(""), ok(""), ok(""), ok(""), ok(""), ok(""), ok(""), ok("0.8"), ok("0.9"), ok("1")}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("write %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
	// Full: the next passes once the first write leaves the window, 10 s after it came
	// (8 s from now); a client pushing on sees the demand over the quota.
	for i, w := range []answer{refused("1.1", "8"), refused("1.2", "8")} {
		if a := answerOf(revokeAs(t, srv, tok, adeleID, "")); a != w {
			t.Errorf("refused %d: %+v, want %+v", i, a, w)
		}
	}
	clock.advance(7500 * time.Millisecond) // 9.5 s: still 0.5 s to wait, sent as 1
	if a := answerOf(revokeAs(t, srv, tok, adeleID, "")); a != refused("1.3", "1") {
		t.Errorf("at 9.5 s: %+v", a)
	}
	// At 10 s the seven first writes have left: three remain, this is the fourth (the
	// refusals at 2 s and 9.5 s still count in the demand: 0.7).
	clock.advance(500 * time.Millisecond)
	if a := answerOf(revokeAs(t, srv, tok, adeleID, "")); a != ok("") {
		t.Errorf("at 10 s: %+v", a)
	}
	// An empty window again; an unknown user costs a write too: Graph counts the
	// request, not its result.
	clock.advance(10 * time.Second)
	for range 7 {
		revokeAs(t, srv, tok, "nobody@contoso.onmicrosoft.com", "")
	}
	if a := answerOf(revokeAs(t, srv, tok, "nobody@contoso.onmicrosoft.com", "")); a.status != http.StatusNotFound || a.percent != "0.8" {
		t.Errorf("unknown user: %+v, want 404 with 0.8", a)
	}

	c := srv.Throttling()
	if c.AcceptedWrites() != 19 || c.ThrottledWrites() != 3 || c.Throttled[PriorityNormal] != 3 || c.PeakWrites != 10 || c.PeakPercent != 1.3 {
		t.Errorf("counters %+v", c)
	}
	if u, _ := srv.User(adeleID); u.SignInSessionsValidFromDateTime.Equal(DefaultUsers()[0].SignInSessionsValidFromDateTime) {
		t.Error("admitted revokes did not revoke")
	}
}

// Low requests are refused from 95% of the quota while Normal and High go on to 100%.
func TestLowPriorityIsThrottledFirst(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, WithWriteQuota(20, 20*time.Second), WithClock(clock.now))
	tok := getToken(t, srv)
	for i := range 19 {
		clock.advance(time.Second)
		if st := revokeAs(t, srv, tok, adeleID, "low").StatusCode; st != 200 { // case as Graph reads it: any
			t.Fatalf("low write %d: %d", i+1, st)
		}
	}
	// Nineteen in the window (from 1 s to 19 s), 95% of 20: Low must wait until the first
	// leaves (at 21 s).
	low := answerOf(revokeAs(t, srv, tok, adeleID, PriorityLow))
	if low.status != http.StatusTooManyRequests || low.retry != "2" {
		t.Errorf("twentieth, Low: %+v, want 429 after 2 s", low)
	}
	if st := revokeAs(t, srv, tok, adeleID, "").StatusCode; st != 200 {
		t.Errorf("twentieth, no priority: %d", st)
	}
	// Full: High gets nothing beyond the quota.
	if a := answerOf(revokeAs(t, srv, tok, adeleID, PriorityHigh)); a.status != http.StatusTooManyRequests || a.retry != "2" {
		t.Errorf("twenty-first, High: %+v", a)
	}
	// Twenty in the window; Low needs two to leave (the writes at 1 s and 2 s: at 22 s).
	clock.advance(2 * time.Second) // 21 s: the write at 1 s has left
	if a := answerOf(revokeAs(t, srv, tok, adeleID, PriorityLow)); a.status != http.StatusTooManyRequests || a.retry != "1" {
		t.Errorf("at 21 s, Low: %+v", a)
	}
	if st := revokeAs(t, srv, tok, adeleID, PriorityNormal).StatusCode; st != 200 {
		t.Errorf("at 21 s, Normal: %d", st)
	}

	c := srv.Throttling()
	wantAccepted := map[string]int{PriorityLow: 19, PriorityNormal: 2}
	wantThrottled := map[string]int{PriorityLow: 2, PriorityHigh: 1}
	if !maps.Equal(c.Accepted, wantAccepted) || !maps.Equal(c.Throttled, wantThrottled) {
		t.Errorf("accepted %v throttled %v, want %v and %v", c.Accepted, c.Throttled, wantAccepted, wantThrottled)
	}
	// Each request's priority header, as sent, is in the log.
	var prios []string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && r.Path != "/"+srv.TenantID+"/oauth2/v2.0/token" {
			prios = append(prios, r.ThrottlePriority)
		}
	}
	var wantPrios []string
	for range 19 {
		wantPrios = append(wantPrios, "low")
	}
	wantPrios = append(wantPrios, "Low", "", "High", "Low", "Normal")
	if len(prios) != len(wantPrios) {
		t.Fatalf("priorities %q, want %q", prios, wantPrios)
	}
	for i := range prios {
		if prios[i] != wantPrios[i] {
			t.Fatalf("priorities %q, want %q", prios, wantPrios)
		}
	}
}

// Without WithWriteQuota nothing is counted or refused, and no throttle header is sent.
func TestNoQuotaByDefault(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	for i := range 30 {
		if a := answerOf(revokeAs(t, srv, tok, adeleID, PriorityLow)); a != (answer{status: 200}) {
			t.Fatalf("write %d: %+v", i+1, a)
		}
	}
	if c := srv.Throttling(); c.AcceptedWrites() != 0 || c.PeakWrites != 0 {
		t.Errorf("counted without a quota: %+v", c)
	}
}

// Identity Protection's second and the write window are separate limits that work together.
func TestIdentityLimitWithWriteQuota(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, WithWriteQuota(2, time.Minute), WithIdentityProtectionLimit(), WithClock(clock.now))
	tok := getToken(t, srv)
	get := func(path string) answer {
		t.Helper()
		st, _, h := getPage(t, srv, tok, path)
		return answer{st, h.Get("x-ms-throttle-limit-percentage"), h.Get("Retry-After"), h.Get("x-ms-throttle-scope"), h.Get("x-ms-throttle-information")}
	}
	const risky, detections = "/v1.0/identityProtection/riskyUsers", "/v1.0/identityProtection/riskDetections"
	if a := get(risky); a.status != 200 {
		t.Fatalf("first: %+v", a)
	}
	// Within the second: both endpoints refused, with nothing to say when to come back.
	clock.advance(999 * time.Millisecond)
	for _, p := range []string{risky, detections} {
		if a := get(p); a != (answer{status: http.StatusTooManyRequests}) {
			t.Errorf("%s within the second: %+v", p, a)
		}
	}
	// Writes are not Identity Protection requests, nor the reverse.
	if st := revokeAs(t, srv, tok, adeleID, "").StatusCode; st != 200 {
		t.Errorf("a write within Identity Protection's second: %d", st)
	}
	clock.advance(time.Millisecond) // a second after the admitted one; the refusals did not restart it
	if a := get(detections); a.status != 200 {
		t.Errorf("after the second: %+v", a)
	}
	revokeAs(t, srv, tok, adeleID, "")
	if a := answerOf(revokeAs(t, srv, tok, adeleID, "")); a.status != http.StatusTooManyRequests || a.retry != "60" {
		t.Errorf("third write of two a minute: %+v", a)
	}
	if st, _, _ := getPage(t, srv, tok, "/v1.0/users/"+adeleID); st != 200 {
		t.Errorf("a read while writes are throttled: %d", st)
	}
	clock.advance(time.Second)
	if a := get(risky); a.status != 200 {
		t.Errorf("Identity Protection while writes are throttled: %+v", a)
	}
	if c := srv.Throttling(); c.IdentityThrottled != 2 || c.AcceptedWrites() != 2 || c.ThrottledWrites() != 1 {
		t.Errorf("counters %+v", c)
	}
}
