package alert

import (
	"reflect"
	"testing"
)

const contosoTenant = "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21"

func TestOCSFDetectionFindingFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// Entra ID Protection: GUID uids are object ids, '@' names are UPNs; the sprayed
		// accounts are the evidence targets.
		{"ocsf-detection-finding.json", []Alert{{
			Format: "ocsf-detection-finding", ID: "e7a3c9d1b5f24e6a8c0d2b4f6a8e1c3d5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c",
			Title: "Password spray", Severity: "High", TenantID: contosoTenant,
			Principals: []Principal{
				{UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"attacked"}},
				{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com", TenantID: contosoTenant, Roles: []string{"attacked"}},
			},
		}}},
		// The only user is the actor (the account the credential dump ran under): with no
		// target beside it, it is the compromised account. The SYSTEM account under the
		// evidence's process is not a user evidence.
		{"ocsf-detection-finding-actor-only.json", []Alert{{
			Format: "ocsf-detection-finding", ID: "ldt:4a8c2e6f0b1d3f5a7c9e2b4d6f8a0c1e:68719476991",
			Title: "Credential dumping: LSASS memory read with comsvcs.dll MiniDump", Severity: "Critical",
			Principals: []Principal{{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"compromised"}}},
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

func TestOCSFUserIdentifiers(t *testing.T) {
	const entra = `"metadata":{"tenant_uid":"` + contosoTenant + `","product":{"name":"Microsoft Entra ID","vendor_name":"Microsoft"}}`
	const okta = `"metadata":{"uid":"evt-9","product":{"name":"Okta","vendor_name":"Okta"}}`
	cases := map[string]struct {
		doc  string
		want []Principal
	}{
		"entra uid_alt object id, login name": {
			`{"class_uid":2004,` + entra + `,"evidences":[{"user":{"uid":"S-1-5-21-1-2-3-1108","uid_alt":"a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68","name":"leeg"}}]}`,
			[]Principal{{UserID: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", TenantID: contosoTenant, Roles: []string{"attacked"}}},
		},
		// A login before a SID: policy can complete a login with a configured UPN suffix.
		"entra without a guid or a upn falls back to Account": {
			`{"class_uid":2004,` + entra + `,"evidences":[{"user":{"name":"leeg","domain":"CONTOSO","uid":"S-1-5-21-1-2-3-1108"}},{"user":{"uid":"S-1-5-21-1-2-3-1109"}}]}`,
			[]Principal{{Account: `CONTOSO\leeg`, TenantID: contosoTenant, Roles: []string{"attacked"}}, {Account: "S-1-5-21-1-2-3-1109", TenantID: contosoTenant, Roles: []string{"attacked"}}},
		},
		// Not from Entra, a GUID may be an on-premises objectGUID: never claimed as an
		// object id, and an address-like value is preferred.
		"other product guid stays in Account": {
			`{"class_uid":2004,` + okta + `,"evidences":[{"user":{"uid":"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91","email_addr":"AdeleV@contoso.onmicrosoft.com"}},{"user":{"uid":"7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37"}}]}`,
			[]Principal{{Account: "AdeleV@contoso.onmicrosoft.com", Roles: []string{"attacked"}}, {Account: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", Roles: []string{"attacked"}}},
		},
		"a product named Entra by another vendor is not Entra": {
			`{"class_uid":2004,"metadata":{"product":{"name":"Entra connector","vendor_name":"Example"}},"user":{"uid":"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"}}`,
			[]Principal{{Account: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", Roles: []string{"attacked"}}},
		},
		"login with its domain, SYSTEM kept for policy": {
			`{"class_uid":2004,"evidences":[{"actor":{"user":{"name":"pattif","domain":"CONTOSO"}}},{"user":{"name":"SYSTEM","domain":"NT AUTHORITY"}}]}`,
			[]Principal{{Account: `CONTOSO\pattif`, Roles: []string{"attacker"}}, {Account: `NT AUTHORITY\SYSTEM`, Roles: []string{"attacked"}}},
		},
		"host profile actor and user at the top level": {
			`{"class_uid":2004,"actor":{"user":{"name":"DiegoS@contoso.onmicrosoft.com"}},"user":{"name":"PattiF@contoso.onmicrosoft.com"}}`,
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"attacker"}}, {Account: "PattiF@contoso.onmicrosoft.com", Roles: []string{"attacked"}}},
		},
		"user objects without identifiers are not users": {
			`{"class_uid":2004,"evidences":[{"user":{"type_id":1,"full_name":"Adele Vance"}},{"actor":{"process":{"pid":4}}},{"src_endpoint":{"ip":"10.0.0.1"}}],"user":null}`,
			nil,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := alerts[0].Principals; !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestOCSFDetectionFindingFields(t *testing.T) {
	// severity_id alone gives the caption; metadata.uid stands in for finding_info.uid.
	alerts, err := recogniseInline(t, `{"class_uid":2004,"severity_id":5,"metadata":{"uid":"m-1"},"finding_info":{"title":"t"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if a := alerts[0]; a.ID != "m-1" || a.Severity != "Critical" || a.Title != "t" || a.Format != "ocsf-detection-finding" {
		t.Errorf("got %+v", a)
	}
	// With no id at all, the envelope's event id names the alert.
	alerts, err = recogniseInline(t, `{"id":"evt-7","source":"contoso.security.ocsf-relay","detail-type":"OCSF Detection Finding","detail":{"class_uid":2004}}`)
	if err != nil || alerts[0].ID != "evt-7" {
		t.Errorf("got %+v, %v; want the envelope id", alerts, err)
	}
	// class_uid as a string is not OCSF.
	if _, err := recogniseInline(t, `{"class_uid":"2004","finding_info":{}}`); err == nil {
		t.Error(`"2004" as a string was recognised`)
	}
}

func TestOCSFDetectionFindingErrors(t *testing.T) {
	cases := map[string]errorCase{
		"evidences not a list": {`{"class_uid":2004,"evidences":{"user":{"name":"sekret-value"}}}`, []string{"ocsf-detection-finding", `"evidences"`, "wrong JSON type"}},
		"uid a number":         {`{"class_uid":2004,"user":{"uid":12345,"name":"sekret-value"}}`, []string{`"user"`, "uid", "string"}},
		"metadata a string":    {`{"class_uid":2004,"metadata":"sekret-value"}`, []string{`"metadata"`}},
	}
	checkErrors(t, cases)
}

func BenchmarkFormat_ocsfDetectionFinding(b *testing.B) {
	benchRecogniseEvent(b, "ocsf-detection-finding.json")
}

func FuzzRecognise_ocsfDetectionFinding(f *testing.F) {
	fuzzRecogniseEvents(f, "ocsf-detection-finding.json", "ocsf-detection-finding-actor-only.json")
}
