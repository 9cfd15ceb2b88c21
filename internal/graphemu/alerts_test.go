package graphemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type alertPage struct {
	Value []struct {
		Type               string `json:"@odata.type"`
		ID                 string `json:"id"`
		Title              string `json:"title"`
		Severity           string `json:"severity"`
		ServiceSource      string `json:"serviceSource"`
		LastUpdateDateTime string `json:"lastUpdateDateTime"`
		RiskEventType      string `json:"riskEventType"`
		UserPrincipalName  string `json:"userPrincipalName"`
		UserID             string `json:"userId"`
		Evidence           []struct {
			Type        string `json:"@odata.type"`
			UserAccount struct {
				AzureADUserID     string `json:"azureAdUserId"`
				UserPrincipalName string `json:"userPrincipalName"`
			} `json:"userAccount"`
		} `json:"evidence"`
	} `json:"value"`
	Next string `json:"@odata.nextLink"`
}

func getPage(t *testing.T, srv *Server, tok, link string) (int, alertPage, http.Header) {
	t.Helper()
	resp, body := graphDo(t, srv, http.MethodGet, strings.TrimPrefix(link, srv.URL), tok)
	var p alertPage
	if resp.StatusCode == http.StatusOK {
		mustJSON(t, body, &p)
	}
	return resp.StatusCode, p, resp.Header
}

func filter(path, prop string, from time.Time, top int) string {
	q := url.Values{}
	q.Set("$filter", prop+" ge "+from.UTC().Format(time.RFC3339))
	if top > 0 {
		q.Set("$top", strconvI(top))
	}
	return "/v1.0" + path + "?" + q.Encode()
}

func strconvI(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAlertsPagedNewestFirst(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	base := time.Now().UTC().Add(-time.Hour)
	var ids []string
	for i := range 5 {
		ids = append(ids, srv.AddAlert(SecurityAlert{Title: "Impossible travel activity", Severity: "high",
			CreatedDateTime: base.Add(time.Duration(i) * time.Minute), LastUpdateDateTime: base.Add(time.Duration(i) * time.Minute),
			Users: []string{"AdeleV@contoso.onmicrosoft.com"}}))
	}
	// Filtered: the two oldest were last updated before the filter's time.
	link := filter("/security/alerts_v2", "lastUpdateDateTime", base.Add(2*time.Minute), 2)
	var got []string
	for pages := 0; link != ""; pages++ {
		if pages > 5 {
			t.Fatal("next links loop")
		}
		st, p, _ := getPage(t, srv, tok, link)
		if st != http.StatusOK {
			t.Fatalf("%s: %d", link, st)
		}
		for _, a := range p.Value {
			got = append(got, a.ID)
			if a.Type != "#microsoft.graph.security.alert" || len(a.Evidence) != 1 {
				t.Errorf("%+v", a)
			}
			if acct := a.Evidence[0].UserAccount; acct.AzureADUserID != "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91" || acct.UserPrincipalName != "AdeleV@contoso.onmicrosoft.com" {
				t.Errorf("user evidence %+v: both identifiers from the directory", acct)
			}
		}
		if p.Next != "" {
			u, _ := url.Parse(p.Next)
			if u.Path != "/v1.0/security/alerts_v2" || u.Query().Get("$skip") == "" || u.Query().Get("$filter") == "" {
				t.Fatalf("next link %s", p.Next)
			}
		}
		link = p.Next
	}
	if want := []string{ids[4], ids[3], ids[2]}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want the newest first %v", got, want)
	}
}

// An alert created while a client pages with $skip shifts the pages: the client sees an
// alert twice, never misses one.
func TestAlertsShiftUnderSkip(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	from := time.Now().UTC().Add(-time.Minute)
	a := srv.AddAlert(SecurityAlert{Title: "a", CreatedDateTime: from.Add(time.Second)})
	b := srv.AddAlert(SecurityAlert{Title: "b", CreatedDateTime: from.Add(2 * time.Second)})
	_, p1, _ := getPage(t, srv, tok, filter("/security/alerts_v2", "lastUpdateDateTime", from, 1))
	c := srv.AddAlert(SecurityAlert{Title: "c"})
	_, p2, _ := getPage(t, srv, tok, p1.Next)
	_, p3, _ := getPage(t, srv, tok, p2.Next)
	got := []string{p1.Value[0].ID, p2.Value[0].ID, p3.Value[0].ID}
	if !slices.Equal(got, []string{b, b, a}) || p3.Next != "" {
		t.Errorf("pages %v (next %q): want b twice, then a", got, p3.Next)
	}
	_ = c
}

func TestAlertUpdateMovesLastUpdate(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	old := time.Now().UTC().Add(-2 * time.Hour)
	id := srv.AddAlert(SecurityAlert{Title: "Impossible travel activity", Severity: "medium", CreatedDateTime: old, LastUpdateDateTime: old})
	since := time.Now().UTC().Add(-time.Minute)
	if _, p, _ := getPage(t, srv, tok, filter("/security/alerts_v2", "lastUpdateDateTime", since, 0)); len(p.Value) != 0 {
		t.Fatalf("an alert last updated two hours ago listed: %+v", p.Value)
	}
	if !srv.UpdateAlert(id, func(a *SecurityAlert) { a.Severity = "high" }) || srv.UpdateAlert("nope", func(*SecurityAlert) {}) {
		t.Fatal("UpdateAlert")
	}
	_, p, _ := getPage(t, srv, tok, filter("/security/alerts_v2", "lastUpdateDateTime", since, 0))
	if len(p.Value) != 1 || p.Value[0].Severity != "high" {
		t.Fatalf("after the update: %+v", p.Value)
	}
}

