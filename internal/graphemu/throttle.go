package graphemu

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The throttle model of the identity service's limits, off unless asked for:
//
// The write quota (WithWriteQuota; Graph documents 3,000 writes per 150 s per app and
// tenant). Every POST revokeSignInSessions that passes authentication is one write,
// counted in a sliding window per app (the token's client id) and tenant, before the
// user is resolved: a revoke of an unknown user costs a write too. A refused request is
// not a write. Past the quota the request gets 429 TooManyRequests with Retry-After (whole
// seconds until enough writes have left the window for it to pass), x-ms-throttle-scope
// Tenant_Application/ReadWrite/<appId>/<tenantId> and x-ms-throttle-information
// WriteLimitExceeded. From 80% of the quota every write's answer, success or not, carries
// x-ms-throttle-limit-percentage: the window's demand (writes admitted plus writes refused
// within it) over the quota, 0.8 to 1.8, so a client that keeps pushing past the quota sees
// more than 1.
//
// Priority (x-ms-throttle-priority). Graph says only that Low requests are throttled
// first, not how early. The model: a Low request is refused once the window holds 95% of
// the quota (rounded up), Normal and High (and a request without the header, or with a value Graph
// does not define) go on to 100%. High gets nothing beyond the quota.
//
// Identity Protection (WithIdentityProtectionLimit): riskyUsers and riskDetections share
// one request a second per tenant, across apps; a request less than a second after the
// last one admitted gets 429 with no Retry-After and none of the headers above, as Graph's
// does. A refused request does not restart the second.
//
// The two models are independent (one counts writes, the other Identity Protection
// reads) and can be used together. WithClock gives both a clock a test controls.

// Priorities as Graph spells them; Counters are keyed by these.
const (
	PriorityLow    = "Low"
	PriorityNormal = "Normal"
	PriorityHigh   = "High"
)

// lowShare is the part of the write quota Low requests may use (see above).
//
// Why 95 and not, say, 90: the targets (sweeps at 0.9 of 20/s with under 1% of
// calls throttled, all of them Low) mean a Low caller at 18/s is not refused; a 90% cut
// would refuse it as soon as alerts add anything. Graph documents no figure either way.
const lowShare = 0.95

// WithWriteQuota applies Graph's write limit for one app in one tenant: at most n writes
// (POST revokeSignInSessions) in any window of that length. Graph's documented figure
// is WithWriteQuota(3000, 150*time.Second).
func WithWriteQuota(n int, window time.Duration) Option {
	return func(s *Server) {
		if n < 1 || window <= 0 {
			panic("graphemu: WithWriteQuota needs a quota of at least 1 and a positive window")
		}
		s.throttle.quota, s.throttle.window = n, window
	}
}

// WithIdentityProtectionLimit applies Identity Protection's limit, one request a second
// per tenant, to riskDetections and riskyUsers: a request less than a second after the
// last one admitted gets 429 with no Retry-After header, as Graph's does.
func WithIdentityProtectionLimit() Option {
	return func(s *Server) { s.throttle.identityLimit = true }
}

// WithClock sets the clock the throttle models read (the write window and Identity
// Protection's second), so a test can move time instead of waiting. Latency, faults'
// delays and token lifetimes keep real time.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.throttle.now = now }
}

// Counters is what the throttle models did since the server started.
type Counters struct {
	// Writes admitted into the window, and refused with 429, by priority (PriorityLow,
	// PriorityNormal, PriorityHigh; a request without the header counts as Normal).
	Accepted, Throttled map[string]int
	// PeakWrites is the most writes the window ever held at once; PeakPercent the
	// highest x-ms-throttle-limit-percentage sent (0 if none was).
	PeakWrites  int
	PeakPercent float64
	// IdentityThrottled counts Identity Protection requests refused with 429.
	IdentityThrottled int
}

// AcceptedWrites is the number of writes admitted, all priorities together.
func (c Counters) AcceptedWrites() int { return sum(c.Accepted) }

// ThrottledWrites is the number of writes refused with 429, all priorities together.
func (c Counters) ThrottledWrites() int { return sum(c.Throttled) }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Throttling returns a copy of the throttle models' counters.
func (s *Server) Throttling() Counters {
	t := &s.throttle
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counters
	c.Accepted, c.Throttled = make(map[string]int), make(map[string]int)
	for k, v := range t.counters.Accepted {
		c.Accepted[k] = v
	}
	for k, v := range t.counters.Throttled {
		c.Throttled[k] = v
	}
	return c
}

