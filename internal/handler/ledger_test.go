package handler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

type memLedger struct {
	mu   sync.Mutex
	done map[string][]byte
}

func (m *memLedger) ClaimAlert(_ context.Context, key string, _ time.Time, _ time.Duration) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done[key], nil
}

func (m *memLedger) CompleteAlert(_ context.Context, key string, result []byte, _ time.Time, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done[key] = result
	return nil
}

func (m *memLedger) ReleaseAlert(context.Context, string) error { return nil }

type okGraph struct {
	mu    sync.Mutex
	calls []string
}

func (g *okGraph) RevokeSignInSessions(_ context.Context, user string) (revoke.Call, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, user)
	return revoke.Call{RequestID: "r-" + user}, nil
}

// User answers for anyone: a member whose object id is derived from the name, so that a
// UPN and its object id name the same user, as in Entra.
func (g *okGraph) User(_ context.Context, user string) (revoke.User, revoke.Call, error) {
	if identity.IsObjectID(user) {
		return revoke.User{ID: user, UserPrincipalName: "id-" + user[:8] + "@contoso.com", UserType: "Member"}, revoke.Call{}, nil
	}
	return revoke.User{ID: idFor(user), UserPrincipalName: user, UserType: "Member"}, revoke.Call{}, nil
}

func idFor(upn string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(upn)))
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// TestDirectRequestsAreNotReplayedByTheirAlertID: two playbook requests sharing an
// alertId but naming different users are two deliveries; only the very same request,
// retried by Lambda under its request id, is replayed.
func TestDirectRequestsAreNotReplayedByTheirAlertID(t *testing.T) {
	g := &okGraph{}
	h := &Handler{Ledger: &memLedger{done: map[string][]byte{}}, Connect: func(context.Context) (revoke.Graph, error) { return g, nil }}
	invoke := func(requestID, payload string) *outcome.Result {
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: requestID})
		raw, err := h.Handle(ctx, json.RawMessage(payload))
		if err != nil {
			t.Fatal(err)
		}
		return raw.(*outcome.Result)
	}
	invoke("req-1", `{"userId": "bob@contoso.com", "alertId": "INC-42"}`)
	if res := invoke("req-2", `{"userId": "carol@contoso.com", "alertId": "INC-42"}`); res.Replayed || res.Targets[0].Status != outcome.Revoked {
		t.Fatalf("carol's request got %+v", res)
	}
	if res := invoke("req-2", `{"userId": "carol@contoso.com", "alertId": "INC-42"}`); !res.Replayed {
		t.Error("Lambda's retry of the same request ran again")
	}
	if len(g.calls) != 2 {
		t.Errorf("Graph calls %v", g.calls)
	}
}
