package graphemu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const graphScope = "https://graph.microsoft.com/.default openid offline_access profile"

func newTestServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	srv := NewServer(DefaultUsers(), opts...)
	t.Cleanup(srv.Close)
	return srv
}

// tokenForm is the body azidentity's ClientSecretCredential sends.
func tokenForm(srv *Server) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {srv.ClientID},
		"client_secret": {srv.ClientSecret},
		"scope":         {graphScope},
		"client_info":   {"1"},
	}
}

func postForm(t testing.TB, srv *Server, path string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return send(t, srv, req)
}

func getToken(t testing.TB, srv *Server) string {
	t.Helper()
	resp, body := postForm(t, srv, "/"+srv.TenantID+"/oauth2/v2.0/token", tokenForm(srv))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: status %d: %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	mustJSON(t, body, &tok)
	return tok.AccessToken
}

// graphDo sends a Graph request; rawPath is sent exactly as written (percent-encoding kept).
func graphDo(t testing.TB, srv *Server, method, rawPath, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+rawPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, srv, req)
}

func send(t testing.TB, srv *Server, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func mustJSON(t testing.TB, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
}

type graphErr struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// wantGraphError checks status, Graph's error shape and the headers every Graph answer carries.
func wantGraphError(t *testing.T, resp *http.Response, body []byte, status int, code string) graphErr {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var e graphErr
	mustJSON(t, body, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", e.Error, code)
	}
	if e.Error.InnerError.RequestID == "" || e.Error.InnerError.RequestID != resp.Header.Get("request-id") || e.Error.InnerError.Date == "" {
		t.Errorf("innerError %+v does not match request-id header %q", e.Error.InnerError, resp.Header.Get("request-id"))
	}
	wantGraphHeaders(t, resp)
	return e
}

func wantGraphHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, h := range []string{"request-id", "client-request-id", "x-ms-ags-diagnostic"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if !json.Valid([]byte(resp.Header.Get("x-ms-ags-diagnostic"))) {
		t.Errorf("x-ms-ags-diagnostic is not JSON: %q", resp.Header.Get("x-ms-ags-diagnostic"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

type entraErr struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

func wantEntraError(t *testing.T, resp *http.Response, body []byte, status int, code string, aadsts int) entraErr {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var e entraErr
	mustJSON(t, body, &e)
	if e.Error != code {
		t.Fatalf("error %q, want %q: %s", e.Error, code, body)
	}
	if aadsts != 0 && (len(e.ErrorCodes) != 1 || e.ErrorCodes[0] != aadsts) {
		t.Errorf("error_codes %v, want [%d]", e.ErrorCodes, aadsts)
	}
	if e.TraceID == "" || e.CorrelationID == "" || e.Timestamp == "" {
		t.Errorf("trace_id, correlation_id and timestamp are required: %s", body)
	}
	if !strings.Contains(e.ErrorDescription, "\r\nTrace ID: "+e.TraceID+"\r\nCorrelation ID: "+e.CorrelationID+"\r\nTimestamp: ") {
		t.Errorf("error_description lacks Entra's trailer: %q", e.ErrorDescription)
	}
	return e
}
