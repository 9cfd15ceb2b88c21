package graphemu

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const offboarding = "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"

type listPage struct {
	Context string `json:"@odata.context"`
	Value   []struct {
		Type              string `json:"@odata.type"`
		ID                string `json:"id"`
		UserPrincipalName string `json:"userPrincipalName"`
		UserType          string `json:"userType"`
		RiskLevel         string `json:"riskLevel"`
		RiskState         string `json:"riskState"`
	} `json:"value"`
	Next string `json:"@odata.nextLink"`
}

// listAll follows @odata.nextLink from first until the last page, returning every UPN in
// the order served and the number of pages.
func listAll(t *testing.T, srv *Server, first string) (upns []string, pages int) {
	t.Helper()
	tok := getToken(t, srv)
	link := first
	for link != "" {
		if pages++; pages > 50 {
			t.Fatal("more than 50 pages: the next links loop")
		}
		resp, body := graphDo(t, srv, http.MethodGet, link, tok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", link, resp.StatusCode, body)
		}
		var p listPage
		mustJSON(t, body, &p)
		for _, v := range p.Value {
			upns = append(upns, v.UserPrincipalName)
		}
		link = ""
		if p.Next != "" {
			if !strings.HasPrefix(p.Next, srv.URL+"/v1.0/") {
				t.Fatalf("next link %q is not on the server", p.Next)
			}
			link = strings.TrimPrefix(p.Next, srv.URL)
		}
	}
	return upns, pages
}

func want(keep func(User) bool) []string {
	var out []string
	for _, u := range DefaultUsers() {
		if keep(u) {
			out = append(out, u.UserPrincipalName)
		}
	}
	return out
}

func TestRiskyUsersPaged(t *testing.T) {
	srv := newTestServer(t, WithPageSize(2))
	filter := url.QueryEscape("(riskLevel eq 'high' or riskLevel eq 'medium') and (riskState eq 'atRisk')")
	got, pages := listAll(t, srv, "/v1.0/identityProtection/riskyUsers?$filter="+filter+"&$top=100")
	exp := want(func(u User) bool {
		return (u.RiskLevel == "high" || u.RiskLevel == "medium") && u.RiskState == "atRisk"
	})
	if !slices.Equal(got, exp) || len(exp) < 2 {
		t.Errorf("listed %v, want %v", got, exp)
	}
	all, pages := listAll(t, srv, "/v1.0/identityProtection/riskyUsers")
	if exp := want(func(u User) bool { return u.RiskLevel != "" }); !slices.Equal(all, exp) || pages != (len(exp)+1)/2 {
		t.Errorf("unfiltered: %v in %d pages, want %v", all, pages, exp)
	}
}

func TestGroupMembersPaged(t *testing.T) {
	srv := newTestServer(t, WithPageSize(1))
	got, pages := listAll(t, srv, "/v1.0/groups/"+strings.ToUpper(offboarding)+"/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName,userType")
	exp := want(func(u User) bool { return slices.Contains(u.Groups, offboarding) })
	if !slices.Equal(got, exp) || pages != len(exp) {
		t.Errorf("members %v in %d pages, want %v", got, pages, exp)
	}
	tok := getToken(t, srv)
	resp, body := graphDo(t, srv, http.MethodGet, "/v1.0/groups/"+offboarding+"/transitiveMembers/microsoft.graph.user?$select=id,userType", tok)
	var p listPage
	mustJSON(t, body, &p)
	if resp.StatusCode != http.StatusOK || p.Value[0].Type != "#microsoft.graph.user" || p.Value[0].UserPrincipalName != "" || p.Value[0].UserType == "" {
		t.Errorf("$select: status %d, %s", resp.StatusCode, body)
	}
}

func TestListingErrors(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1.0/groups/00000000-0000-0000-0000-000000000001/transitiveMembers/microsoft.graph.user", 404, "Request_ResourceNotFound"},
		{"/v1.0/identityProtection/riskyUsers?$filter=" + url.QueryEscape("riskLevel ne 'low'"), 400, "BadRequest"},
		{"/v1.0/identityProtection/riskyUsers?$top=501", 400, "BadRequest"},
		{"/v1.0/identityProtection/riskyUsers?$skiptoken=bm90LWFuLW9mZnNldA", 400, "Directory_ExpiredPageToken"},
		{"/v1.0/groups/" + offboarding + "/transitiveMembers/microsoft.graph.user?$select=password", 400, "BadRequest"},
	} {
		resp, body := graphDo(t, srv, http.MethodGet, c.path, tok)
		wantGraphError(t, resp, body, c.status, c.code)
	}
	resp, body := graphDo(t, srv, http.MethodGet, "/v1.0/identityProtection/riskyUsers", "")
	wantGraphError(t, resp, body, http.StatusUnauthorized, "InvalidAuthenticationToken")
	resp, body = graphDo(t, srv, http.MethodPost, "/v1.0/identityProtection/riskyUsers", tok)
	wantGraphError(t, resp, body, http.StatusMethodNotAllowed, "Request_BadRequest")
}

func TestListingFaults(t *testing.T) {
	srv := newTestServer(t)
	tok := getToken(t, srv)
	srv.Inject(Fault{Match: MatchListMembers, Status: http.StatusTooManyRequests, RetryAfter: "2"})
	resp, body := graphDo(t, srv, http.MethodGet, "/v1.0/groups/"+offboarding+"/transitiveMembers/microsoft.graph.user", tok)
	wantGraphError(t, resp, body, http.StatusTooManyRequests, "TooManyRequests")
	if resp.Header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if resp, _ := graphDo(t, srv, http.MethodGet, "/v1.0/groups/"+offboarding+"/transitiveMembers/microsoft.graph.user", tok); resp.StatusCode != http.StatusOK {
		t.Errorf("after the fault: status %d", resp.StatusCode)
	}
	defer func() {
		if recover() == nil {
			t.Error("a listing fault with a UserKey was accepted")
		}
	}()
	srv.Inject(Fault{Match: MatchListRiskyUsers, UserKey: "x", Status: 503})
}
