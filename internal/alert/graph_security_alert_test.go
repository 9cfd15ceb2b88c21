package alert

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGraphSecurityAlertFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// As Sumo Logic's Graph Security source stores it: no "@odata.type" on the alert.
		// Nestor's azureAdUserId is a GUID cut short: kept as the alert says, for policy
		// to refuse beside his valid UPN.
		{"graph-security-alert-no-odata-type.json", []Alert{{
			Format: "graph-security-alert", ID: "adf3a5c9bc83f5cfd39fd01df4845a64d36f0d4481", Title: "Atypical travel", Severity: "high", TenantID: contosoTenant,
			Principals: []Principal{
				{UserID: "3b9d1f7a-5c2e-4e8b-a4d6-1f3b5d7e9a20", UserPrincipalName: "JohannaL@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}},
				{UserID: "9e4c6a2b-7f1d-4b3e-8a5c-4d6f8b0a2c3", UserPrincipalName: "NestorW@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}},
			},
		}}},
		// Resolved as a false positive: Adele is named, closed.
		{"graph-security-alert-resolved.json", []Alert{{
			Format: "graph-security-alert", ID: "ca637551227677560813_-1851913112", Title: "Impossible travel activity", Severity: "high", TenantID: contosoTenant,
			Principals: []Principal{{UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", TenantID: contosoTenant,
				Roles: []string{"compromised"}, Closed: "the alert is resolved (status resolved)"}},
		}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			if got := recogniseFile(t, c.file); !reflect.DeepEqual(got, c.alerts) {
				t.Errorf("got  %+v\nwant %+v", got, c.alerts)
			}
		})
	}
}

func TestGraphSecurityAlertStates(t *testing.T) {
	alert := func(status, classification string) string {
		return `{"@odata.type":"#microsoft.graph.security.alert","id":"a","status":"` + status + `","classification":` + classification +
			`,"evidence":[{"@odata.type":"#microsoft.graph.security.userEvidence","roles":["compromised"],"userAccount":{"userPrincipalName":"AdeleV@contoso.onmicrosoft.com"}}]}`
	}
	for _, c := range []struct{ status, classification, closed string }{
		{"new", "null", ""},
		{"inProgress", `"truePositive"`, ""},
		{"new", `"unknown"`, ""},
		{"resolved", `"truePositive"`, "the alert is resolved (status resolved)"},
		{"new", `"falsePositive"`, "the alert is classified falsePositive: no threat to respond to"},
		{"inProgress", `"informationalExpectedActivity"`, "the alert is classified informationalExpectedActivity: no threat to respond to"},
	} {
		alerts, err := recogniseInline(t, alert(c.status, c.classification))
		if err != nil {
			t.Fatal(err)
		}
		if got := alerts[0].Principals[0].Closed; got != c.closed {
			t.Errorf("status %s, classification %s: closed %q, want %q", c.status, c.classification, got, c.closed)
		}
	}
}

// Recognised by shape only with every required member, and no other format's fixture
// looks like a Graph alert.
func TestGraphSecurityAlertShape(t *testing.T) {
	const full = `{"id":"a","status":"new","severity":"low","createdDateTime":"2026-01-01T00:00:00Z","serviceSource":"microsoftDefenderForEndpoint","evidence":[]}`
	if alerts, err := recogniseInline(t, full); err != nil || alerts[0].Format != "graph-security-alert" {
		t.Fatalf("%+v %v", alerts, err)
	}
	for _, drop := range []string{`"status":"new",`, `"severity":"low",`, `"createdDateTime":"2026-01-01T00:00:00Z",`, `"serviceSource":"microsoftDefenderForEndpoint",`, `"id":"a",`} {
		payload := strings.Replace(full, drop, "", 1)
		if _, err := recogniseInline(t, payload); !errors.Is(err, ErrUnrecognised) {
			t.Errorf("without %s: err = %v, want unrecognised", drop, err)
		}
	}
	// Another Graph type keeps its own format, or none.
	if _, err := recogniseInline(t, strings.Replace(full, `{`, `{"@odata.type":"#microsoft.graph.user",`, 1)); !errors.Is(err, ErrUnrecognised) {
		t.Errorf("a user object: err = %v", err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, file := range files {
		name := filepath.Base(file)
		alerts, _ := recogniseInline(t, string(readEventFixture(t, name)))
		for _, a := range alerts {
			if a.Format == "graph-security-alert" && !strings.HasPrefix(name, "graph-security-alert") {
				t.Errorf("%s read as a Graph security alert", name)
			}
		}
	}
}

func BenchmarkFormat_graphSecurityAlertNoODataType(b *testing.B) {
	benchRecogniseEvent(b, "graph-security-alert-no-odata-type.json")
}

func FuzzRecognise_graphSecurityAlert(f *testing.F) {
	fuzzRecogniseEvents(f, "graph-security-alert.json", "graph-security-alert-no-odata-type.json", "graph-security-alert-resolved.json",
		"graph-security-alerts-list.json", "graph-security-alerts-list-one-unreadable.json")
}
