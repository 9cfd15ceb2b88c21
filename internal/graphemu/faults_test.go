package graphemu

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func revokePath(key string) string { return "/v1.0/users/" + key + "/revokeSignInSessions" }

func TestSetDenied(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.SetDenied("ADELEV@contoso.onmicrosoft.com")
	for _, key := range []string{adeleID, "AdeleV%40contoso.onmicrosoft.com", adeleID} {
		resp, body := graphDo(t, srv, http.MethodPost, revokePath(key), tok)
		e := wantGraphError(t, resp, body, http.StatusForbidden, "Authorization_RequestDenied")
		if e.Error.Message != "Insufficient privileges to complete the operation." {
			t.Errorf("message %q", e.Error.Message)
		}
	}
	if resp, _ := graphDo(t, srv, http.MethodPost, revokePath("AlexW@contoso.onmicrosoft.com"), tok); resp.StatusCode != 200 {
		t.Errorf("another user: status %d", resp.StatusCode)
	}
	if resp, _ := graphDo(t, srv, http.MethodGet, "/v1.0/users/"+adeleID, tok); resp.StatusCode != 200 {
		t.Errorf("reading the denied user: status %d", resp.StatusCode)
	}
	if u, _ := srv.User(adeleID); !u.SignInSessionsValidFromDateTime.Equal(DefaultUsers()[0].SignInSessionsValidFromDateTime) {
		t.Error("a denied revoke changed the user")
	}
}

func TestThrottlingFaultIsConsumed(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchRevoke, Status: http.StatusTooManyRequests, RetryAfter: "2", Times: 2})
	srv.Inject(Fault{Match: MatchRevoke, Status: http.StatusTooManyRequests}) // no Retry-After: client backs off on its own
	for i := 0; i < 2; i++ {
		resp, body := graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok)
		e := wantGraphError(t, resp, body, http.StatusTooManyRequests, "TooManyRequests")
		if resp.Header.Get("Retry-After") != "2" || e.Error.Message != "Too many requests" {
			t.Errorf("call %d: Retry-After %q, message %q", i, resp.Header.Get("Retry-After"), e.Error.Message)
		}
	}
	resp, body := graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok)
	wantGraphError(t, resp, body, http.StatusTooManyRequests, "TooManyRequests")
	if _, ok := resp.Header["Retry-After"]; ok {
		t.Errorf("Retry-After %q set without a fault value", resp.Header.Get("Retry-After"))
	}
	if resp, body := graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok); resp.StatusCode != 200 {
		t.Errorf("after the faults: %d %s", resp.StatusCode, body)
	}
}

func TestFaultsMatchKindAndUser(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchGetUser, Status: http.StatusServiceUnavailable, Times: -1})
	srv.Inject(Fault{Match: MatchRevoke, UserKey: adeleID, Status: http.StatusGatewayTimeout})
	srv.Inject(Fault{Match: MatchRevoke, Status: http.StatusInternalServerError})

	// Alex is not Adele: the user-scoped fault is skipped and the next one answers.
	resp, body := graphDo(t, srv, http.MethodPost, revokePath("AlexW%40contoso.onmicrosoft.com"), tok)
	wantGraphError(t, resp, body, http.StatusInternalServerError, "InternalServerError")
	// Adele by UPN matches the fault set by id.
	resp, body = graphDo(t, srv, http.MethodPost, revokePath("adelev%40contoso.onmicrosoft.com"), tok)
	wantGraphError(t, resp, body, http.StatusGatewayTimeout, "GatewayTimeout")
	if resp, _ := graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok); resp.StatusCode != 200 {
		t.Errorf("revoke after faults: %d", resp.StatusCode)
	}
	for i := 0; i < 3; i++ {
		resp, body = graphDo(t, srv, http.MethodGet, "/v1.0/users/"+adeleID, tok)
		wantGraphError(t, resp, body, http.StatusServiceUnavailable, "ServiceUnavailable")
	}
}

func TestDelayStopsWhenClientCancels(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchRevoke, Delay: time.Minute, Status: http.StatusGatewayTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+revokePath(adeleID), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	_, err := srv.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// The handler must give up too, or Close would wait a minute.
	waitFor(t, func() bool {
		reqs := srv.Requests()
		return len(reqs) == 2 && reqs[1].Status == 0 && time.Since(start) < 5*time.Second
	})
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on the delayed request")
	}
}

