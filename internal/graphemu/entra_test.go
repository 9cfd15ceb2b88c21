package graphemu

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestOpenIDConfigurationHasWhatMSALNeeds(t *testing.T) {
	srv := newTestServer(t)
	for _, tenant := range []string{srv.TenantID, strings.ToUpper(srv.TenantID), DefaultTenantDomain} {
		resp, body := graphDo(t, srv, http.MethodGet, "/"+tenant+"/v2.0/.well-known/openid-configuration", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tenant, resp.StatusCode, body)
		}
		var doc map[string]any
		mustJSON(t, body, &doc)
		base := srv.URL + "/" + srv.TenantID
		for k, want := range map[string]string{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
			"jwks_uri":               base + "/discovery/v2.0/keys",
		} {
			if doc[k] != want {
				t.Errorf("%s: %s = %v, want %s", tenant, k, doc[k], want)
			}
		}
		if v, ok := doc["tenant_region_scope"]; !ok || v != nil {
			t.Errorf("tenant_region_scope = %v, %v; want null", v, ok)
		}
	}

	resp, body := graphDo(t, srv, http.MethodGet, "/"+srv.TenantID+"/discovery/v2.0/keys", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"keys":[]`) {
		t.Errorf("jwks: %d %s", resp.StatusCode, body)
	}
}

func TestOpenIDConfigurationUnknownTenant(t *testing.T) {
	srv := newTestServer(t)
	resp, body := graphDo(t, srv, http.MethodGet, "/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration", "")
	e := wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_tenant", 90002)
	if !strings.HasPrefix(e.ErrorDescription, "AADSTS90002: Tenant 'fabrikam.onmicrosoft.com' not found.") {
		t.Errorf("description %q", e.ErrorDescription)
	}
}

func TestInstanceDiscovery(t *testing.T) {
	srv := newTestServer(t)
	q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {srv.URL + "/" + srv.TenantID + "/oauth2/v2.0/authorize"}}
	resp, body := graphDo(t, srv, http.MethodGet, "/common/discovery/instance?"+q.Encode(), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var doc struct {
		TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
		Metadata                []struct {
			PreferredNetwork string   `json:"preferred_network"`
			Aliases          []string `json:"aliases"`
		} `json:"metadata"`
	}
	mustJSON(t, body, &doc)
	host := strings.TrimPrefix(srv.URL, "https://")
	if doc.TenantDiscoveryEndpoint != srv.URL+"/"+srv.TenantID+"/v2.0/.well-known/openid-configuration" ||
		len(doc.Metadata) != 1 || doc.Metadata[0].PreferredNetwork != host || doc.Metadata[0].Aliases[0] != host {
		t.Errorf("got %s", body)
	}

	q.Set("authorization_endpoint", "https://login.example.com/x/oauth2/v2.0/authorize")
	resp, body = graphDo(t, srv, http.MethodGet, "/common/discovery/instance?"+q.Encode(), "")
	wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_instance", 50049)
}

func TestTokenSuccess(t *testing.T) {
	srv := newTestServer(t)
	resp, body := postForm(t, srv, "/"+srv.TenantID+"/oauth2/v2.0/token", tokenForm(srv))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var tok map[string]any
	mustJSON(t, body, &tok)
	if tok["token_type"] != "Bearer" || tok["expires_in"] != 3599.0 || tok["ext_expires_in"] != 3599.0 || tok["access_token"] == "" {
		t.Errorf("token response %s", body)
	}
	if got := srv.TokenRequests(); got != 1 {
		t.Errorf("TokenRequests = %d, want 1", got)
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "application/json") == false {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

func TestTokenAcceptsGzipBody(t *testing.T) {
	srv := newTestServer(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(tokenForm(srv).Encode()))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+srv.TenantID+"/oauth2/v2.0/token", &buf)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Content-Encoding", "gzip")
	resp, body := send(t, srv, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/"+srv.TenantID+"/oauth2/v2.0/token", strings.NewReader("not gzip"))
	req.Header.Set("Content-Encoding", "gzip")
	resp, body = send(t, srv, req)
	wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_request", 900144)
}

func TestTokenErrorsLikeEntra(t *testing.T) {
	srv := newTestServer(t)
	path := "/" + srv.TenantID + "/oauth2/v2.0/token"
	with := func(k, v string) url.Values {
		f := tokenForm(srv)
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
		code   string
		aadsts int
	}{
		{"wrong secret", path, with("client_secret", "nope"), 401, "invalid_client", 7000215},
		{"no secret", path, with("client_secret", ""), 401, "invalid_client", 7000218},
		{"wrong client", path, with("client_id", "00000000-0000-0000-0000-000000000000"), 400, "unauthorized_client", 700016},
		{"no client", path, with("client_id", ""), 400, "invalid_request", 900144},
		{"wrong tenant", "/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token", tokenForm(srv), 400, "invalid_request", 90002},
		{"wrong grant", path, with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
		{"no scope", path, with("scope", ""), 400, "invalid_request", 900144},
		{"scope without .default", path, with("scope", "https://graph.microsoft.com/User.Read.All"), 400, "invalid_scope", 1002012},
		{"client assertion", path, func() url.Values {
			f := with("client_secret", "")
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", "a.b.c")
			return f
		}(), 401, "invalid_client", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := postForm(t, srv, c.path, c.form)
			wantEntraError(t, resp, body, c.status, c.code, c.aadsts)
		})
	}
	if n := srv.TokenRequests(); n != 0 {
		t.Errorf("TokenRequests = %d after only failures", n)
	}
}

// The wrong-secret answer is the one operators see most; its text must match Entra's.
func TestTokenWrongSecretMessage(t *testing.T) {
	srv := newTestServer(t)
	f := tokenForm(srv)
	f.Set("client_secret", "secret-id-not-value")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+srv.TenantID+"/oauth2/v2.0/token", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "11111111-2222-4333-8444-555555555555")
	resp, body := send(t, srv, req)
	e := wantEntraError(t, resp, body, http.StatusUnauthorized, "invalid_client", 7000215)
	want := "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + srv.ClientID + "'.\r\nTrace ID: "
	if !strings.HasPrefix(e.ErrorDescription, want) {
		t.Errorf("description %q\nwant prefix %q", e.ErrorDescription, want)
	}
	if e.CorrelationID != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("correlation_id %q does not echo client-request-id", e.CorrelationID)
	}
	if e.ErrorURI != "https://login.microsoftonline.com/error?code=7000215" {
		t.Errorf("error_uri %q", e.ErrorURI)
	}
	if strings.Contains(string(body), "secret-id-not-value") {
		t.Error("the answer echoes the secret")
	}
}

func TestTokenRejectsGET(t *testing.T) {
	srv := newTestServer(t)
	resp, body := graphDo(t, srv, http.MethodGet, "/"+srv.TenantID+"/oauth2/v2.0/token", "")
	wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_request", 900561)
}

func TestCustomCredentials(t *testing.T) {
	srv := newTestServer(t, WithTenantID("11111111-1111-4111-8111-111111111111"), WithClientCredentials("22222222-2222-4222-8222-222222222222", "s3cret"))
	if srv.TenantID != "11111111-1111-4111-8111-111111111111" || srv.ClientID != "22222222-2222-4222-8222-222222222222" || srv.ClientSecret != "s3cret" {
		t.Fatalf("fields %q %q %q", srv.TenantID, srv.ClientID, srv.ClientSecret)
	}
	getToken(t, srv)
	resp, body := postForm(t, srv, "/"+DefaultTenantID+"/oauth2/v2.0/token", tokenForm(srv))
	wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_request", 90002)
}

func TestTokenFaults(t *testing.T) {
	srv := newTestServer(t)
	srv.Inject(Fault{Match: MatchToken, Status: http.StatusServiceUnavailable, RetryAfter: "2"})
	resp, body := postForm(t, srv, "/"+srv.TenantID+"/oauth2/v2.0/token", tokenForm(srv))
	wantEntraError(t, resp, body, http.StatusServiceUnavailable, "temporarily_unavailable", 90033)
	if resp.Header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	getToken(t, srv) // the fault answered once
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("TokenRequests = %d, want 1", n)
	}
}
