package alert

import (
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
		"not expanded":       {head + `}`, []string{"graph-security-incident", `no "alerts"`, "$expand=alerts"}},
		"alerts null":        {head + `,"alerts":null}`, []string{`no "alerts"`}},
		"evidence bad type":  {head + `,"alerts":[{"id":"a","evidence":{"sekret":1}}]}`, []string{`"alerts"[0]`, `"evidence"`, "wrong JSON type"}},
		"user account wrong": {head + `,"alerts":[{"evidence":[{"userAccount":{"azureAdUserId":["sekret"]}}]}]}`, []string{`"alerts"[0]`, "azureAdUserId", "wrong JSON type"}},
	}
	checkErrors(t, cases)
}

func BenchmarkFormat_graphSecurityIncident(b *testing.B) {
	benchRecogniseEvent(b, "graph-security-incident.json")
}

func FuzzRecognise_graphSecurityIncident(f *testing.F) {
	fuzzRecogniseEvents(f, "graph-security-incident.json")
}
