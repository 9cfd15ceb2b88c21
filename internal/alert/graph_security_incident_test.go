package alert

import (
	"errors"
	"reflect"
	"testing"
)

func TestGraphSecurityIncidentFixture(t *testing.T) {
	// Three alerts: Megan's impossible travel, a PRT theft attempt naming Lee and SYSTEM,
	// and a device-only alert that names nobody.
	want := []Alert{{
		Format: "graph-security-incident", ID: "3470", Severity: "high", TenantID: contosoTenant,
		Title: "Multi-stage incident involving Initial access & Credential access on one endpoint reported by multiple sources",
		Principals: []Principal{
			{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}},
			{UserID: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", UserPrincipalName: "LeeG@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}},
			{Account: `NT AUTHORITY\SYSTEM`, TenantID: contosoTenant, Roles: []string{}},
		},
	}}
	if got := recogniseFile(t, "graph-security-incident.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestGraphSecurityIncidentInline(t *testing.T) {
	const head = `{"@odata.type":"#microsoft.graph.security.incident","id":"9","displayName":"d","severity":"low","tenantId":"` + contosoTenant + `"`
	user := func(upn, roles string) string {
		return `{"@odata.type":"#microsoft.graph.security.userEvidence","roles":` + roles + `,"userAccount":{"userPrincipalName":"` + upn + `"}}`
	}
	cases := map[string]struct {
		payload string
		want    []Alert
	}{
		// Inner alerts listed by $expand need not repeat their @odata.type or tenant.
		"alerts without type or tenant": {
			head + `,"alerts":[{"id":"a1","evidence":[` + user("AdeleV@contoso.onmicrosoft.com", `["compromised"]`) + `]},{"id":"a2","evidence":[]}]}`,
			[]Alert{{Format: graphSecurityIncident, ID: "9", Title: "d", Severity: "low", TenantID: contosoTenant,
				Principals: []Principal{{UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}}}}},
		},
		"an alert's own tenant wins": {
			head + `,"alerts":[{"id":"a1","tenantId":"other","evidence":[` + user("x@fabrikam.com", `[]`) + `]}]}`,
			[]Alert{{Format: graphSecurityIncident, ID: "9", Title: "d", Severity: "low", TenantID: contosoTenant,
				Principals: []Principal{{UserPrincipalName: "x@fabrikam.com", TenantID: "other", Roles: []string{}}}}},
		},
		"an item that is no alert names nobody": {
			head + `,"alerts":["x",{"id":"a1","evidence":[` + user("AdeleV@contoso.onmicrosoft.com", `["compromised"]`) + `]}]}`,
			[]Alert{{Format: graphSecurityIncident, ID: "9", Title: "d", Severity: "low", TenantID: contosoTenant,
				Principals: []Principal{{UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}}}}},
		},
		"a collection of incidents": {
			`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#security/incidents","value":[` + head + `,"alerts":[]}]}`,
			[]Alert{{Format: graphSecurityIncident, ID: "9", Title: "d", Severity: "low", TenantID: contosoTenant}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			expectAlerts(t, c.payload, c.want)
		})
	}
}

func TestGraphSecurityIncidentErrors(t *testing.T) {
	const head = `{"@odata.type":"#microsoft.graph.security.incident","id":"9"`
	cases := map[string]errorCase{
		"evidence bad type":  {head + `,"alerts":[{"id":"a","evidence":{"sekret":1}}]}`, []string{`"alerts"[0]`, `"evidence"`, "wrong JSON type"}},
		"user account wrong": {head + `,"alerts":[{"evidence":[{"userAccount":{"azureAdUserId":["sekret"]}}]}]}`, []string{`"alerts"[0]`, "azureAdUserId", "wrong JSON type"}},
	}
	checkErrors(t, cases)
}

func BenchmarkFormat_graphSecurityIncident(b *testing.B) {
	benchRecogniseEvent(b, "graph-security-incident.json")
}

func FuzzRecognise_graphSecurityIncident(f *testing.F) {
	fuzzRecogniseEvents(f, "graph-security-incident.json", "graph-incident-legacy.json")
}

