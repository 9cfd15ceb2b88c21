package graphemu

import (
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const sweepGroup = "7d4e2a91-3c5b-4f8e-9a1d-6b2c8e0f4a57"

// A generated directory beside the default one: every member paged from the group in
// order, guests among them, each addressable by the id and UPN its number gives.
func TestGeneratedDirectory(t *testing.T) {
	users := append(DefaultUsers(), GenerateUsers(Generated{Count: 2500, Group: sweepGroup, GuestEvery: 10})...)
	users = append(users, GenerateUsers(Generated{Count: 3, First: 2501, RiskLevel: "high"})...)
	srv := NewServer(users)
	t.Cleanup(srv.Close)

	got, pages := listAll(t, srv, "/v1.0/groups/"+sweepGroup+"/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName,userType&$top=999")
	var want []string
	for n := 1; n <= 2500; n++ {
		want = append(want, GeneratedUPN(n, n%10 == 0))
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("listed %d members in %d pages, want the 2,500 in order in 3", len(got), pages)
	}
	for n, guest := range map[int]bool{1: false, 10: true, 2499: false, 2500: true} {
		u, ok := srv.User(GeneratedUPN(n, guest))
		if !ok || u.ID != GeneratedID(n) || (u.UserType == "Guest") != guest || !slices.Equal(u.Groups, []string{sweepGroup}) {
			t.Errorf("user %d: %+v", n, u)
		}
	}
	// The three after them are risky and in no group; ids never collide with the default
	// directory's.
	risky, _ := listAll(t, srv, "/v1.0/identityProtection/riskyUsers?$filter="+"riskLevel%20eq%20%27high%27")
	if !slices.Contains(risky, GeneratedUPN(2501, false)) || !slices.Contains(risky, GeneratedUPN(2503, false)) || slices.Contains(risky, GeneratedUPN(2500, true)) {
		t.Errorf("risky users %v", risky)
	}
	tok := getToken(t, srv)
	if resp, body := graphDo(t, srv, http.MethodPost, revokePath(GeneratedID(1234)), tok); resp.StatusCode != 200 {
		t.Errorf("revoke by generated id: %d %s", resp.StatusCode, body)
	}
	if u, _ := srv.User(GeneratedUPN(1234, false)); !u.SignInSessionsValidFromDateTime.After(generatedSince) {
		t.Error("the revoke did not move signInSessionsValidFromDateTime")
	}
}

// Starting an emulator of 100,000 users (the explicit-list ceiling) and paging its group:
// the figures the README quotes.
func BenchmarkGeneratedDirectory100k(b *testing.B) {
	const n = 100_000
	for i := 0; b.Loop(); i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		srv := NewServer(GenerateUsers(Generated{Count: n, Group: sweepGroup, GuestEvery: 50}))
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "start-ms")
		if i == 0 { // later rounds start while the last server's connections wind down
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
		}

		start = time.Now()
		pages := pageAll(b, srv, "/v1.0/groups/"+sweepGroup+"/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName,userType&$top=999")
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "list-ms")
		if pages != (n+998)/999 {
			b.Fatalf("%d pages", pages)
		}
		srv.Close()
	}
}

// pageAll follows @odata.nextLink to the end, counting the pages (at most 1,000).
func pageAll(t testing.TB, srv *Server, link string) (pages int) {
	tok := getToken(t, srv)
	for ; link != ""; pages++ {
		if pages >= 1000 {
			t.Fatal("more than 1,000 pages: the next links loop")
		}
		resp, body := graphDo(t, srv, http.MethodGet, strings.TrimPrefix(link, srv.URL), tok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", link, resp.StatusCode, body)
		}
		var p listPage
		mustJSON(t, body, &p)
		link = p.Next
	}
	return pages
}