// throttle is the models' state; it has its own lock so a write's decision never waits
// on the directory.
type throttle struct {
	mu     sync.Mutex
	now    func() time.Time // WithClock; nil: time.Now
	quota  int              // WithWriteQuota; 0: no write limit
	window time.Duration
	// windows holds, per app+tenant scope, when its admitted and refused writes arrived,
	// oldest first, pruned to the window.
	windows map[string]*writeWindow

	identityLimit bool
	identityLast  time.Time

	counters Counters
}

type writeWindow struct {
	admitted, refused []time.Time
}

func (t *throttle) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// priority is the request's x-ms-throttle-priority as the model reads it.
func priority(r *http.Request) string {
	switch v := strings.TrimSpace(r.Header.Get("x-ms-throttle-priority")); {
	case strings.EqualFold(v, PriorityLow):
		return PriorityLow
	case strings.EqualFold(v, PriorityHigh):
		return PriorityHigh
	}
	return PriorityNormal
}

// writeThrottled counts one write of app in this tenant and answers 429 if the window
// refuses it. It sets x-ms-throttle-limit-percentage on w in either case, so whatever
// answers the request next sends it.
func (s *Server) writeThrottled(w http.ResponseWriter, r *http.Request, app string) bool {
	t := &s.throttle
	if t.quota == 0 {
		return false
	}
	prio := priority(r)
	scope := "Tenant_Application/ReadWrite/" + app + "/" + s.tenantID

	t.mu.Lock()
	now := t.clock()
	if t.windows == nil {
		t.windows = make(map[string]*writeWindow)
	}
	win := t.windows[scope]
	if win == nil {
		win = &writeWindow{}
		t.windows[scope] = win
	}
	cut := now.Add(-t.window)
	win.admitted = prune(win.admitted, cut)
	win.refused = prune(win.refused, cut)
	limit := t.quota
	if prio == PriorityLow {
		limit = int(math.Ceil(lowShare * float64(t.quota)))
	}
	used := len(win.admitted)
	refused := used >= limit
	var retryAfter time.Duration
	if refused {
		// The request passes once used-limit+1 of the oldest writes have left the window:
		// the write at index used-limit leaves last of them.
		retryAfter = win.admitted[used-limit].Add(t.window).Sub(now)
		win.refused = append(win.refused, now)
	} else {
		win.admitted = append(win.admitted, now)
	}
	if t.counters.Accepted == nil {
		t.counters.Accepted, t.counters.Throttled = make(map[string]int), make(map[string]int)
	}
	if refused {
		t.counters.Throttled[prio]++
	} else {
		t.counters.Accepted[prio]++
	}
	t.counters.PeakWrites = max(t.counters.PeakWrites, len(win.admitted))
	pct := float64(len(win.admitted)+len(win.refused)) / float64(t.quota)
	pct = math.Min(math.Round(pct*100)/100, 1.8)
	if pct >= 0.8 {
		t.counters.PeakPercent = math.Max(t.counters.PeakPercent, pct)
	}
	t.mu.Unlock()

	if pct >= 0.8 {
		w.Header().Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(pct, 'f', -1, 64))
	}
	if !refused {
		return false
	}
	secs := max(1, int(math.Ceil(retryAfter.Seconds())))
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("x-ms-throttle-scope", scope)
	h.Set("x-ms-throttle-information", "WriteLimitExceeded")
	writeGraphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests")
	return true
}

// prune drops the times at or before cut (the front of ts, which is in order).
func prune(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i == 0 {
		return ts
	}
	// Copy down rather than reslice, so the backing array does not grow without bound.
	n := copy(ts, ts[i:])
	return ts[:n]
}

// identityThrottled plays Identity Protection's one request a second, when enabled.
func (s *Server) identityThrottled(w http.ResponseWriter, r *http.Request) bool {
	t := &s.throttle
	if !t.identityLimit {
		return false
	}
	t.mu.Lock()
	now := t.clock()
	limited := !t.identityLast.IsZero() && now.Sub(t.identityLast) < time.Second
	if limited {
		t.counters.IdentityThrottled++
	} else {
		t.identityLast = now
	}
	t.mu.Unlock()
	if limited {
		writeGraphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.") // no Retry-After
	}
	return limited
}