func TestDelayThenNormalAnswer(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchRevoke, Delay: 150 * time.Millisecond})
	start := time.Now()
	resp, body := graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok)
	if resp.StatusCode != 200 || time.Since(start) < 150*time.Millisecond {
		t.Errorf("status %d after %v: %s", resp.StatusCode, time.Since(start), body)
	}
}

func TestCloseReleasesDelayedRequests(t *testing.T) {
	srv := NewServer(DefaultUsers())
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchRevoke, Delay: time.Minute, Status: 503})
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+revokePath(adeleID), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return len(srv.Requests()) == 2 })
	start := time.Now()
	srv.Close()
	if time.Since(start) > 5*time.Second {
		t.Errorf("Close took %v", time.Since(start))
	}
	if err := <-errc; err == nil {
		t.Error("the delayed request got an answer after Close")
	}
}

func TestResetFault(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchRevoke, Reset: true})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+revokePath(adeleID), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want a connection error", resp.StatusCode)
	}
	if u, _ := srv.User(adeleID); !u.SignInSessionsValidFromDateTime.Equal(DefaultUsers()[0].SignInSessionsValidFromDateTime) {
		t.Error("a reset request revoked")
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.Status != 0 {
		t.Errorf("recorded status %d for a reset", last.Status)
	}
	if resp, _ := graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok); resp.StatusCode != 200 {
		t.Errorf("next request: %d", resp.StatusCode)
	}
}

func TestRequestsRecordsWhatWasSent(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+revokePath("pradeep_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("client-request-id", "cid-1")
	send(t, srv, req)
	graphDo(t, srv, http.MethodGet, "/v1.0/users/"+adeleID+"?%24select=id", "")

	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests: %+v", len(reqs), reqs)
	}
	want := []Request{
		{Method: "POST", Path: "/" + srv.TenantID + "/oauth2/v2.0/token", RawPath: "/" + srv.TenantID + "/oauth2/v2.0/token", Status: 200},
		{Method: "POST", Path: "/v1.0/users/pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com/revokeSignInSessions",
			RawPath: "/v1.0/users/pradeep_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com/revokeSignInSessions", HasBearer: true, ClientRequestID: "cid-1", Status: 200},
		{Method: "GET", Path: "/v1.0/users/" + adeleID, RawPath: "/v1.0/users/" + adeleID, RawQuery: "%24select=id", Status: 401},
	}
	for i := range want {
		if reqs[i] != want[i] {
			t.Errorf("request %d:\n got %+v\nwant %+v", i, reqs[i], want[i])
		}
	}
	reqs[0].Method = "changed"
	if srv.Requests()[0].Method != "POST" {
		t.Error("Requests does not return a copy")
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 || srv.TokenRequests() != 1 {
		t.Errorf("after ResetRequests: %d requests, %d tokens", len(srv.Requests()), srv.TokenRequests())
	}
}

func TestRequestLogHasNoSecrets(t *testing.T) {
	var log bytes.Buffer
	srv := newTestServer(t, WithRequestLog(&log))
	tok := getToken(t, srv)
	graphDo(t, srv, http.MethodPost, revokePath(adeleID), tok)
	srv.Close() // waits for handlers, so the log is complete
	out := log.String()
	if !strings.Contains(out, "POST /v1.0/users/"+adeleID+"/revokeSignInSessions 200") {
		t.Errorf("log:\n%s", out)
	}
	if strings.Contains(out, tok) || strings.Contains(out, srv.ClientSecret) {
		t.Errorf("log leaks a credential:\n%s", out)
	}
}

// A process trusts the emulator through SSL_CERT_FILE; the PEM alone must be enough.
func TestCertificatePEMIsEnoughToTrustTheServer(t *testing.T) {
	srv := newTestServer(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CertificatePEM()) {
		t.Fatal("PEM has no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(srv.AuthorityHost() + srv.TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if srv.GraphRoot() != srv.URL || srv.AuthorityHost() != srv.URL+"/" || !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL %q, GraphRoot %q, AuthorityHost %q", srv.URL, srv.GraphRoot(), srv.AuthorityHost())
	}
}

func TestInjectRejectsImpossibleFaults(t *testing.T) {
	srv := newTestServer(t)
	for _, f := range []Fault{
		{Match: "revoke-user", Status: 500},
		{Match: MatchToken, UserKey: adeleID, Status: 500},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", f)
				}
			}()
			srv.Inject(f)
		}()
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
