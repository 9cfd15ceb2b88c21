package alert

import (
	"reflect"
	"testing"
)

func TestOCSFAuthenticationFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// Okta's mapping names the signed-in user as both subject and actor: the subject is
		// compromised (the logon succeeded), the actor contextual; policy merges the two.
		{"ocsf-authentication.json", []Alert{{
			Format: "ocsf-authentication", ID: "8f4e2a1c-6b3d-11f1-9c7e-2d5b8a0f4e61",
			Title: "Authentication: Logon (Success)", Severity: "Medium",
			Principals: []Principal{
				{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"compromised"}},
				{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"contextual"}},
			},
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

func TestOCSFAuthenticationRoles(t *testing.T) {
	cases := map[string]struct {
		doc   string
		title string
		want  []Principal
	}{
		"failed logon: attacked; a different requester is contextual": {
			`{"class_uid":3002,"activity_id":1,"status_id":2,"user":{"name":"AlexW@contoso.onmicrosoft.com"},"actor":{"user":{"name":"svc-adfs","domain":"CONTOSO"}}}`,
			"Authentication: Logon (Failure)",
			[]Principal{{Account: "AlexW@contoso.onmicrosoft.com", Roles: []string{"attacked"}}, {Account: `CONTOSO\svc-adfs`, Roles: []string{"contextual"}}},
		},
		"unknown status: attacked": {
			`{"class_uid":3002,"activity_id":3,"user":{"uid":"S-1-5-21-1-2-3-1112"}}`,
			"Authentication: Authentication Ticket",
			[]Principal{{Account: "S-1-5-21-1-2-3-1112", Roles: []string{"attacked"}}},
		},
		"from Entra: object id and UPN, tenant": {
			`{"class_uid":3002,"activity_name":"Logon","status":"Success","status_id":1,"metadata":{"tenant_uid":"` + contosoTenant + `","product":{"name":"Azure AD","vendor_name":"Microsoft"}},"user":{"uid":"b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24","name":"AlexW@contoso.onmicrosoft.com"}}`,
			"Authentication: Logon (Success)",
			[]Principal{{UserID: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", UserPrincipalName: "AlexW@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"compromised"}}},
		},
		"no user": {`{"class_uid":3002,"activity_id":99}`, "Authentication: Other", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.doc)
			if err != nil {
				t.Fatal(err)
			}
			a := alerts[0]
			if a.Format != "ocsf-authentication" || a.Title != c.title {
				t.Errorf("format %q title %q, want %q", a.Format, a.Title, c.title)
			}
			if !reflect.DeepEqual(a.Principals, c.want) {
				t.Errorf("got  %+v\nwant %+v", a.Principals, c.want)
			}
		})
	}
}

func BenchmarkFormat_ocsfAuthentication(b *testing.B) {
	benchRecogniseEvent(b, "ocsf-authentication.json")
}

func FuzzRecognise_ocsfAuthentication(f *testing.F) {
	fuzzRecogniseEvents(f, "ocsf-authentication.json")
}
