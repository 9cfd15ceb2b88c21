package graph_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/graph"
	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/secrets"
)

// TestMain trusts the emulator's certificate the way a process does: through
// SSL_CERT_FILE, read on the first TLS handshake. Every emulator shares that certificate.
func TestMain(m *testing.M) {
	emu := graphemu.NewServer(nil)
	dir, err := os.MkdirTemp("", "graph-test")
	if err != nil {
		panic(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, emu.CertificatePEM(), 0o600); err != nil {
		panic(err)
	}
	emu.Close()
	os.Setenv("SSL_CERT_FILE", ca)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newClient(t *testing.T, emu *graphemu.Server, secret string) *graph.Client {
	t.Helper()
	cfg := graph.Config{GraphRoot: emu.GraphRoot(), AuthorityHost: emu.AuthorityHost()}
	cred, err := graph.NewCredential(cfg, secrets.Credentials{TenantID: emu.TenantID, ClientID: emu.ClientID, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(cfg, cred)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T) (*graphemu.Server, *graph.Client) {
	emu := graphemu.NewServer(graphemu.DefaultUsers())
	t.Cleanup(emu.Close)
	return emu, newClient(t, emu, emu.ClientSecret)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRevokeAddressing(t *testing.T) {
	emu, c := start(t)
	for _, key := range []string{
		"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91",
		"AlexW@contoso.onmicrosoft.com",
		"meganb@CONTOSO.onmicrosoft.com",
		"$svc-sync@contoso.onmicrosoft.com", // OData reads /users/$x as a system segment
		"shane.o'brien@contoso.onmicrosoft.com",
	} {
		before, ok := emu.User(key)
		if !ok {
			t.Fatalf("%s not in the directory", key)
		}
		emu.ResetRequests()
		call, err := c.RevokeSignInSessions(ctx(t), key)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		after, _ := emu.User(key)
		if !after.SignInSessionsValidFromDateTime.After(before.SignInSessionsValidFromDateTime) {
			t.Errorf("%s: signInSessionsValidFromDateTime did not move", key)
		}
		reqs := graphRequests(emu)
		if len(reqs) != 1 || reqs[0].Method != http.MethodPost || !reqs[0].HasBearer || !strings.HasSuffix(reqs[0].Path, "/revokeSignInSessions") {
			t.Errorf("%s: requests %+v", key, reqs)
		}
		if call.RequestID == "" || call.ClientRequestID == "" {
			t.Errorf("%s: no request ids: %+v", key, call)
		}
	}
}

// graphRequests leaves out the token endpoint's traffic.
func graphRequests(emu *graphemu.Server) []graphemu.Request {
	var out []graphemu.Request
	for _, r := range emu.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			out = append(out, r)
		}
	}
	return out
}

func kindOf(t *testing.T, err error) *revoke.Error {
	t.Helper()
	var ge *revoke.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a *revoke.Error", err, err)
	}
	return ge
}

func TestErrors(t *testing.T) {
	emu, c := start(t)
	_, err := c.RevokeSignInSessions(ctx(t), "nobody@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Kind != revoke.NotFound || ge.Code != "Request_ResourceNotFound" || ge.Status != 404 || ge.RequestID == "" {
		t.Errorf("404: %+v", ge)
	}

	emu.SetDenied("AdeleV@contoso.onmicrosoft.com")
	_, err = c.RevokeSignInSessions(ctx(t), "AdeleV@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Kind != revoke.Denied || ge.Code != "Authorization_RequestDenied" {
		t.Errorf("403: %+v", ge)
	}

	emu.ResetRequests()
	emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Status: 429, RetryAfter: "0.5"})
	_, err = c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Kind != revoke.Throttled || ge.RetryAfter != 500*time.Millisecond {
		t.Errorf("429: %+v", ge)
	}
	if n := len(graphRequests(emu)); n != 1 {
		t.Errorf("the SDK retried on its own: %d requests for one call", n)
	}

	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Status: 429, RetryAfter: date})
	_, err = c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Kind != revoke.Throttled || ge.RetryAfter < time.Second || ge.RetryAfter > 3*time.Second {
		t.Errorf("429 with a date: %+v", ge)
	}

	for _, status := range []int{503, 504} {
		emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Status: status})
		_, err = c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
		if ge := kindOf(t, err); ge.Kind != revoke.Unavailable || ge.Status != status || !ge.Retryable() {
			t.Errorf("%d: %+v", status, ge)
		}
	}

	emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Reset: true})
	_, err = c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Kind != revoke.Unavailable {
		t.Errorf("connection reset: %+v", ge)
	}

	emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Delay: 5 * time.Second})
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.RevokeSignInSessions(short, "AlexW@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Kind != revoke.Unavailable || !strings.Contains(ge.Message, "timed out") {
		t.Errorf("timeout: %+v", ge)
	}
}

