package pace

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time that sleeping advances, shared by every bucket of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func bucket(store Store, c *clock) *Bucket {
	return &Bucket{Store: store, Key: "graph-writes", Rate: 20, Reserve: 4, Now: c.Now, Sleep: c.Sleep}
}

// TestSweepsKeepTheRate: however many sweep writes ask, no more than the rate (and the
// first burst) go through in any stretch of time, and they come close to it.
func TestSweepsKeepTheRate(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	b := bucket(&Memory{}, c)
	start := c.Now()
	const n = 2000
	for i := 0; i < n; i++ {
		if err := b.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := c.Now().Sub(start).Seconds()
	rate := n / elapsed
	// The reserve and the held batch are the only slack: at most 20 a second, at least
	// 95% of it.
	if rate > 20*1.01 || rate < 19 {
		t.Errorf("%d sweep writes in %.1f s: %.2f a second, want just under 20", n, elapsed, rate)
	}
}

// TestAlertsGoFirst: an alert never waits, even with the bucket drained by a sweep, and
// what it borrows the sweep repays.
func TestAlertsGoFirst(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	store := &Memory{}
	sweep, alert := bucket(store, c), bucket(store, c)
	for i := 0; i < 100; i++ {
		sweep.Sweep(context.Background())
	}
	before := c.Now()
	for i := 0; i < 30; i++ { // a burst of alerts, more than the bucket holds
		if err := alert.Alert(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Now().Equal(before) {
		t.Fatalf("alerts waited %v", c.Now().Sub(before))
	}
	// The sweep now waits for the debt: its next 100 writes and the 30 alerts together keep
	// the rate.
	for i := 0; i < 100; i++ {
		sweep.Sweep(context.Background())
	}
	if took := c.Now().Sub(before).Seconds(); 130/took > 20*1.05 {
		t.Errorf("130 writes in %.2f s: the alerts' writes were not repaid", took)
	}
}

// TestContainersShareTheBucket: two containers sweeping at once share one rate.
func TestContainersShareTheBucket(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	store := &Memory{}
	a, b := bucket(store, c), bucket(store, c)
	start := c.Now()
	// The two take turns on one fake clock (goroutines would each advance it by their own
	// sleeps, which time does not do): together they keep the one rate.
	for i := 0; i < 500; i++ {
		for _, bk := range []*Bucket{a, b} {
			if err := bk.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 20 a second, plus the first second's burst.
	if took := c.Now().Sub(start).Seconds(); 1000 > 20*took+20 {
		t.Errorf("two containers together: 1000 writes in %.1f s", took)
	}
}

// Graph's percentage counts this bucket's own writes: at its own full pace (here 20 a
// second, the whole quota) the header reads up to 1.0 and must not slow anything; more
// than the bucket explains must. A bucket paced at 16 a second (0.8) slows above 0.82.
func TestSlowDownNearTheQuota(t *testing.T) {
	for _, tc := range []struct {
		rate       float64
		fast, slow float64 // a percentage that leaves full speed, and one that halves it
	}{
		{rate: 20, fast: 1.0, slow: 1.05},
		{rate: DefaultRate, fast: 0.94, slow: 0.95},
		{rate: 16, fast: 0.81, slow: 0.83},
		{rate: 8, fast: 0.79, slow: 0.8},
	} {
		c := &clock{now: time.Unix(1_800_000_000, 0)}
		b := bucket(&Memory{}, c)
		b.Rate, b.Burst = tc.rate, tc.rate
		for range 2 * int(tc.rate) {
			b.Sweep(context.Background())
		}
		speed := func() float64 {
			start := c.Now()
			for range 2 * int(tc.rate) {
				b.Sweep(context.Background())
			}
			return 2 * tc.rate / c.Now().Sub(start).Seconds()
		}
		b.Observe(tc.fast)
		if got := speed(); got < 0.9*tc.rate {
			t.Errorf("rate %v, after x-ms-throttle-limit-percentage %v: %.1f writes a second, want full speed", tc.rate, tc.fast, got)
		}
		b.Observe(tc.slow)
		if got := speed(); got > 0.6*tc.rate {
			t.Errorf("rate %v, after x-ms-throttle-limit-percentage %v: %.1f writes a second, want about half", tc.rate, tc.slow, got)
		}
		// Half speed lasts slowFor from the last answer that asked for it.
		c.now = c.now.Add(slowFor)
		if got := speed(); got < 0.9*tc.rate {
			t.Errorf("rate %v, %v after the last high answer: %.1f writes a second, want full speed again", tc.rate, slowFor, got)
		}
	}
}

func TestRefill(t *testing.T) {
	at := time.Unix(0, 0)
	if got := Refill(2, at, at.Add(500*time.Millisecond), 20, 20); got != 12 {
		t.Errorf("Refill = %v", got)
	}
	if got := Refill(2, at, at.Add(time.Hour), 20, 20); got != 20 {
		t.Errorf("Refill beyond burst = %v", got)
	}
	if got := Refill(-5, at, at.Add(-time.Second), 20, 20); got != -5 {
		t.Errorf("Refill with the clock behind = %v", got)
	}
	if math.IsNaN(Refill(0, at, at, 20, 20)) {
		t.Error("NaN")
	}
}

// TestOneASecond: Identity Protection's bucket (1 a second, no reserve) paces one call at
// a time.
func TestOneASecond(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	b := &Bucket{Store: &Memory{}, Key: "identity-protection", Rate: 1, Burst: 1, Now: c.Now, Sleep: c.Sleep}
	start := c.Now()
	for i := 0; i < 10; i++ {
		if err := b.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := c.Now().Sub(start); took < 9*time.Second || took > 10*time.Second {
		t.Errorf("10 calls at 1 a second took %v", took)
	}
}

// flaky is a store that fails its first n takes, as a store contended by other containers
// or throttled does.
type flaky struct {
	Memory
	fail int
}

func (f *flaky) Take(ctx context.Context, key string, now time.Time, rate, burst, n, floor float64) (bool, float64, error) {
	if f.fail > 0 {
		f.fail--
		return false, 0, errors.New("the item kept changing under 3 conditional writes")
	}
	return f.Memory.Take(ctx, key, now, rate, burst, n, floor)
}

// A sweep's write waits through a few store errors in a row; a store that keeps failing
// stops it with the store's reason.
func TestSweepWaitsThroughStoreErrors(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	b := bucket(&flaky{fail: storeTries - 1}, c)
	if err := b.Sweep(context.Background()); err != nil {
		t.Fatalf("after %d store errors: %v", storeTries-1, err)
	}
	b = bucket(&flaky{fail: storeTries}, c)
	if err := b.Sweep(context.Background()); err == nil || !strings.Contains(err.Error(), "kept changing") {
		t.Fatalf("after %d store errors: %v", storeTries, err)
	}
}
