package graphemu

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// knownTenant reports whether the authority path names this server's tenant, by id or by
// initial domain as Entra allows.
func (s *Server) knownTenant(tenant string) bool {
	return strings.EqualFold(tenant, s.tenantID) || strings.EqualFold(tenant, s.tenantDomain)
}

// serveOpenIDConfiguration answers MSAL's tenant discovery. MSAL reads authorization_endpoint,
// token_endpoint and issuer, and rejects the document unless the issuer's host is the
// authority host; the rest mirrors Entra's document so other clients find what they expect.
func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, tenant string) {
	if !s.knownTenant(tenant) {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, tenantNotFound(tenant))
		return
	}
	base := s.URL + "/" + s.tenantID
	host := strings.TrimPrefix(s.URL, "https://")
	writeEntraJSON(w, r, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.URL + "/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     base + "/kerberos",
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   host,
		"cloud_graph_host_name":                 host,
		"msgraph_host":                          host,
		"rbac_url":                              s.URL,
	})
}

// serveInstanceDiscovery answers GET /common/discovery/instance. MSAL v1.10 only sends it to
// hosts on its trusted list (never to 127.0.0.1: for any other host it asks the real
// login.microsoftonline.com), so this exists for other clients and for completeness.
func (s *Server) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	ae := r.URL.Query().Get("authorization_endpoint")
	if ae == "" {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'authorization_endpoint'.")
		return
	}
	u, err := url.Parse(ae)
	host := strings.TrimPrefix(s.URL, "https://")
	if err != nil || !strings.EqualFold(u.Host, host) {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if tenant == "" {
		tenant = "common"
	}
	writeEntraJSON(w, r, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.URL + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// serveKeys answers jwks_uri. The emulator's tokens are opaque, so there are no signing keys.
func (s *Server) serveKeys(w http.ResponseWriter, r *http.Request, tenant string) {
	if !s.knownTenant(tenant) {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_tenant", 90002, tenantNotFound(tenant))
		return
	}
	writeEntraJSON(w, r, http.StatusOK, map[string]any{"keys": []any{}})
}

// serveToken is the client-credentials grant: the checks run in the order Entra reports them,
// with Entra's error codes, so the SDK's error text in tests reads like production's.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string, body []byte) {
	if r.Method != http.MethodPost {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 900561, fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method))
		return
	}
	if !s.knownTenant(tenant) {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 90002, tenantNotFound(tenant))
		return
	}
	if s.applyFault(w, r, MatchToken, "", func(status int) { s.writeEntraFault(w, r, status) }) {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	s.recordScope(form.Get("scope"))
	for _, p := range []string{"grant_type", "client_id"} {
		if form.Get(p) == "" {
			writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
			return
		}
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		writeEntraError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	clientID := form.Get("client_id")
	if !strings.EqualFold(clientID, s.clientID) {
		writeEntraError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
			clientID, s.tenantDomain))
		return
	}
	switch {
	case form.Get("client_assertion") != "" || form.Get("client_assertion_type") != "":
		// A certificate or a federated identity credential (see assertion.go).
		if !s.checkClientAssertion(w, r, tenant, form) {
			return
		}
	case form.Get("client_secret") == "":
		writeEntraError(w, r, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case form.Get("client_secret") != s.clientSecret:
		writeEntraError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, invalidSecret(s.clientID))
		return
	}
	scope := form.Get("scope")
	if scope == "" {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if !hasDefaultScope(scope) {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}

	token := newAccessToken()
	s.mu.Lock()
	s.tokens[token] = time.Now().Add(tokenLifetime)
	s.tokenApp[token] = s.clientID
	s.issued++
	s.mu.Unlock()
	writeEntraJSON(w, r, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(tokenLifetime / time.Second),
		"ext_expires_in": int(tokenLifetime / time.Second),
		"access_token":   token,
	})
}

// hasDefaultScope: azidentity sends "<resource>/.default openid offline_access profile"; the
// OIDC scopes are allowed alongside, but an app-only token needs a resource's /.default.
func hasDefaultScope(scope string) bool {
	for _, sc := range strings.Fields(scope) {
		if strings.HasSuffix(sc, "/.default") {
			return true
		}
	}
	return false
}

// newAccessToken returns an opaque random token. Real tokens are JWTs, but no SDK here parses
// them, and an opaque value cannot be mistaken for a real credential.
func newAccessToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "graphemu." + base64.RawURLEncoding.EncodeToString(b[:])
}

func tenantNotFound(tenant string) string {
	return fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)
}

func invalidSecret(clientID string) string {
	return fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)
}

// writeEntraFault answers a token request for an injected fault with the error Entra gives
// for that status.
func (s *Server) writeEntraFault(w http.ResponseWriter, r *http.Request, status int) {
	switch {
	case status == http.StatusUnauthorized:
		writeEntraError(w, r, status, "invalid_client", 7000215, invalidSecret(s.clientID))
	case status == http.StatusForbidden:
		writeEntraError(w, r, status, "unauthorized_client", 7000112, fmt.Sprintf("Application '%s' is disabled.", s.clientID))
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		writeEntraError(w, r, status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	case status >= 500:
		writeEntraError(w, r, status, "server_error", 50000, "There was an error issuing a token or an issue with our sign-in service.")
	default:
		writeEntraError(w, r, status, "invalid_request", 50000, "There was an error issuing a token or an issue with our sign-in service.")
	}
}

// writeEntraError writes Entra's OAuth error shape. The description carries the AADSTS code
// and the trace/correlation/timestamp trailer exactly as Entra formats it (CRLF separated).
func writeEntraError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, message string) {
	now := time.Now().UTC()
	ts := now.Format("2006-01-02 15:04:05Z")
	traceID := newGUID()
	corrID := correlationID(r)
	desc := message
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, message)
	}
	desc += "\r\nTrace ID: " + traceID + "\r\nCorrelation ID: " + corrID + "\r\nTimestamp: " + ts
	body := map[string]any{
		"error":             code,
		"error_description": desc,
		"error_codes":       []int{},
		"timestamp":         ts,
		"trace_id":          traceID,
		"correlation_id":    corrID,
	}
	if aadsts != 0 {
		body["error_codes"] = []int{aadsts}
		body["error_uri"] = fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts)
	}
	w.Header().Set("x-ms-request-id", traceID)
	writeEntraJSON(w, r, status, body)
}

// correlationID is the client's client-request-id (MSAL sends one), as Entra echoes it.
func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); id != "" {
		return id
	}
	return newGUID()
}

func writeEntraJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-ests-server", "2.1.0 - graphemu")
	if h.Get("x-ms-request-id") == "" {
		h.Set("x-ms-request-id", newGUID())
	}
	if id := r.Header.Get("client-request-id"); id != "" {
		h.Set("client-request-id", id)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values are marshalled here
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
