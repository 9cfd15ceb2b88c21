// Package pace keeps this deployment's Graph writes under Graph's quota for one app in one
// tenant (3,000 writes per 150 s, 20 a second), with one token bucket that every container
// shares through the state table.
//
// Alerts go first: an alert's revoke takes a token at once and never waits, even when the
// bucket is empty (it borrows, and sweeps repay). Sweeps take what alerts leave: a sweep
// takes a token only while Reserve tokens would remain for alerts, so an alert arriving
// during a sweep finds one waiting instead of queueing behind the sweep's throttling. When
// Graph reports more of the quota spent than this bucket's own pace explains
// (x-ms-throttle-limit-percentage, sent from 0.8), sweeps go at half speed before Graph
// starts answering 429.
//
// It knows nothing of Graph or DynamoDB: the Store is the state table, or memory when
// there is none.
package pace

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/session-revoker/session-revoker/internal/wait"
)

// Store keeps buckets. Take is atomic across every caller of the store: it refills the
// bucket key by rate per second since its last update (to at most burst), and takes n
// tokens if at least n+floor would be there before taking (floor -Inf: take whatever is
// there, borrowing). It returns whether it took and the tokens then left.
type Store interface {
	Take(ctx context.Context, key string, now time.Time, rate, burst, n, floor float64) (taken bool, left float64, err error)
}

// Defaults: Graph's documented write quota, less a margin: Graph throttles Low-priority
// calls (every sweep's) first, before the quota is reached, and does not say how early;
// 18.5 a second stays 7.5% under. A reserve of a fifth of a second's writes for alerts.
const (
	DefaultRate    = 18.5
	DefaultReserve = 4.0
	// QuotaRate is Graph's write quota for one app in one tenant, a second: 3,000 per 150 s.
	QuotaRate = 20.0
	// slowFor is how long sweeps run at half speed after Graph said the quota is fuller
	// than this bucket explains.
	slowFor = 10 * time.Second
	// storeTries bounds the store errors in a row a sweep's write waits through: a take
	// that lost the race for the bucket's item to other containers is tried again.
	storeTries = 8
)

// Bucket is one quota's bucket, shared by every container through Store.
type Bucket struct {
	Store   Store
	Key     string
	Rate    float64 // tokens a second (default DefaultRate)
	Burst   float64 // most tokens held (default Rate: one second's worth)
	Reserve float64 // tokens a sweep leaves for alerts (DefaultReserve for Graph's writes; 0 for none)
	Now     func() time.Time
	Sleep   func(ctx context.Context, d time.Duration) error

	mu        sync.Mutex
	held      int       // tokens this container took for sweeps and has not used
	slowUntil time.Time // half speed until then
}

func (b *Bucket) defaults() (rate, burst, reserve, take float64) {
	rate, burst, reserve = b.Rate, b.Burst, max(b.Reserve, 0)
	if rate <= 0 {
		rate = DefaultRate
	}
	if burst <= 0 {
		burst = rate
	}
	// A sweep takes a quarter second's tokens at once (5 at Graph's pace): fewer store
	// calls, and fewer containers racing for the bucket's item, at the cost of holding at
	// most a quarter second of writes. At least one; no more than the bucket holds above
	// the reserve.
	take = math.Max(1, math.Min(math.Floor(rate/4), math.Floor(burst-reserve)))
	return rate, burst, reserve, take
}

func (b *Bucket) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Bucket) sleep(ctx context.Context, d time.Duration) error {
	if b.Sleep != nil {
		return b.Sleep(ctx, d)
	}
	return wait.For(ctx, d)
}

// Alert takes a token for an alert's write. It never waits: when the bucket is empty the
// alert borrows, and sweeps wait until the debt is repaid. An error from the store is
// returned, and the caller writes anyway: an alert is never held back by its pacing.
func (b *Bucket) Alert(ctx context.Context) error {
	if b == nil {
		return nil
	}
	rate, burst, _, _ := b.defaults()
	_, _, err := b.Store.Take(ctx, b.Key, b.now(), rate, burst, 1, math.Inf(-1))
	return err
}

// Sweep waits for a token for a sweep's write, taking them from the store a few at a time
// and only while Reserve would remain for alerts. It returns when the caller may write, or
// with the context's error.
func (b *Bucket) Sweep(ctx context.Context) error {
	if b == nil {
		return nil
	}
	rate, burst, reserve, take := b.defaults()
	failures := 0
	for {
		b.mu.Lock()
		// At half speed a write costs two tokens: the bucket, shared with every other
		// container, then refills for half as many writes.
		cost := 1
		if b.now().Before(b.slowUntil) {
			cost = 2
		}
		if b.held >= cost {
			b.held -= cost
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		taken, left, err := b.Store.Take(ctx, b.Key, b.now(), rate, burst, take, reserve)
		if err != nil {
			// Contention for the shared item, or a throttled store: transient, so tried
			// again after a jittered pause; only a store that keeps failing stops the sweep.
			if failures++; failures == storeTries {
				return fmt.Errorf("pacing Graph calls (%s): %w", b.Key, err)
			}
			if err := b.sleep(ctx, time.Duration(10+rand.IntN(40*failures))*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		failures = 0
		if taken {
			b.mu.Lock()
			b.held += int(take)
			b.mu.Unlock()
			continue
		}
		// Wait until the bucket has refilled to the batch above the reserve.
		missing := take + reserve - left
		wait := time.Duration(missing / rate * float64(time.Second))
		if wait < 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		if err := b.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Observe tells the bucket what Graph said of the quota on a response: its
// x-ms-throttle-limit-percentage (absent: 0), the share of the quota the last 150 s used.
//
// Graph sends it from 0.8, and this bucket's own writes account for Rate/QuotaRate of it
// (0.925 at the default pace): at full speed it is always there, and halving on it would
// halve every sweep. What the bucket's pace does not explain is someone else on the same
// quota (another deployment or a script with the same app, in the same tenant), so from
// 0.8 and above the bucket's own share (plus 0.02 for its burst), sweeps go at half
// speed for a while; each such answer extends it.
func (b *Bucket) Observe(limit float64) {
	if b == nil || limit < b.slowAt() {
		return
	}
	b.mu.Lock()
	b.slowUntil = b.now().Add(slowFor)
	b.mu.Unlock()
}

func (b *Bucket) slowAt() float64 {
	rate, _, _, _ := b.defaults()
	return math.Max(0.8, rate/QuotaRate+0.02)
}

// Memory is a Store for one process: the bucket of a deployment without a state table,
// and of tests.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*memBucket
}

type memBucket struct {
	tokens float64
	at     time.Time
}

// Take implements Store.
func (m *Memory) Take(_ context.Context, key string, now time.Time, rate, burst, n, floor float64) (bool, float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		m.buckets = map[string]*memBucket{}
	}
	b := m.buckets[key]
	if b == nil {
		b = &memBucket{tokens: burst, at: now}
		m.buckets[key] = b
	}
	b.tokens, b.at = Refill(b.tokens, b.at, now, rate, burst), now
	if b.tokens-n < floor {
		return false, b.tokens, nil
	}
	b.tokens -= n
	return true, b.tokens, nil
}

// Refill is a bucket's tokens at now, having held tokens at at: what every Store computes.
func Refill(tokens float64, at, now time.Time, rate, burst float64) float64 {
	if d := now.Sub(at); d > 0 {
		tokens += d.Seconds() * rate
	}
	return math.Min(tokens, burst)
}
