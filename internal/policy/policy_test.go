package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

const adeleID = "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"

func one(ps ...alert.Principal) []alert.Alert {
	return []alert.Alert{{Format: "test", ID: "a-1", Principals: ps}}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		alerts []alert.Alert
		s      Settings
		want   []string // per decision: "key status" or "key revoke"
	}{
		{"object id preferred", one(alert.Principal{UserID: strings.ToUpper(adeleID), UserPrincipalName: "AdeleV@contoso.com"}), Settings{},
			[]string{adeleID + " revoke"}},
		{"upn only", one(alert.Principal{UserPrincipalName: "AdeleV@contoso.com"}), Settings{},
			[]string{"AdeleV@contoso.com revoke"}},
		{"account classified by shape", one(alert.Principal{Account: adeleID}, alert.Principal{Account: "$svc@contoso.com"}), Settings{},
			[]string{adeleID + " revoke", "$svc@contoso.com revoke"}},
		// Mentions meet on the identifier that would be sent; whether a UPN and an object id
		// are one user is Graph's to say (revoke.Run folds them once it has).
		{"dedupe by identifier, any case", one(
			alert.Principal{UserPrincipalName: "AdeleV@contoso.com"},
			alert.Principal{UserID: adeleID, UserPrincipalName: "adelev@CONTOSO.com"},
			alert.Principal{UserID: strings.ToUpper(adeleID)},
			alert.Principal{Account: "ADELEV@contoso.com"},
		), Settings{}, []string{"AdeleV@contoso.com revoke", adeleID + " revoke"}},
		{"dedupe across alerts", append(one(alert.Principal{UserPrincipalName: "a@contoso.com"}), alert.Alert{Format: "x", ID: "2", Principals: []alert.Principal{{Account: "A@Contoso.com"}}}), Settings{},
			[]string{"a@contoso.com revoke"}},
		{"guest by upn", one(alert.Principal{UserPrincipalName: "p_fabrikam.com#EXT#@contoso.com"}), Settings{},
			[]string{"p_fabrikam.com#EXT#@contoso.com skipped"}},
		{"a guest claimed by userType is asked of Graph", one(alert.Principal{UserID: adeleID, UserType: "Guest"}), Settings{},
			[]string{adeleID + " revoke"}},
		{"built-in skipped", one(alert.Principal{Account: `NT AUTHORITY\SYSTEM`}, alert.Principal{Account: "S-1-5-18"}), Settings{},
			[]string{`NT AUTHORITY\SYSTEM skipped`, "S-1-5-18 skipped"}},
		{"unaddressable fails", one(alert.Principal{Account: `CONTOSO\adele`}, alert.Principal{Account: "S-1-5-21-1-2-3-1105"}, alert.Principal{Account: "../x@y.com"}, alert.Principal{}), Settings{},
			[]string{`CONTOSO\adele failed`, "S-1-5-21-1-2-3-1105 failed", "../x@y.com failed", " failed"}},
		{"bad id, good upn", one(alert.Principal{UserID: "../../me", UserPrincipalName: "AdeleV@contoso.com"}), Settings{},
			[]string{"AdeleV@contoso.com revoke"}},
		{"attacker role skipped", one(alert.Principal{UserPrincipalName: "x@contoso.com", Roles: []string{"attacker"}}, alert.Principal{UserPrincipalName: "y@contoso.com", Roles: []string{"compromised"}}), Settings{},
			[]string{"x@contoso.com skipped", "y@contoso.com revoke"}},
		{"roles configurable", one(alert.Principal{UserPrincipalName: "x@contoso.com", Roles: []string{"attacker"}}), Settings{TargetRoles: []string{"attacker"}},
			[]string{"x@contoso.com revoke"}},
		{"attacker and compromised across mentions", one(alert.Principal{UserPrincipalName: "x@contoso.com", Roles: []string{"attacker"}}, alert.Principal{UserPrincipalName: "X@contoso.com", Roles: []string{"compromised"}}), Settings{},
			[]string{"x@contoso.com revoke"}},
		{"dry run", one(alert.Principal{UserID: adeleID}, alert.Principal{Account: "SYSTEM"}), Settings{DryRun: true},
			[]string{adeleID + " revoke (dry run)", "SYSTEM skipped"}},
		{"dry run from the alert", []alert.Alert{{Format: "direct", DryRun: true, Principals: []alert.Principal{{Account: adeleID}}}}, Settings{},
			[]string{adeleID + " revoke (dry run)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := verdicts(t, Decide(c.alerts, c.s))
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// verdicts writes each decision as "who revoke" or "who status", checking that every
// decision not to revoke carries a reason and no revoke carries a status.
func verdicts(t *testing.T, ds []Decision) []string {
	t.Helper()
	var got []string
	for _, d := range ds {
		key := d.Key()
		if key == "" {
			key = d.Identifier
		}
		switch {
		case d.Revoke && d.Status != "":
			t.Errorf("%s: Revoke with status %s", key, d.Status)
		case d.Revoke && d.DryRun:
			got = append(got, key+" revoke (dry run)")
		case d.Revoke:
			got = append(got, key+" revoke")
		case d.Reason == "":
			t.Errorf("%s: %s without a reason", key, d.Status)
		default:
			got = append(got, key+" "+string(d.Status))
		}
	}
	return got
}

func TestEveryPrincipalHasADecision(t *testing.T) {
	// Distinct users, one decision each, whatever their shape.
	ps := []alert.Principal{{Account: "a@contoso.com"}, {Account: "SYSTEM"}, {Account: "bad/x"}, {Account: "CONTOSO\\b"}, {Account: adeleID}}
	ds := Decide(one(ps...), Settings{})
	if len(ds) != len(ps) {
		t.Fatalf("%d decisions for %d principals", len(ds), len(ps))
	}
	for _, d := range ds {
		if !d.Revoke && !(d.Status == outcome.Skipped || d.Status == outcome.Failed) {
			t.Errorf("%+v: no outcome", d)
		}
	}
}

func TestGuardrails(t *testing.T) {
	cases := []struct {
		name   string
		alerts []alert.Alert
		s      Settings
		want   []string
	}{
		// Protected accounts, guests and tenants are facts about a user: Decide leaves
		// them to Judge (judge_test.go) and keeps the candidate.
		{"a protected UPN is still a candidate", one(alert.Principal{UserPrincipalName: "responder1@CONTOSO.com"}), Settings{},
			[]string{"responder1@CONTOSO.com revoke"}},
		{"another tenant is asked of Graph", []alert.Alert{{Format: "t", ID: "1", TenantID: "11111111-1111-4111-8111-111111111111", Principals: []alert.Principal{{UserPrincipalName: "a@fabrikam.com"}}}},
			Settings{TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21"}, []string{"a@fabrikam.com revoke"}},
		{"login with suffix", one(alert.Principal{Account: `CONTOSO\adele.vance`}, alert.Principal{Account: "alex.w"}), Settings{DefaultUPNSuffix: "contoso.com"},
			[]string{"adele.vance@contoso.com revoke", "alex.w@contoso.com revoke"}},
		{"blast radius", one(alert.Principal{Account: "a@contoso.com"}, alert.Principal{Account: "b@contoso.com"}, alert.Principal{Account: "c@contoso.com"}, alert.Principal{Account: "d@contoso.com"}, alert.Principal{Account: "e@contoso.com"}, alert.Principal{Account: "SYSTEM"}), Settings{MaxTargetsPerAlert: 2},
			[]string{"a@contoso.com needs-approval", "b@contoso.com needs-approval", "c@contoso.com needs-approval", "d@contoso.com needs-approval", "e@contoso.com needs-approval", "SYSTEM skipped"}},
		// Four identifiers may be two users named both ways: Graph decides (revoke.Run).
		{"blast radius waits for Graph when identifiers could be one user", one(alert.Principal{Account: "a@contoso.com"}, alert.Principal{Account: "b@contoso.com"}, alert.Principal{Account: adeleID}, alert.Principal{Account: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"}), Settings{MaxTargetsPerAlert: 2},
			[]string{"a@contoso.com revoke", "b@contoso.com revoke", adeleID + " revoke", "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24 revoke"}},
		{"blast radius counts per alert", append(one(alert.Principal{Account: "a@contoso.com"}, alert.Principal{Account: "b@contoso.com"}), alert.Alert{Format: "t", ID: "a-2", Principals: []alert.Principal{{Account: "c@contoso.com"}}}), Settings{MaxTargetsPerAlert: 1},
			[]string{"a@contoso.com revoke", "b@contoso.com revoke", "c@contoso.com revoke"}},
		{"approved direct request", []alert.Alert{{Format: "direct", ID: "d", Approved: true, Principals: []alert.Principal{{Account: "a@contoso.com"}, {Account: "b@contoso.com"}, {Account: "c@contoso.com"}, {Account: "d@contoso.com"}, {Account: "e@contoso.com"}}}}, Settings{MaxTargetsPerAlert: 2},
			[]string{"a@contoso.com revoke", "b@contoso.com revoke", "c@contoso.com revoke", "d@contoso.com revoke", "e@contoso.com revoke"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := verdicts(t, Decide(c.alerts, c.s))
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestParseProtected(t *testing.T) {
	p, err := ParseProtected(" 0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42;breakglass02@contoso.com\n")
	if err != nil || p.Len() != 2 {
		t.Fatalf("%v %d", err, p.Len())
	}
	r := p.Resolved([]string{"0F6D3B9E-2A4C-4E8B-9D1F-5C7A3E6B8D42", "b0000000-0000-4000-8000-000000000002"}, []string{"BreakGlass01@contoso.com", "breakglass02@contoso.com"})
	if !r.Has("b0000000-0000-4000-8000-000000000002", "") || !r.Has("", "breakglass01@CONTOSO.com") || r.Len() != 4 {
		t.Error("a resolved list knows each account by its object id and its current UPN")
	}
	if p.Has("b0000000-0000-4000-8000-000000000002", "") {
		t.Error("Resolved changed the list it was called on")
	}
	for _, bad := range []string{"breakglass", "0f6d3b9e, ../x@y.com", "S-1-5-21-1-2-3"} {
		if _, err := ParseProtected(bad); err == nil || !strings.Contains(err.Error(), "entry") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if p, err := ParseProtected(""); err != nil || p.Len() != 0 {
		t.Errorf("empty list: %v", err)
	}
}

// BenchmarkGuardrails is the decision step with every guardrail on (protected list,
// tenant pin, roles, UPN suffix, blast radius) for a five-user alert.
func BenchmarkGuardrails(b *testing.B) {
	var list []string
	for i := 0; i < 50; i++ {
		list = append(list, fmt.Sprintf("breakglass%02d@contoso.com", i))
	}
	protected, err := ParseProtected(strings.Join(list, ","))
	if err != nil {
		b.Fatal(err)
	}
	s := Settings{Protected: protected, TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21", DefaultUPNSuffix: "contoso.com", MaxTargetsPerAlert: 10}
	alerts := []alert.Alert{{Format: "graph-security-alert", ID: "a-1", TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21", Principals: []alert.Principal{
		{UserID: adeleID, UserPrincipalName: "AdeleV@contoso.com", Roles: []string{"compromised"}},
		{UserPrincipalName: "breakglass07@contoso.com"},
		{Account: `NT AUTHORITY\SYSTEM`},
		{Account: `CONTOSO\alex.w`},
		{UserPrincipalName: "x@contoso.com", Roles: []string{"attacker"}},
	}}}
	b.ReportAllocs()
	for b.Loop() {
		if ds := Decide(alerts, s); len(ds) != 5 {
			b.Fatal(len(ds))
		}
	}
}

func TestRoleBeforeAddressability(t *testing.T) {
	ds := Decide(one(alert.Principal{Account: `CONTOSO\mallory`, Roles: []string{"attacker"}}), Settings{})
	if ds[0].Status != outcome.Skipped {
		t.Errorf("an attacker's unaddressable login: %s (%s)", ds[0].Status, ds[0].Reason)
	}
}

// TestMergeIsOrderFree: the review's cases. A user's decision must not depend on which
// mention came first, and folding duplicates must not hide users from the blast radius.
func TestMergeIsOrderFree(t *testing.T) {
	bob := alert.Principal{UserPrincipalName: "bob@contoso.com"}
	bobGuest := alert.Principal{UserPrincipalName: "bob@contoso.com", UserType: "Guest"}
	bobElsewhere := alert.Principal{UserPrincipalName: "bob@contoso.com", TenantID: "11111111-1111-4111-8111-111111111111"}
	pin := Settings{TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21"}
	for name, c := range map[string]struct {
		ps   []alert.Principal
		s    Settings
		want string
	}{
		"guest second":        {[]alert.Principal{bob, bobGuest}, Settings{}, "bob@contoso.com revoke"},
		"guest first":         {[]alert.Principal{bobGuest, bob}, Settings{}, "bob@contoso.com revoke"},
		"other tenant second": {[]alert.Principal{bob, bobElsewhere}, pin, "bob@contoso.com revoke"},
		"other tenant first":  {[]alert.Principal{bobElsewhere, bob}, pin, "bob@contoso.com revoke"},
		// A pairing bridges nothing: the UPN alone is its own candidate until Graph says.
		"bridged by a third mention": {[]alert.Principal{{UserID: adeleID}, {UserPrincipalName: "adelev@contoso.com"}, {UserID: adeleID, UserPrincipalName: "AdeleV@contoso.com"}},
			Settings{}, adeleID + " revoke|adelev@contoso.com revoke"},
	} {
		t.Run(name, func(t *testing.T) {
			ds := Decide(one(c.ps...), c.s)
			if got := strings.Join(verdicts(t, ds), "|"); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
			// Whatever the order, every claim reaches Judge.
			for _, p := range c.ps {
				if p.UserType == "Guest" && !ds[0].ClaimedGuest || p.TenantID != "" && ds[0].ClaimedTenant != p.TenantID {
					t.Errorf("a claim was lost in the merge: %+v", ds[0].Target)
				}
			}
		})
	}

	// A live request and a dry one for the same user: the live one is not silently dry.
	live := []alert.Alert{
		{Format: "direct", ID: "a", Principals: []alert.Principal{{Account: "bob@contoso.com"}}},
		{Format: "direct", ID: "b", DryRun: true, Principals: []alert.Principal{{Account: "bob@contoso.com"}}},
	}
	if got := verdicts(t, Decide(live, Settings{})); got[0] != "bob@contoso.com revoke" {
		t.Errorf("live then dry: %v", got)
	}

	// Two different object ids sharing a UPN are two users, never one.
	two := one(alert.Principal{UserID: adeleID, UserPrincipalName: "x@contoso.com"}, alert.Principal{UserID: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", UserPrincipalName: "x@contoso.com"})
	if got := verdicts(t, Decide(two, Settings{})); len(got) != 2 {
		t.Errorf("two object ids folded into one: %v", got)
	}

	// Alert B names four users, two of them also named by A: B is over a limit of 3.
	u := func(n int) alert.Principal { return alert.Principal{Account: fmt.Sprintf("u%d@contoso.com", n)} }
	ab := []alert.Alert{
		{Format: "t", ID: "A", Principals: []alert.Principal{u(1), u(2)}},
		{Format: "t", ID: "B", Principals: []alert.Principal{u(1), u(2), u(3), u(4)}},
	}
	// (Decide leaves four identifiers under a limit of three to Graph; on Graph's answer,
	// with slack 1, as revoke.Run applies it, they are four users.)
	for _, v := range verdicts(t, Bound(Decide(ab, Settings{MaxTargetsPerAlert: 3}), 3, 1)) {
		if !strings.HasSuffix(v, "needs-approval") {
			t.Errorf("blast radius bypassed through deduplication: %s", v)
		}
	}
}

// What the vendor says may mean nothing is to be done: the risk state outside RISK_STATES,
// a deleted user, a closed alert. Each only withholds a revoke while every mention says it.
func TestVendorStates(t *testing.T) {
	const megan = "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37"
	risky := func(id, state string) alert.Alert {
		return alert.Alert{Format: "entra-risky-user", ID: id + "@t", Principals: []alert.Principal{{UserID: id, RiskState: state}}}
	}
	cases := []struct {
		name   string
		alerts []alert.Alert
		s      Settings
		want   []string // "key status: reason prefix"
	}{
		{"default states", []alert.Alert{risky(adeleID, "atRisk"), risky(megan, "confirmedCompromised")}, Settings{},
			[]string{adeleID + " revoke", megan + " revoke"}},
		{"dismissed, remediated, safe, none", []alert.Alert{risky(adeleID, "dismissed"), risky(megan, "remediated"), risky("a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", "confirmedSafe"), risky("b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", "none")}, Settings{},
			[]string{adeleID + " skipped: risk state dismissed is not acted on (RISK_STATES=atRisk,confirmedCompromised)", megan + " skipped: risk state remediated", "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68 skipped: risk state confirmedSafe", "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24 skipped: risk state none"}},
		{"states configurable, any case", []alert.Alert{risky(adeleID, "atRisk"), risky(megan, "REMEDIATED")}, Settings{RiskStates: []string{"remediated"}},
			[]string{adeleID + " skipped: risk state atRisk is not acted on (RISK_STATES=remediated)", megan + " revoke"}},
		{"dismissed here, at risk there", []alert.Alert{risky(adeleID, "dismissed"), {Format: "entra-risk-detection", ID: "d-1", Principals: []alert.Principal{{UserID: adeleID, RiskState: "atRisk"}}}}, Settings{},
			[]string{adeleID + " revoke"}},
		{"dismissed here, named without a state there", []alert.Alert{risky(adeleID, "dismissed"), {Format: "graph-security-alert", ID: "g-1", Principals: []alert.Principal{{UserPrincipalName: "AdeleV@contoso.com", UserID: adeleID}}}}, Settings{},
			[]string{adeleID + " revoke"}},
		{"deleted: not-found, nothing sent", one(alert.Principal{UserID: adeleID, Deleted: true, RiskState: "atRisk"}), Settings{},
			[]string{adeleID + " not-found: deleted"}},
		{"deleted once, alive in another alert", append(one(alert.Principal{UserID: adeleID, Deleted: true}), alert.Alert{Format: "x", ID: "2", Principals: []alert.Principal{{UserID: adeleID}}}), Settings{},
			[]string{adeleID + " revoke"}},
		{"closed alert", one(alert.Principal{UserPrincipalName: "AdeleV@contoso.com", Closed: "the alert is resolved (status resolved)"}), Settings{},
			[]string{"AdeleV@contoso.com skipped: closed: the alert is resolved"}},
		{"closed here, open there", append(one(alert.Principal{UserPrincipalName: "AdeleV@contoso.com", Closed: "the alert is resolved"}), alert.Alert{Format: "x", ID: "2", Principals: []alert.Principal{{Account: "adelev@contoso.com"}}}), Settings{},
			[]string{"AdeleV@contoso.com revoke"}},
		// Nothing to do for the user: not an unaddressable user to fail the alert on.
		{"closed and unaddressable", one(alert.Principal{Account: `CONTOSO\adele`, Closed: "the incident is closed (status Closed)"}), Settings{},
			[]string{`CONTOSO\adele skipped: closed`}},
		// A guest claimed by the vendor is Graph's to confirm (Judge): a candidate here.
		{"a guest claimed by the vendor", one(alert.Principal{UserID: adeleID, UserType: "Guest", RiskState: "atRisk"}), Settings{},
			[]string{adeleID + " revoke"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := Decide(c.alerts, c.s)
			if len(ds) != len(c.want) {
				t.Fatalf("%d decisions %+v, want %q", len(ds), ds, c.want)
			}
			for i, d := range ds {
				key := d.Key()
				if key == "" {
					key = d.Identifier
				}
				got := key + " revoke"
				if !d.Revoke {
					got = key + " " + string(d.Status) + ": " + d.Reason
				}
				if !strings.HasPrefix(got, c.want[i]) {
					t.Errorf("got  %q\nwant %q...", got, c.want[i])
				}
			}
		})
	}
}

// A malformed object id beside a valid UPN: revoked by the UPN, the refused id kept in the
// report; and a refused value never makes two users one.
func TestRefusedIdentifierBesideAUsableOne(t *testing.T) {
	ds := Decide(one(
		alert.Principal{UserID: "9e4c6a2b-7f1d-4b3e-8a5c-4d6f8b0a2c3", UserPrincipalName: "NestorW@contoso.com"},
		alert.Principal{UserID: "9e4c6a2b-7f1d-4b3e-8a5c-4d6f8b0a2c3", UserPrincipalName: "LynneR@contoso.com"},
		alert.Principal{UserID: "NestorW", UserPrincipalName: "nestorw@contoso.com"},
	), Settings{})
	if len(ds) != 2 {
		t.Fatalf("%d decisions, want Nestor and Lynne: %+v", len(ds), ds)
	}
	for _, d := range ds {
		if !d.Revoke || d.UserID != "" || d.Identifier != "9e4c6a2b-7f1d-4b3e-8a5c-4d6f8b0a2c3" {
			t.Errorf("%+v: want revoked by UPN with the refused object id reported", d.Target)
		}
	}
	// The malformed id alone is refused, with the reason.
	d := Decide(one(alert.Principal{UserID: "9e4c6a2b-7f1d-4b3e-8a5c-4d6f8b0a2c3"}), Settings{})[0]
	if d.Revoke || d.Status != outcome.Failed || !strings.Contains(d.Reason, "object id is not a GUID") {
		t.Errorf("%+v", d)
	}
}