func TestAlertsRefuseWhatGraphRefuses(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	now := time.Now()
	for link, want := range map[string]string{
		filter("/security/alerts_v2", "lastUpdatedDateTime", now, 0):                  "Could not find a property named 'lastUpdatedDateTime' on type 'microsoft.graph.security.alert'",
		filter("/identityProtection/riskDetections", "lastUpdateDateTime", now, 0):    "Could not find a property named 'lastUpdateDateTime' on type 'microsoft.graph.riskDetection'",
		"/v1.0/security/alerts_v2?%24orderby=createdDateTime+desc":                    "Query option '$orderby' is not allowed",
		"/v1.0/security/alerts_v2?%24filter=lastUpdateDateTime+ge+yesterday":          "Invalid filter clause",
		filter("/identityProtection/riskDetections", "lastUpdatedDateTime", now, 501): "Invalid value '501'",
		"/v1.0/identityProtection/riskDetections?%24skiptoken=bogus":                  "page token",
	} {
		resp, body := graphDo(t, srv, http.MethodGet, link, tok)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s, want 400 %q", link, resp.StatusCode, body, want)
		}
	}
	if resp, _ := graphDo(t, srv, http.MethodGet, "/v1.0/security/alerts_v2", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}

func TestAlertsEvolvableEnums(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.AddAlert(SecurityAlert{Title: "x", ServiceSource: "microsoftDefenderForCloud"})
	_, p, _ := getPage(t, srv, tok, "/v1.0/security/alerts_v2")
	if p.Value[0].ServiceSource != "unknownFutureValue" {
		t.Errorf("without Prefer: %q", p.Value[0].ServiceSource)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/security/alerts_v2", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Prefer", "odata.maxpagesize=10, include-unknown-enum-members")
	_, body := send(t, srv, req)
	mustJSON(t, body, &p)
	if p.Value[0].ServiceSource != "microsoftDefenderForCloud" {
		t.Errorf("with Prefer: %q", p.Value[0].ServiceSource)
	}
}

func TestRiskDetectionsPaged(t *testing.T) {
	srv := newTestServer(t, WithPageSize(2))
	tok := getToken(t, srv)
	from := time.Now().UTC().Add(-time.Minute)
	var want []string
	for i := range 5 {
		want = append(want, srv.AddRiskDetection(RiskDetection{RiskEventType: "unlikelyTravel", RiskLevel: "high", User: "AlexW@contoso.onmicrosoft.com",
			DetectedDateTime: from.Add(time.Duration(5-i) * time.Second)}))
	}
	link := filter("/identityProtection/riskDetections", "lastUpdatedDateTime", from, 500)
	var got []string
	for link != "" {
		st, p, _ := getPage(t, srv, tok, link)
		if st != http.StatusOK {
			t.Fatal(st)
		}
		for _, d := range p.Value {
			got = append(got, d.ID)
			if d.UserID != "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24" || d.UserPrincipalName != "AlexW@contoso.onmicrosoft.com" || d.RiskEventType != "unlikelyTravel" {
				t.Errorf("%+v", d)
			}
		}
		if p.Next != "" && !strings.Contains(p.Next, "%24skiptoken=") {
			t.Fatalf("next %s", p.Next)
		}
		link = p.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if !srv.UpdateRiskDetection(want[0], func(d *RiskDetection) { d.RiskState = "confirmedCompromised" }) {
		t.Error("UpdateRiskDetection")
	}
}

func TestIdentityProtectionLimit(t *testing.T) {
	srv := newTestServer(t, WithIdentityProtectionLimit())
	tok := getToken(t, srv)
	if st, _, _ := getPage(t, srv, tok, "/v1.0/identityProtection/riskDetections"); st != http.StatusOK {
		t.Fatalf("first: %d", st)
	}
	// Well inside the second: throttled, with nothing to say when to come back.
	for _, path := range []string{"/v1.0/identityProtection/riskDetections", "/v1.0/identityProtection/riskyUsers"} {
		st, _, h := getPage(t, srv, tok, path)
		if st != http.StatusTooManyRequests || h.Get("Retry-After") != "" {
			t.Errorf("%s: %d Retry-After %q", path, st, h.Get("Retry-After"))
		}
	}
	if st, _, _ := getPage(t, srv, tok, "/v1.0/security/alerts_v2"); st != http.StatusOK {
		t.Errorf("the security API shares the limit: %d", st)
	}
}

func TestSkipFault(t *testing.T) {
	srv := newTestServer(t, WithPageSize(1))
	tok := getToken(t, srv)
	srv.AddAlert(SecurityAlert{Title: "a"})
	srv.AddAlert(SecurityAlert{Title: "b"})
	srv.Inject(Fault{Match: MatchListAlerts, Status: http.StatusServiceUnavailable, Skip: 1})
	st, p, _ := getPage(t, srv, tok, "/v1.0/security/alerts_v2")
	if st != http.StatusOK || p.Next == "" {
		t.Fatalf("first page: %d", st)
	}
	if st, _, _ := getPage(t, srv, tok, p.Next); st != http.StatusServiceUnavailable {
		t.Errorf("second page: %d, want the fault", st)
	}
	if st, _, _ := getPage(t, srv, tok, p.Next); st != http.StatusOK {
		t.Errorf("third request: %d, the fault is used up", st)
	}
}

func TestLatency(t *testing.T) {
	srv := newTestServer(t, WithLatency(30*time.Millisecond))
	start := time.Now()
	getToken(t, srv)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered in %v", d)
	}
}
