package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/state"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// rotating is the Graph client as the handler sees it: when Entra refuses the credential
// (a client secret rotated in Entra and in Secrets Manager within the cache's hour), it
// drops the cached secret, reads it again and, if it changed, retries the call once with
// a client built on the new one.
type rotating struct {
	conn *connection

	// The caching library's refresh sleeps 2.5-5 s (jitter against hammering Secrets
	// Manager) and ignores the context: one refresh at a time, at most once a minute, so
	// a secret that is simply wrong does not slow every invocation.
	mu          sync.Mutex
	lastRefresh time.Time
}

// refreshEvery bounds how often a refused credential makes the secret be read again.
var refreshEvery = time.Minute

// connectRotating checks that a client can be built now, so a missing or malformed
// secret fails every user with that reason up front, and returns the rotating client.
func connectRotating(conn *connection) revoke.Connect {
	r := &rotating{conn: conn}
	return func(ctx context.Context) (revoke.Graph, error) {
		if _, err := conn.connect(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
}

func (r *rotating) RevokeSignInSessions(ctx context.Context, user string) (revoke.Call, error) {
	var call revoke.Call
	err := r.do(ctx, func(g revoke.Graph) error {
		var err error
		call, err = g.RevokeSignInSessions(ctx, user)
		return err
	})
	return call, err
}

func (r *rotating) User(ctx context.Context, user string) (revoke.User, revoke.Call, error) {
	var u revoke.User
	var call revoke.Call
	err := r.do(ctx, func(g revoke.Graph) error {
		var err error
		u, call, err = g.User(ctx, user)
		return err
	})
	return u, call, err
}

// ListUsers reads a sweep's page through the same rotation as the revoke calls.
func (r *rotating) ListUsers(ctx context.Context, link string) (sweep.Page, error) {
	var p sweep.Page
	err := r.do(ctx, func(g revoke.Graph) error {
		l, ok := g.(sweep.Lister)
		if !ok {
			return &revoke.Error{Kind: revoke.Other, Message: "this Graph client cannot list users"}
		}
		var err error
		p, err = l.ListUsers(ctx, link)
		return err
	})
	return p, err
}

// listerOf gives sweeps the rotating client, built as for the revoke calls.
func listerOf(connect revoke.Connect) func(context.Context) (sweep.Lister, error) {
	return func(ctx context.Context) (sweep.Lister, error) {
		g, err := connect(ctx)
		if err != nil {
			return nil, err
		}
		l, ok := g.(sweep.Lister)
		if !ok {
			return nil, errors.New("the Graph client cannot list users")
		}
		return l, nil
	}
}

// breakerWindow is the state table as the circuit breaker sees it.
type breakerWindow struct {
	store  *state.Store
	window time.Duration
}

func (b breakerWindow) ReadWindow(ctx context.Context, now time.Time, window time.Duration) (time.Time, int, int, error) {
	s, err := b.store.ReadBreaker(ctx, now, window)
	return s.TrippedUntil, s.Count(), s.Carried(), err
}

func (b breakerWindow) CountRevoke(ctx context.Context, now time.Time, window time.Duration, below int, approved bool) (bool, error) {
	return b.store.CountRevoke(ctx, now, window, below, approved)
}

func (b breakerWindow) CountApproved(ctx context.Context, now time.Time, window time.Duration, n int) error {
	return b.store.CountApproved(ctx, now, window, n)
}

func (b breakerWindow) TripBreaker(ctx context.Context, until time.Time) error {
	return b.store.TripBreaker(ctx, until)
}

func (b breakerWindow) ResetBreaker(ctx context.Context) error {
	return b.store.ResetBreaker(ctx, time.Now(), b.window)
}

func (r *rotating) do(ctx context.Context, f func(revoke.Graph) error) error {
	g, err := r.conn.connect(ctx)
	if err != nil {
		return &revoke.Error{Kind: revoke.Credential, Message: err.Error()}
	}
	err = f(g)
	var ge *revoke.Error
	if !errors.As(err, &ge) || ge.Kind != revoke.Credential {
		return err
	}
	r.refresh(ctx)
	fresh, cerr := r.conn.connect(ctx)
	if cerr != nil || fresh == g {
		return err // the secret did not change: another try would be refused the same way
	}
	return f(fresh)
}

// refreshTime is what a refresh may take: the caching library sleeps up to 5 s before it
// reads, and the call retried after it needs time of its own before the deadline margin.
const refreshTime = 10 * time.Second

func (r *rotating) refresh(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastRefresh) < refreshEvery {
		return // refreshed a moment ago, maybe by another worker: connect sees the result
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < refreshTime {
		// Too late in the invocation: the refused credential fails this call, and
		// Lambda's retry, with a fresh deadline, refreshes.
		return
	}
	// The library ignores ctx; waiting for it in a goroutine keeps the deadline ours.
	done := make(chan struct{})
	go func() {
		r.conn.store.Refresh(context.WithoutCancel(ctx))
		close(done)
	}()
	select {
	case <-done:
		r.lastRefresh = time.Now()
	case <-ctx.Done():
	}
}
