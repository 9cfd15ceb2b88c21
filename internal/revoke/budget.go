package revoke

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Limits bound what alerts revoke on their own, beyond MAX_TARGETS_PER_ALERT: at most
// PerDelivery revokes for one delivery (an invocation's payload: a list of alerts, an SQS
// batch, a Pipes array), and at most PerWindow across every invocation in any rolling
// Window (the circuit breaker). A misfiring SIEM rule that emits one alert per user
// stops at the limit instead of signing out the tenant.
//
// Revokes are counted before they are sent. When a limit is reached the breaker trips:
// no more unapproved revokes until the window has passed or an operator resets it (a
// direct {"breaker": "reset"} request), and the users are reported needs-approval, which
// fails the invocation and raises the NeedsApproval alarm. Approved revokes (an approved
// direct request or sweep) carry their operator's approval: they are never stopped,
// and are counted.
type Limits struct {
	PerDelivery int // 0: no per-delivery limit
	PerWindow   int // 0: no circuit breaker
	Window      time.Duration
	// Store keeps the window across invocations (the state table); nil: the window is
	// each delivery alone, and the result says so.
	Store WindowStore
	Log   *slog.Logger
	Now   func() time.Time
}

// WindowStore is the rolling window's count, shared by every container.
type WindowStore interface {
	// ReadWindow returns when the breaker's trip ends (zero: not tripped), the revokes
	// counted in the window, and the previous fixed window's weighted share of them.
	ReadWindow(ctx context.Context, now time.Time, window time.Duration) (trippedUntil time.Time, count, carried int, err error)
	// CountRevoke counts one revoke: an unapproved one only while the current fixed
	// window holds fewer than below unapproved revokes (ok false: not counted); an
	// approved one apart and always, so an operator's sweep never uses up what alerts
	// may revoke.
	CountRevoke(ctx context.Context, now time.Time, window time.Duration, below int, approved bool) (ok bool, err error)
	// CountApproved counts n approved revokes at once.
	CountApproved(ctx context.Context, now time.Time, window time.Duration, n int) error
	TripBreaker(ctx context.Context, until time.Time) error
}

// ForDelivery starts the budget of one delivery.
func (l *Limits) ForDelivery() *DeliveryBudget {
	if l == nil {
		return nil
	}
	return &DeliveryBudget{l: l}
}

// DeliveryBudget is one delivery's budget: a Budget for revoke.Run.
type DeliveryBudget struct {
	l *Limits

	mu       sync.Mutex
	taken    int  // unapproved revokes counted in this delivery
	approved int  // approved revokes not yet counted in the window
	read     bool // the window was read
	tripped  time.Time
	carried  int
	stopped  string // why no unapproved revoke is allowed any more
}

func (b *DeliveryBudget) now() time.Time {
	if b.l.Now != nil {
		return b.l.Now()
	}
	return time.Now()
}

// Take implements Budget.
func (b *DeliveryBudget) Take(ctx context.Context, approved bool) (bool, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.l
	if !approved {
		if b.stopped != "" {
			return false, b.stopped, nil
		}
		if l.PerDelivery > 0 && b.taken >= l.PerDelivery {
			b.stopped = fmt.Sprintf("this delivery reached MAX_REVOKES_PER_DELIVERY=%d revokes: nobody more in it is revoked without approval", l.PerDelivery)
			b.logTrip("delivery")
			return false, b.stopped, nil
		}
	}
	if l.PerWindow <= 0 || l.Window <= 0 || l.Store == nil {
		if !approved {
			b.taken++
		}
		return true, "", nil
	}
	now := b.now()
	if !b.read {
		until, _, carried, err := l.Store.ReadWindow(ctx, now, l.Window)
		if err != nil {
			return false, "", fmt.Errorf("circuit breaker state: %w", err)
		}
		b.read, b.tripped, b.carried = true, until, carried
	}
	if approved {
		// Reported, never limited: counted a few at a time (Settle counts the rest), so a
		// sweep's chunk costs a few writes, not one a user.
		if b.approved++; b.approved < approvedBatch {
			return true, "", nil
		}
		n := b.approved
		b.approved = 0
		return true, "", l.Store.CountApproved(ctx, now, l.Window, n)
	}
	if now.Before(b.tripped) {
		b.stopped = fmt.Sprintf("circuit breaker tripped until %s: more than MAX_REVOKES_PER_WINDOW=%d revokes in %v; nobody more is revoked without approval until then, or until an operator resets it", b.tripped.UTC().Format(time.RFC3339), l.PerWindow, l.Window)
		return false, b.stopped, nil
	}
	below := l.PerWindow - b.carried
	ok := false
	if below > 0 {
		var err error
		if ok, err = l.Store.CountRevoke(ctx, now, l.Window, below, false); err != nil {
			return false, "", fmt.Errorf("circuit breaker count: %w", err)
		}
	}
	if !ok {
		until := now.Add(l.Window)
		if err := l.Store.TripBreaker(context.WithoutCancel(ctx), until); err != nil {
			return false, "", fmt.Errorf("circuit breaker trip: %w", err)
		}
		b.tripped = until
		b.stopped = fmt.Sprintf("circuit breaker tripped: MAX_REVOKES_PER_WINDOW=%d revokes in %v reached; nobody more is revoked without approval until %s, or until an operator resets it", l.PerWindow, l.Window, until.UTC().Format(time.RFC3339))
		b.logTrip("window")
		return false, b.stopped, nil
	}
	b.taken++
	return true, "", nil
}

// approvedBatch is how many approved revokes a delivery counts in one write.
const approvedBatch = 25

// Settle counts the approved revokes not counted yet; Run calls it when its revokes are
// done. A count that fails is logged: approved revokes are reported, not limited.
func (b *DeliveryBudget) Settle(ctx context.Context) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.approved == 0 || b.l.Store == nil {
		return
	}
	n := b.approved
	b.approved = 0
	if err := b.l.Store.CountApproved(context.WithoutCancel(ctx), b.now(), b.l.Window, n); err != nil && b.l.Log != nil {
		b.l.Log.Warn("approved revokes not counted in the circuit breaker's window", "approved", n, "error", err.Error())
	}
}

func (b *DeliveryBudget) logTrip(which string) {
	if b.l.Log != nil {
		b.l.Log.Error("revoke budget reached", "limit", which, "reason", b.stopped, "revokesInDelivery", b.taken)
	}
}

// Stopped says why unapproved revokes stopped in this delivery, "" if they did not.
func (b *DeliveryBudget) Stopped() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}
