package policy

import (
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
		{"dedupe id and upn across principals and case", one(
			alert.Principal{UserPrincipalName: "AdeleV@contoso.com"},
			alert.Principal{UserID: adeleID, UserPrincipalName: "adelev@CONTOSO.com"},
			alert.Principal{UserID: strings.ToUpper(adeleID)},
		), Settings{}, []string{adeleID + " revoke"}},
		{"dedupe across alerts", append(one(alert.Principal{UserPrincipalName: "a@contoso.com"}), alert.Alert{Format: "x", ID: "2", Principals: []alert.Principal{{Account: "A@Contoso.com"}}}), Settings{},
			[]string{"a@contoso.com revoke"}},
		{"guest by upn", one(alert.Principal{UserPrincipalName: "p_fabrikam.com#EXT#@contoso.com"}), Settings{},
			[]string{"p_fabrikam.com#EXT#@contoso.com skipped"}},
		{"guest by userType", one(alert.Principal{UserID: adeleID, UserType: "Guest"}), Settings{},
			[]string{adeleID + " skipped"}},
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
			[]string{adeleID + " would-revoke", "SYSTEM skipped"}},
		{"dry run from the alert", []alert.Alert{{Format: "direct", DryRun: true, Principals: []alert.Principal{{Account: adeleID}}}}, Settings{},
			[]string{adeleID + " would-revoke"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := Decide(c.alerts, c.s)
			var got []string
			for _, d := range ds {
				key := d.Key()
				if key == "" {
					key = d.Identifier
				}
				if d.Revoke {
					got = append(got, key+" revoke")
				} else {
					got = append(got, key+" "+string(d.Status))
					if d.Reason == "" {
						t.Errorf("%s: %s without a reason", key, d.Status)
					}
				}
				if d.Revoke && d.Status != "" {
					t.Errorf("%s: Revoke with status %s", key, d.Status)
				}
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
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
