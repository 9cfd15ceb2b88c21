package app_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/handler"
	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// The fuzzed deployment protects the break-glass account by UPN, so a payload that names
// it by object id, by another UPN, or beside another user is an attempt on it.
const (
	fuzzProtectedID  = "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42"
	fuzzProtectedUPN = "breakglass01@contoso.onmicrosoft.com"
)

// FuzzHandler drives the whole handler, with the real SDKs and the emulator behind it,
// with arbitrary payloads, and checks the invariants that matter: nothing reaches Graph
// but the revoke and read paths of validated users; no revoke is ever sent for the
// protected account, however it is named; every user the payload names ends with exactly
// one outcome; and a user reported needs-approval was not revoked.
func FuzzHandler(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	for _, s := range []string{
		`{"userId": "../../groups/x"}`, `{"users": ["a%2Fb@contoso.com", "x@contoso.com?$select=*", "Adele#V@contoso.com"]}`,
		`{"userId": "$x@contoso.onmicrosoft.com"}`, `{"users": ["AdeleV＠contoso.onmicrosoft.com"]}`,
		`{"users": ["` + fuzzProtectedID + `", "AdeleV@contoso.onmicrosoft.com", "BREAKGLASS01@contoso.onmicrosoft.com"], "approved": true}`,
		`{"@odata.type": "#microsoft.graph.security.alert", "id": "x", "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": {"azureAdUserId": "` + fuzzProtectedID + `", "userPrincipalName": "AdeleV@contoso.onmicrosoft.com"}}]}`,
		`{"users": ["AdeleV@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com", "LeeG@contoso.onmicrosoft.com"]}`,
	} {
		f.Add([]byte(s))
	}
	// One container for every input, built on f: its emulator must outlive each input (a
	// container built on the first input's t would be closed with it, and every later input
	// would meet a dead tenant).
	ct := newContainer(f, map[string]string{"PROTECTED_USERS": fuzzProtectedUPN, "MAX_TARGETS_PER_ALERT": "3"}, nil)
	ct.handler.Options.BaseDelay = time.Millisecond
	ct.handler.Options.CallTimeout = 2 * time.Second
	f.Fuzz(func(t *testing.T, payload []byte) {
		ct.emu.ResetRequests()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		raw, _ := ct.handler.Handle(ctx, payload)

		revoked := map[string]bool{}
		for _, r := range ct.emu.Requests() {
			if !strings.HasPrefix(r.Path, "/v1.0/") {
				continue // discovery and token
			}
			key, ok := userKey(r.RawPath)
			if !ok {
				t.Fatalf("unexpected Graph path %s %s", r.Method, r.RawPath)
			}
			if k, _ := identity.Classify(key); k != identity.ObjectID && k != identity.UPN {
				t.Fatalf("Graph called for %q (%v): %s %s", key, k, r.Method, r.RawPath)
			}
			if r.Method == "POST" {
				if strings.EqualFold(key, fuzzProtectedID) || strings.EqualFold(key, fuzzProtectedUPN) {
					t.Fatalf("a revoke was sent for the protected account: %s", r.RawPath)
				}
				revoked[strings.ToLower(key)] = true
			}
		}

		res, ok := raw.(*outcome.Result)
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, o := range res.Targets {
			if id := strings.ToLower(o.UserID); id != "" {
				if seen[id] {
					t.Fatalf("user %s has two outcomes", id)
				}
				seen[id] = true
			}
			if o.Status == outcome.NeedsApproval && (revoked[strings.ToLower(o.UserID)] || revoked[strings.ToLower(o.UserPrincipalName)]) {
				t.Fatalf("%+v needs approval but was revoked", o)
			}
		}
		ex, err := handler.Extract(payload, policy.Settings{})
		var unread *alert.ItemErrors
		if err != nil && !(errors.As(err, &unread) && len(ex.Alerts) > 0) {
			// Items of a list the handler could not read are an error beside the others'
			// alerts, in both; anything else must read as the handler read it.
			t.Fatalf("the handler answered but extraction fails: %v", err)
		}
		for _, a := range ex.Alerts {
			for _, p := range a.Principals {
				if !named(res, p) {
					t.Fatalf("user %+v of alert %s has no outcome", p, a.ID)
				}
			}
		}
		for _, o := range res.Targets {
			if o.Status == "" {
				t.Fatalf("empty status: %+v", o)
			}
			// The tenant must be there for every input: a run against a dead emulator
			// would prove nothing about the paths above.
			if strings.Contains(o.Reason, "connection refused") {
				t.Fatalf("the emulator is gone: %+v", o)
			}
		}
	})
}

// userKey takes the user out of /v1.0/users/{key}[/revokeSignInSessions] or the
// /v1.0/users('{key}') form.
func userKey(rawPath string) (string, bool) {
	rest, ok := strings.CutPrefix(rawPath, "/v1.0/users")
	if !ok {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "/revokeSignInSessions")
	switch {
	case strings.HasPrefix(rest, "('") && strings.HasSuffix(rest, "')"):
		rest = strings.ReplaceAll(rest[2:len(rest)-2], "''", "'")
	case strings.HasPrefix(rest, "/") && !strings.Contains(rest[1:], "/"):
		rest = rest[1:]
	default:
		return "", false
	}
	key, err := url.PathUnescape(rest)
	return key, err == nil
}

func named(res *outcome.Result, p handler.ExtractedPrincipal) bool {
	for _, o := range res.Targets {
		if (p.UserID != "" && strings.EqualFold(o.UserID, p.UserID)) ||
			(p.UserPrincipalName != "" && strings.EqualFold(o.UserPrincipalName, p.UserPrincipalName)) ||
			(p.UserID == "" && p.UserPrincipalName == "" && o.Identifier == p.Identifier) {
			return true
		}
	}
	return false
}