func TestWrongSecret(t *testing.T) {
	emu := graphemu.NewServer(graphemu.DefaultUsers())
	defer emu.Close()
	c := newClient(t, emu, "not-the-secret")
	_, err := c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
	ge := kindOf(t, err)
	if ge.Kind != revoke.Credential || ge.Code != "AADSTS7000215" || ge.Retryable() {
		t.Errorf("wrong secret: %+v", ge)
	}
	if strings.Contains(ge.Error(), "not-the-secret") {
		t.Error("the error repeats the secret")
	}
	for _, r := range emu.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			t.Errorf("Graph called without a token: %+v", r)
		}
	}
}

func TestTokenIsReused(t *testing.T) {
	emu, c := start(t)
	for _, u := range []string{"AlexW@contoso.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com", "LeeG@contoso.onmicrosoft.com"} {
		if _, err := c.RevokeSignInSessions(ctx(t), u); err != nil {
			t.Fatal(err)
		}
	}
	if n := emu.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for three calls", n)
	}
}

func TestUser(t *testing.T) {
	_, c := start(t)
	u, call, err := c.User(ctx(t), "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16")
	if err != nil {
		t.Fatal(err)
	}
	if u.UserType != "Guest" || u.UserPrincipalName != "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com" || call.RequestID == "" {
		t.Errorf("guest lookup: %+v %+v", u, call)
	}
	_, _, err = c.User(ctx(t), "00000000-0000-4000-8000-000000000000")
	if ge := kindOf(t, err); ge.Kind != revoke.NotFound {
		t.Errorf("unknown id: %+v", ge)
	}
}

func TestConfig(t *testing.T) {
	for _, name := range []string{"", "global", "usgov", "usgovdod", "china", "USGov"} {
		if _, err := graph.Check(graph.Config{Cloud: name}); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	cloud, _ := graph.Check(graph.Config{Cloud: "usgovdod"})
	if cloud.GraphRoot != "https://dod-graph.microsoft.us" || cloud.Authority != "https://login.microsoftonline.us/" || cloud.Scope != "https://dod-graph.microsoft.us/.default" {
		t.Errorf("usgovdod = %+v", cloud)
	}
	cloud, _ = graph.Check(graph.Config{Cloud: "china", GraphRoot: "https://127.0.0.1:8443/v1.0/"})
	if cloud.GraphRoot != "https://127.0.0.1:8443" || cloud.Scope != "https://microsoftgraph.chinacloudapi.cn/.default" {
		t.Errorf("override = %+v", cloud)
	}
	for _, bad := range []graph.Config{{Cloud: "germany"}, {GraphRoot: "http://graph.microsoft.com"}, {AuthorityHost: "login.microsoftonline.com"}, {GraphRoot: "https://x/?a=b"}} {
		if _, err := graph.Check(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestOnly2xxIsARevoke: a 3xx without Location passes kiota's own check; it must not
// become a revoke.
func TestOnly2xxIsARevoke(t *testing.T) {
	emu, c := start(t)
	emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Status: 304})
	_, err := c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
	if ge := kindOf(t, err); ge.Status != 304 || ge.Kind != revoke.Other {
		t.Errorf("304: %+v", ge)
	}
	if _, err := c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com"); err != nil {
		t.Errorf("200 after it: %v", err)
	}
}
