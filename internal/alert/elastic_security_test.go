package alert

import (
	"errors"
	"reflect"
	"testing"
)

func TestElasticSecurityFixture(t *testing.T) {
	// One rule, two alerts: Patti made Diego a Global Administrator; PIM made Lee one.
	// related.user repeats those users and adds nobody.
	want := []Alert{
		{Format: "elastic-security", ID: "4f1a8c3e6b9d2f5a7c0e3b6d9f2a5c8e1b4d7f0a3c6e9b2d5f8a1c4e7b0d3f6a",
			Title: "Entra ID Global Administrator Role Assigned", Severity: "high", TenantID: contosoTenant,
			Principals: []Principal{
				{UserID: "d8e3b6a1-4c7f-4d2e-9a8b-6e1f3c5d7a90", UserPrincipalName: "PattiF@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"attacker"}},
				{UserID: "5f0e7c2a-9b3d-4e1f-8a6c-2d4b7e9f1a53", UserPrincipalName: "DiegoS@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"attacked"}},
			}},
		{Format: "elastic-security", ID: "9c2e5a8d1f4b7e0a3d6c9f2b5e8a1d4c7f0b3e6a9d2c5f8b1e4a7d0c3f6b9e2a",
			Title: "Entra ID Global Administrator Role Assigned", Severity: "high", TenantID: contosoTenant,
			Principals: []Principal{
				{UserID: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", UserPrincipalName: "LeeG@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"attacked"}},
			}},
	}
	if got := recogniseFile(t, "elastic-security.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestElasticSecurityShapes(t *testing.T) {
	const alex = "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"
	alexP := Principal{UserID: alex, UserPrincipalName: "AlexW@contoso.onmicrosoft.com"}
	one := func(ps ...Principal) []Alert {
		return []Alert{{Format: elasticSecurity, ID: "u1", Title: "r", Severity: "low", Principals: ps}}
	}
	cases := map[string]struct {
		payload string
		want    []Alert
	}{
		"one alert, all dotted": {
			`{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","user.name":"AlexW@contoso.onmicrosoft.com","user.id":"` + alex + `"}`,
			one(alexP),
		},
		"one alert, all nested": {
			`{"kibana":{"alert":{"uuid":"u1","rule":{"name":"r"},"severity":"low"}},"user":{"name":"AlexW@contoso.onmicrosoft.com","id":"` + alex + `"}}`,
			one(alexP),
		},
		"partly dotted keys": {
			`{"kibana":{"alert.uuid":"u1","alert":{"rule.name":"r"},"alert.severity":"low"},"user":{"target.name":"DiegoS@contoso.onmicrosoft.com"},"user.name":"PattiF@contoso.onmicrosoft.com"}`,
			one(Principal{UserPrincipalName: "PattiF@contoso.onmicrosoft.com", Roles: []string{"attacker"}}, Principal{UserPrincipalName: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"attacked"}}),
		},
		"alerts list, _id when uuid is missing": {
			`{"alerts":[{"_id":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","user":{"name":"AlexW@contoso.onmicrosoft.com"}},` +
				`{"kibana.alert.uuid":"u2","kibana.alert.rule.name":"r","user":{"email":"megan.bowen@contoso.com"}}]}`,
			[]Alert{
				{Format: elasticSecurity, ID: "u1", Title: "r", Severity: "low", Principals: []Principal{{UserPrincipalName: "AlexW@contoso.onmicrosoft.com"}}},
				{Format: elasticSecurity, ID: "u2", Title: "r", Principals: []Principal{{Account: "megan.bowen@contoso.com"}}},
			},
		},
		"context.alerts as a dotted key": {
			`{"context.alerts":[{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","user.name":"AlexW@contoso.onmicrosoft.com"}]}`,
			one(Principal{UserPrincipalName: "AlexW@contoso.onmicrosoft.com"}),
		},
		"multivalue: one user per value": {
			`{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","user":{"name":["AlexW@contoso.onmicrosoft.com","LeeG@contoso.onmicrosoft.com"],"id":["` + alex + `"]}}`,
			one(Principal{UserPrincipalName: "AlexW@contoso.onmicrosoft.com"}, Principal{UserPrincipalName: "LeeG@contoso.onmicrosoft.com"}, Principal{UserID: alex}),
		},
		"Windows: DOMAIN\\name, SID, SYSTEM in related.user": {
			`{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","user":{"name":"adelev","domain":"CONTOSO","id":"S-1-5-21-1-2-3-1107"},"related":{"user":["adelev","SYSTEM"]}}`,
			one(Principal{Account: `CONTOSO\adelev`}, Principal{Account: "SYSTEM", Roles: []string{"contextual"}}),
		},
		"email before a bare login; a SID only when alone": {
			`{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","user":{"name":"adelev","email":"AdeleV@contoso.onmicrosoft.com","id":"S-1-5-21-1-2-3-1107","target":{"id":"S-1-5-21-1-2-3-1108"}}}`,
			one(Principal{Account: "AdeleV@contoso.onmicrosoft.com", Roles: []string{"attacker"}}, Principal{Account: "S-1-5-21-1-2-3-1108", Roles: []string{"attacked"}}),
		},
		"tenant from the Azure integration": {
			`{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low","azure":{"tenant_id":"` + contosoTenant + `"},"user.name":"AlexW@contoso.onmicrosoft.com"}`,
			[]Alert{{Format: elasticSecurity, ID: "u1", Title: "r", Severity: "low", TenantID: contosoTenant,
				Principals: []Principal{{UserPrincipalName: "AlexW@contoso.onmicrosoft.com", TenantID: contosoTenant}}}},
		},
		"list items that are no alert are skipped": {
			`{"alerts":[{"kibana.alert.uuid":"u1","kibana.alert.rule.name":"r","kibana.alert.severity":"low"},"x",[1]]}`,
			one(),
		},
		"first spelling wins": {
			`{"kibana.alert.uuid":"u1","kibana":{"alert":{"uuid":"u9","rule.name":"r","severity":"low"}}}`,
			one(),
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			expectAlerts(t, c.payload, c.want)
		})
	}
}

func TestElasticSecurityErrors(t *testing.T) {
	cases := map[string]errorCase{
		"user.name an object": {`{"kibana.alert.uuid":"u1","user":{"name":{"sekret":1}}}`, []string{"elastic-security", `"user.name"`, "JSON object"}},
		"related.user of numbers and objects": {`{"alerts":[{"kibana.alert.uuid":"u1"},{"kibana.alert.uuid":"u2","related.user":["sekret",{}]}]}`,
			[]string{`"alerts"[1]`, `"related.user"`, "JSON object"}},
	}
	checkErrors(t, cases)
}

// Lists of other things under "alerts" are not Elastic's.
func TestElasticSecurityDoesNotMatch(t *testing.T) {
	for _, payload := range []string{
		`{"alerts":[{"id":"x","title":"t"}]}`,
		`{"alerts":[]}`,
		`{"context":{"alerts":[{"kibana":{"space_ids":["default"]}}]}}`,
		`{"kibana.space_ids":["default"],"user.name":"x"}`,
	} {
		if _, err := recogniseInline(t, payload); !errors.Is(err, ErrUnrecognised) {
			t.Errorf("%s: err = %v, want unrecognised", payload, err)
		}
	}
}

func BenchmarkFormat_elasticSecurity(b *testing.B) {
	benchRecogniseEvent(b, "elastic-security.json")
}

func FuzzRecognise_elasticSecurity(f *testing.F) {
	fuzzRecogniseEvents(f, "elastic-security.json")
}
