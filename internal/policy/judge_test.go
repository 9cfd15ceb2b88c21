package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

const (
	breakID = "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42"
	guestID = "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16"
	tenant  = "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21"
)

func TestJudge(t *testing.T) {
	listed, _ := ParseProtected("breakglass01@contoso.com")
	resolved := listed.Resolved([]string{breakID}, []string{"breakglass01@contoso.com"})
	member := func(id, upn string) Facts {
		return Facts{Known: true, ID: id, UserPrincipalName: upn, UserType: "Member"}
	}
	cases := []struct {
		name    string
		p       alert.Principal
		facts   Facts
		status  outcome.Status // "" for revoke
		key     string         // what a revoke would be sent for
		reasons []string
	}{
		{"Graph's id decides, not the alert's UPN", alert.Principal{UserID: breakID, UserPrincipalName: "AdeleV@contoso.com"}, member(breakID, "breakglass01@contoso.com"),
			outcome.Skipped, breakID, []string{"protected", "the alert gave UPN AdeleV@contoso.com"}},
		{"a UPN resolves to a protected id", alert.Principal{UserPrincipalName: "bg-renamed@contoso.com"}, member(breakID, "bg-renamed@contoso.com"),
			outcome.Skipped, breakID, []string{"protected"}},
		{"a guest by Graph's type", alert.Principal{UserID: guestID, UserPrincipalName: "AdeleV@contoso.com"}, Facts{Known: true, ID: guestID, UserPrincipalName: "p_f.com#EXT#@contoso.com", UserType: "Guest"},
			outcome.Skipped, guestID, []string{"guest"}},
		{"a guest by Graph's UPN, whatever its type", alert.Principal{UserID: guestID}, Facts{Known: true, ID: guestID, UserPrincipalName: "p_f.com#EXT#@contoso.com", UserType: "Member"},
			outcome.Skipped, guestID, []string{"guest"}},
		{"claimed guest, Graph says member", alert.Principal{UserID: adeleID, UserType: "Guest"}, member(adeleID, "AdeleV@contoso.com"),
			"", adeleID, []string{"the alert said guest; Graph says Member"}},
		{"a UPN is revoked by Graph's id", alert.Principal{UserPrincipalName: "adelev@contoso.com"}, member(strings.ToUpper(adeleID), "AdeleV@contoso.com"),
			"", adeleID, nil},
		{"not found", alert.Principal{UserPrincipalName: "a@fabrikam.com", TenantID: "11111111-1111-4111-8111-111111111111"}, Facts{NotFound: true},
			outcome.NotFound, "a@fabrikam.com", []string{"404", "tenant 11111111"}},
		{"another tenant claimed, ours in fact", alert.Principal{UserID: adeleID, TenantID: "11111111-1111-4111-8111-111111111111"}, member(adeleID, "AdeleV@contoso.com"),
			"", adeleID, []string{"places this user in tenant 11111111", "this tenant has them"}},
		{"our tenant in braces and capitals is ours", alert.Principal{UserID: adeleID, TenantID: "{" + strings.ToUpper(tenant) + "}"}, member(adeleID, "AdeleV@contoso.com"),
			"", adeleID, nil},
		{"Graph unreachable: an id is checked against resolved ids", alert.Principal{UserID: breakID}, Facts{Unknown: "403 Authorization_RequestDenied"},
			outcome.Skipped, breakID, []string{"protected"}},
		{"Graph unreachable: another id is revoked, unchecked type said", alert.Principal{UserID: adeleID}, Facts{Unknown: "403 Authorization_RequestDenied"},
			"", adeleID, []string{"user type not checked"}},
		{"Graph unreachable: a UPN cannot be cleared", alert.Principal{UserPrincipalName: "AdeleV@contoso.com"}, Facts{Unknown: "503"},
			outcome.Failed, "AdeleV@contoso.com", []string{"protected-account list cannot be checked"}},
		{"Graph's answer without an id", alert.Principal{UserPrincipalName: "AdeleV@contoso.com"}, Facts{Known: true, UserPrincipalName: "AdeleV@contoso.com"},
			outcome.Failed, "AdeleV@contoso.com", []string{"no valid object id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := Decide(one(c.p), Settings{})
			if len(ds) != 1 || !ds[0].Revoke {
				t.Fatalf("not a candidate: %+v", ds)
			}
			d := Judge(ds[0], c.facts, resolved, Settings{TenantID: tenant})
			if c.status == "" && (!d.Revoke || d.Status != "") || c.status != "" && (d.Revoke || d.Status != c.status) {
				t.Errorf("revoke %v status %q (%s), want %q", d.Revoke, d.Status, d.Reason, c.status)
			}
			if d.Key() != c.key {
				t.Errorf("key %q, want %q", d.Key(), c.key)
			}
			for _, r := range c.reasons {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason %q lacks %q", d.Reason, r)
				}
			}
		})
	}
}

// TestRepeatsDoNotInflate: one real victim named again and again (every alert of an
// incident, evidence repeated, a request repeating one user) is one user, never "would
// revoke 11 users".
func TestRepeatsDoNotInflate(t *testing.T) {
	var alerts []alert.Alert
	for i := 0; i < 11; i++ {
		alerts = append(alerts, alert.Alert{Format: "graph-security-incident", ID: "inc-1", Principals: []alert.Principal{
			{UserID: adeleID, UserPrincipalName: "AdeleV@contoso.com", Roles: []string{"compromised"}},
			{UserID: strings.ToUpper(adeleID), Roles: []string{"compromised"}},
		}})
	}
	ds := Decide(alerts, Settings{MaxTargetsPerAlert: 10})
	if got := verdicts(t, ds); fmt.Sprint(got) != "["+adeleID+" revoke]" {
		t.Errorf("got %v", got)
	}
	if n := len(ds[0].Alerts()); n != 1 || len(ds[0].Roles) != 1 {
		t.Errorf("alerts %v, roles %v: a repeat grew the decision", ds[0].Alerts(), ds[0].Roles)
	}
}

// BenchmarkDecideRepeats is Decide over the mentions of a 1 MiB payload naming one user
// again and again (about 100,000 mentions): linear, where the merge used to copy every
// mention's alert list into the next.
func BenchmarkDecideRepeats(b *testing.B) {
	ps := make([]alert.Principal, 100000)
	for i := range ps {
		ps[i] = alert.Principal{UserID: adeleID, UserPrincipalName: "AdeleV@contoso.com", Roles: []string{"compromised", "attacked"}}
		if i%2 == 1 {
			ps[i] = alert.Principal{UserPrincipalName: "adelev@CONTOSO.com", Roles: []string{"contextual"}}
		}
	}
	alerts := []alert.Alert{{Format: "graph-security-alert", ID: "a", Principals: ps}}
	start := time.Now()
	for b.Loop() {
		if ds := Decide(alerts, Settings{MaxTargetsPerAlert: 10}); len(ds) != 2 {
			b.Fatal(len(ds))
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/payload")
}
