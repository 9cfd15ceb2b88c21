package graphemu

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	adeleID  = "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"
	adeleUPN = "AdeleV@contoso.onmicrosoft.com"
	svcID    = "c3f8d1e6-5a7b-4c9d-8e2f-1a6b4d9c7e05"
	guestID  = "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16"
	shaneID  = "8c4a2e6f-1b7d-4f3a-9e5c-0a2d6b8f4c17"
)

func TestRevokeAddressing(t *testing.T) {
	cases := []struct {
		name    string
		rawPath string // as msgraph-sdk-go or a hand-built URL sends it
		userID  string // the user whose sessions move; "" when none should
		status  int
		code    string
	}{
		{"object id", "/v1.0/users/" + adeleID + "/revokeSignInSessions", adeleID, 200, ""},
		{"upper-case object id", "/v1.0/users/" + strings.ToUpper(adeleID) + "/revokeSignInSessions", adeleID, 200, ""},
		{"UPN as kiota encodes it", "/v1.0/users/AdeleV%40contoso.onmicrosoft.com/revokeSignInSessions", adeleID, 200, ""},
		{"UPN unencoded", "/v1.0/users/AdeleV@contoso.onmicrosoft.com/revokeSignInSessions", adeleID, 200, ""},
		{"UPN in other case", "/v1.0/users/adelev%40CONTOSO.onmicrosoft.com/revokeSignInSessions", adeleID, 200, ""},
		{"case of segments", "/v1.0/Users/" + adeleID + "/RevokeSignInSessions", adeleID, 200, ""},
		{"namespace-qualified action", "/v1.0/users/" + adeleID + "/microsoft.graph.revokeSignInSessions", adeleID, 200, ""},
		{"OData key form", "/v1.0/users('AdeleV@contoso.onmicrosoft.com')/revokeSignInSessions", adeleID, 200, ""},
		{"OData key form with $", "/v1.0/users('$svc-sync@contoso.onmicrosoft.com')/revokeSignInSessions", svcID, 200, ""},
		{"OData key form, percent-encoded", "/v1.0/users(%27%24svc-sync%40contoso.onmicrosoft.com%27)/revokeSignInSessions", svcID, 200, ""},
		{"OData key form, doubled quote", "/v1.0/users('shane.o''brien@contoso.onmicrosoft.com')/revokeSignInSessions", shaneID, 200, ""},
		{"plain form, quote", "/v1.0/users/shane.o%27brien%40contoso.onmicrosoft.com/revokeSignInSessions", shaneID, 200, ""},
		{"guest with %23EXT%23", "/v1.0/users/pradeep_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com/revokeSignInSessions", guestID, 200, ""},
		{"plain form with %24", "/v1.0/users/%24svc-sync%40contoso.onmicrosoft.com/revokeSignInSessions", "", 400, "BadRequest"},
		{"plain form with $", "/v1.0/users/$svc-sync@contoso.onmicrosoft.com/revokeSignInSessions", "", 400, "BadRequest"},
		{"OData key form, lone quote", "/v1.0/users('shane.o'brien@contoso.onmicrosoft.com')/revokeSignInSessions", "", 400, "BadRequest"},
		{"OData key form, unquoted", "/v1.0/users(" + adeleID + ")/revokeSignInSessions", "", 400, "BadRequest"},
		{"unknown user", "/v1.0/users/nobody%40contoso.onmicrosoft.com/revokeSignInSessions", "", 404, "Request_ResourceNotFound"},
		{"encoded slash stays in the key", "/v1.0/users/a%2Fb%40contoso.onmicrosoft.com/revokeSignInSessions", "", 404, "Request_ResourceNotFound"},
		{"guest # unencoded is a fragment", "/v1.0/users/pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com/revokeSignInSessions", "", 404, "Request_ResourceNotFound"},
		{"unknown action", "/v1.0/users/" + adeleID + "/revokeEverything", "", 400, "BadRequest"},
		{"unknown entity set", "/v1.0/groups/" + adeleID, "", 400, "BadRequest"},
		{"users collection", "/v1.0/users", "", 400, "BadRequest"},
		{"beta", "/beta/users/" + adeleID + "/revokeSignInSessions", "", 400, "BadRequest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newTestServer(t)
			tok := getToken(t, srv)
			before := time.Now()
			resp, body := graphDo(t, srv, http.MethodPost, c.rawPath, tok)
			if c.status != http.StatusOK {
				e := wantGraphError(t, resp, body, c.status, c.code)
				if c.status == 400 && strings.Contains(c.name, "$") && !strings.Contains(e.Error.Message, "'$svc-sync@contoso.onmicrosoft.com'") {
					t.Errorf("message %q does not name the key", e.Error.Message)
				}
				if c.status == 404 && !strings.HasPrefix(e.Error.Message, "Resource '") {
					t.Errorf("message %q", e.Error.Message)
				}
				for _, u := range DefaultUsers() {
					if got, _ := srv.User(u.ID); !got.SignInSessionsValidFromDateTime.Equal(u.SignInSessionsValidFromDateTime) {
						t.Errorf("%s was revoked by a failed call", u.UserPrincipalName)
					}
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			wantGraphHeaders(t, resp)
			var ok struct {
				Context string `json:"@odata.context"`
				Value   bool   `json:"value"`
			}
			mustJSON(t, body, &ok)
			if ok.Context != "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean" || !ok.Value {
				t.Errorf("body %s", body)
			}
			u, _ := srv.User(c.userID)
			if u.SignInSessionsValidFromDateTime.Before(before) {
				t.Errorf("signInSessionsValidFromDateTime %v is before the request (%v)", u.SignInSessionsValidFromDateTime, before)
			}
		})
	}
}

func TestGraphRequiresIssuedToken(t *testing.T) {
	srv := newTestServer(t)
	path := "/v1.0/users/" + adeleID + "/revokeSignInSessions"
	for name, auth := range map[string]string{
		"no header":    "",
		"empty bearer": "Bearer ",
		"basic":        "Basic dXNlcjpwYXNz",
		"forged token": "Bearer eyJ0eXAiOiJKV1QifQ.e30.sig",
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, body := send(t, srv, req)
		e := wantGraphError(t, resp, body, http.StatusUnauthorized, "InvalidAuthenticationToken")
		if name != "forged token" && e.Error.Message != "Access token is empty." {
			t.Errorf("%s: message %q", name, e.Error.Message)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: WWW-Authenticate %q", name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if u, _ := srv.User(adeleID); !u.SignInSessionsValidFromDateTime.Equal(DefaultUsers()[0].SignInSessionsValidFromDateTime) {
		t.Error("an unauthenticated call revoked")
	}
}

func TestGraphEchoesClientRequestID(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/users/"+adeleID+"/revokeSignInSessions", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("client-request-id", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
	resp, _ := send(t, srv, req)
	if got := resp.Header.Get("client-request-id"); got != "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee" {
		t.Errorf("client-request-id %q", got)
	}
	if a, b := resp.Header.Get("request-id"), resp.Header.Get("client-request-id"); a == "" || a == b {
		t.Errorf("request-id %q", a)
	}
}

func TestGraphAcceptsGzipBody(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("{}"))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/users/"+adeleID+"/revokeSignInSessions", &buf)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	if resp, body := send(t, srv, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func TestGraphWrongMethod(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	resp, body := graphDo(t, srv, http.MethodGet, "/v1.0/users/"+adeleID+"/revokeSignInSessions", tok)
	wantGraphError(t, resp, body, http.StatusMethodNotAllowed, "Request_BadRequest")
	resp, body = graphDo(t, srv, http.MethodDelete, "/v1.0/users/"+adeleID, tok)
	wantGraphError(t, resp, body, http.StatusMethodNotAllowed, "Request_BadRequest")
}

func TestGetUserSelect(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	get := func(rawPath string) map[string]any {
		t.Helper()
		resp, body := graphDo(t, srv, http.MethodGet, rawPath, tok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", rawPath, resp.StatusCode, body)
		}
		wantGraphHeaders(t, resp)
		var m map[string]any
		mustJSON(t, body, &m)
		return m
	}

	// Without $select: Graph's default set, never signInSessionsValidFromDateTime.
	m := get("/v1.0/users/" + adeleID)
	if m["id"] != adeleID || m["userPrincipalName"] != adeleUPN || m["displayName"] != "Adele Vance" {
		t.Errorf("default properties: %v", m)
	}
	if _, ok := m["signInSessionsValidFromDateTime"]; ok {
		t.Error("signInSessionsValidFromDateTime returned without $select")
	}
	if m["@odata.context"] != "https://graph.microsoft.com/v1.0/$metadata#users/$entity" {
		t.Errorf("@odata.context %v", m["@odata.context"])
	}

	// The $select msgraph-sdk-go sends (%24select, commas unescaped); only those come back.
	sel := "/v1.0/users/AdeleV%40contoso.onmicrosoft.com?%24select=id,userPrincipalName,signInSessionsValidFromDateTime"
	m = get(sel)
	if len(m) != 4 || m["id"] != adeleID || m["userPrincipalName"] != adeleUPN || m["signInSessionsValidFromDateTime"] != "2026-11-01T08:00:00Z" {
		t.Errorf("selected: %v", m)
	}
	if m["@odata.context"] != "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,signInSessionsValidFromDateTime)/$entity" {
		t.Errorf("@odata.context %v", m["@odata.context"])
	}

	// Names are case-insensitive, "select" works without "$", and the OData key form reads too.
	m = get("/v1.0/users('$svc-sync@contoso.onmicrosoft.com')?select=ID,userType,mail")
	if m["id"] != svcID || m["userType"] != "Member" || m["mail"] != nil || len(m) != 4 {
		t.Errorf("got %v", m)
	}

	// The timestamp moves on revoke.
	before := time.Now()
	if resp, body := graphDo(t, srv, http.MethodPost, "/v1.0/users/"+adeleID+"/revokeSignInSessions", tok); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	m = get(sel)
	got, err := time.Parse(time.RFC3339, m["signInSessionsValidFromDateTime"].(string))
	if err != nil || got.Before(before) || got.After(time.Now()) {
		t.Errorf("after revoke: %v (%v), request at %v", m["signInSessionsValidFromDateTime"], err, before)
	}

	resp, body := graphDo(t, srv, http.MethodGet, "/v1.0/users/"+adeleID+"?$select=id,favouriteColour", tok)
	e := wantGraphError(t, resp, body, http.StatusBadRequest, "BadRequest")
	if e.Error.Message != "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'." {
		t.Errorf("message %q", e.Error.Message)
	}
	resp, body = graphDo(t, srv, http.MethodGet, "/v1.0/users/nobody@contoso.onmicrosoft.com", tok)
	wantGraphError(t, resp, body, http.StatusNotFound, "Request_ResourceNotFound")
	resp, body = graphDo(t, srv, http.MethodGet, "/v1.0/users/%24svc-sync@contoso.onmicrosoft.com", tok)
	wantGraphError(t, resp, body, http.StatusBadRequest, "BadRequest")
}

// Graph's answers keep @odata.context first and $select order; a map would reorder them.
func TestGetUserKeepsPropertyOrder(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	_, body := graphDo(t, srv, http.MethodGet, "/v1.0/users/"+adeleID+"?$select=userPrincipalName,id", tok)
	dec := json.NewDecoder(bytes.NewReader(body))
	var keys []string
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v any
		dec.Decode(&v)
	}
	if strings.Join(keys, ",") != "@odata.context,userPrincipalName,id" {
		t.Errorf("keys %v", keys)
	}
}

func TestConcurrentRevokes(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := DefaultUsers()[i%8]
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/users/"+u.ID+"/revokeSignInSessions", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	if n := len(srv.Requests()); n != 21 {
		t.Errorf("%d requests recorded, want 21", n)
	}
}

// Connections counts what clients open: a client reusing its connection opens one.
func TestConnectionsCounted(t *testing.T) {
	srv := newTestServer(t)
	before := srv.Connections()
	tok := getToken(t, srv)
	for range 5 {
		revokeAs(t, srv, tok, adeleID, "")
	}
	if n := srv.Connections() - before; n < 1 || n > 2 {
		t.Errorf("%d connections for a token and five revokes on one client", n)
	}
}
