package revoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// Guard resolves PROTECTED_USERS through Graph: every entry's object id and current UPN,
// so that a protected account is recognised by the identifier actually sent, whatever UPN
// an alert pairs with it. Build one per container; it resolves on first use and again
// every Refresh.
//
// The first resolution must succeed for anything to be revoked: a list that cannot be
// resolved protects fewer accounts than the operator meant. A later refresh that fails
// keeps the last good resolution (object ids never change, so it still protects every
// account by id) and says so.
type Guard struct {
	List    policy.Protected
	Refresh time.Duration // default 10 minutes
	Now     func() time.Time

	mu       sync.Mutex
	resolved *policy.Protected
	at       time.Time
}

// DefaultGuardRefresh is how long a resolution is used before Graph is asked again: a
// renamed protected account is then recognised by its new UPN within minutes.
const DefaultGuardRefresh = 10 * time.Minute

// ErrUnresolved marks a protected-account list that could not be resolved.
var ErrUnresolved = errors.New("protected accounts could not be resolved: nobody is revoked until they can be")

// Resolve returns the list with Graph's ids and UPNs added. stale is set when a refresh
// failed and the last good resolution is returned.
func (g *Guard) Resolve(ctx context.Context, graph Graph, opt Options) (p policy.Protected, stale error, err error) {
	if g == nil || g.List.Len() == 0 {
		if g == nil {
			return policy.Protected{}, nil, nil
		}
		return g.List, nil, nil
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	refresh := g.Refresh
	if refresh <= 0 {
		refresh = DefaultGuardRefresh
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.resolved != nil && now().Sub(g.at) < refresh {
		return *g.resolved, nil, nil
	}
	r, err := g.resolve(ctx, graph, opt)
	if err != nil {
		if g.resolved != nil {
			return *g.resolved, err, nil
		}
		return policy.Protected{}, nil, fmt.Errorf("%w: %v", ErrUnresolved, err)
	}
	g.resolved, g.at = &r, now()
	return r, nil, nil
}

func (g *Guard) resolve(ctx context.Context, graph Graph, opt Options) (policy.Protected, error) {
	var ids, upns []string
	for i, entry := range g.List.Entries() {
		u, err := lookup(ctx, graph, entry, opt.withDefaults())
		var ge *Error
		switch {
		case errors.As(err, &ge) && ge.Kind == NotFound:
			// A typo in a break-glass UPN leaves the real account unprotected: say which.
			return policy.Protected{}, fmt.Errorf("PROTECTED_USERS entry %d (%s) is no user in this tenant (404): fix the entry", i+1, entry)
		case err != nil:
			return policy.Protected{}, fmt.Errorf("PROTECTED_USERS entry %d (%s): %s; the app needs User.Read.All", i+1, entry, short(err))
		}
		id := strings.ToLower(u.ID)
		if !identity.IsObjectID(id) {
			return policy.Protected{}, fmt.Errorf("PROTECTED_USERS entry %d (%s): Graph's answer has no valid object id", i+1, entry)
		}
		ids, upns = append(ids, id), append(upns, u.UserPrincipalName)
	}
	return g.List.Resolved(ids, upns), nil
}

// lookup is Graph's User call with the runner's retries, for callers without an outcome.
func lookup(ctx context.Context, g Graph, key string, opt Options) (User, error) {
	var scratch outcome.Outcome
	return readUser(ctx, g, key, &scratch, opt)
}