// Microsoft's own Get incident sample, on the legacy type: only the assigned analyst and a
// commenter, no alerts. Recognised, naming nobody, with the reason; never the analyst.
func TestGraphLegacyIncident(t *testing.T) {
	got := recogniseFile(t, "graph-incident-legacy.json")
	want := []Alert{{Format: graphSecurityIncident, ID: "3511", Severity: "Medium", TenantID: contosoTenant,
		Title:   "Multi-stage incident involving Initial access & Command and control on multiple endpoints reported by multiple sources",
		NoUsers: incidentNoAlerts}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Without @odata.type, by its members; the v1.0 type without alerts likewise.
	for _, payload := range []string{
		`{"id":"3511","incidentWebUrl":"https://security.microsoft.com/incidents/3511","displayName":"d","status":"active","createdDateTime":"2026-11-23T11:43:35Z","assignedTo":"HenriettaM@contoso.onmicrosoft.com"}`,
		`{"@odata.type":"#microsoft.graph.security.incident","id":"3511","displayName":"d","alerts":null}`,
	} {
		alerts, err := recogniseInline(t, payload)
		if err != nil || len(alerts) != 1 || alerts[0].Format != graphSecurityIncident || alerts[0].Principals != nil || alerts[0].NoUsers != incidentNoAlerts {
			t.Errorf("%s: %+v %v", payload, alerts, err)
		}
	}
}

func TestGraphIncidentStates(t *testing.T) {
	const user = `{"@odata.type":"#microsoft.graph.security.userEvidence","roles":["compromised"],"userAccount":{"userPrincipalName":"AdeleV@contoso.onmicrosoft.com"}}`
	incident := func(status, classification, alertStatus string) string {
		return `{"@odata.type":"#microsoft.graph.security.incident","id":"9","status":"` + status + `","classification":"` + classification +
			`","alerts":[{"id":"a1","status":"` + alertStatus + `","evidence":[` + user + `]}]}`
	}
	for _, c := range []struct{ status, classification, alertStatus, closed string }{
		{"active", "unknown", "new", ""},
		{"awaitingAction", "truePositive", "inProgress", ""},
		{"resolved", "truePositive", "new", "the incident is resolved (status resolved)"},
		{"redirected", "unknown", "new", "the incident was merged into another incident (status redirected): that incident carries its users"},
		{"active", "falsePositive", "new", "the incident is classified falsePositive: no threat to respond to"},
		{"active", "unknown", "resolved", "the alert is resolved (status resolved)"},
		{"Resolved", "TruePositive", "new", "the incident is resolved (status resolved)"}, // the legacy resource's casing
	} {
		alerts, err := recogniseInline(t, incident(c.status, c.classification, c.alertStatus))
		if err != nil {
			t.Fatal(err)
		}
		if got := alerts[0].Principals[0].Closed; got != c.closed {
			t.Errorf("%+v: closed %q", c, got)
		}
	}
}

// One alert of an incident that cannot be read: the others' users are read, and the item
// is reported.
func TestGraphIncidentOneAlertUnreadable(t *testing.T) {
	const user = `{"@odata.type":"#microsoft.graph.security.userEvidence","roles":["compromised"],"userAccount":{"userPrincipalName":"AdeleV@contoso.onmicrosoft.com"}}`
	alerts, err := recogniseInline(t, `{"@odata.type":"#microsoft.graph.security.incident","id":"9","alerts":[{"id":"a0","evidence":{"sekret":1}},{"id":"a1","evidence":[`+user+`]}]}`)
	var items *ItemErrors
	if !errors.As(err, &items) || items.List != "alerts" || len(items.Items) != 1 || items.Items[0].Index != 0 {
		t.Fatalf("err = %v, want alerts[0] reported", err)
	}
	if len(alerts) != 1 || len(alerts[0].Principals) != 1 || alerts[0].Principals[0].UserPrincipalName != "AdeleV@contoso.onmicrosoft.com" {
		t.Errorf("alerts %+v", alerts)
	}
}
