package alert

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// TestFixtures checks every fixture in events/ against what its vendor's schema says the
// alert carries.
func TestFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		{"graph-security-alert.json", []Alert{{
			Format: "graph-security-alert", ID: "ca637551227677560813_-1851913112", Title: "Impossible travel activity", Severity: "high",
			TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21",
			Principals: []Principal{{UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "AdeleV@contoso.onmicrosoft.com",
				TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21", Roles: []string{"compromised"}}},
		}}},
		{"graph-security-alerts-list.json", []Alert{
			{Format: "graph-security-alert", ID: "ad637551236021154387_1029877317", Title: "Anomalous Token", Severity: "high",
				TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21",
				Principals: []Principal{{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com",
					TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21", Roles: []string{}}}},
			{Format: "graph-security-alert", ID: "da637551227677560813_-961444813", Title: "Suspicious execution of hidden file", Severity: "medium",
				TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21",
				Principals: []Principal{
					{Account: `NT AUTHORITY\SYSTEM`, TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21", Roles: []string{}},
					{UserID: "7E1C9A5B-3F2D-4C8E-A6B0-9D4F2E8C1A37", UserPrincipalName: "meganb@contoso.onmicrosoft.com",
						TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21", Roles: []string{"compromised"}},
				}},
		}},
		{"entra-risk-detection.json", []Alert{{
			Format: "entra-risk-detection", ID: "6a2b7f5e3c1d4e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f", Title: "impossibleTravel", Severity: "high",
			Principals: []Principal{{UserID: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", UserPrincipalName: "AlexW@contoso.onmicrosoft.com", RiskState: "atRisk"}},
		}}},
		{"entra-risky-user.json", []Alert{{
			Format: "entra-risky-user", ID: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68@2026-11-23T05:10:44.2711223Z", Title: "risky user: atRisk", Severity: "high",
			Principals: []Principal{{UserID: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", UserPrincipalName: "LeeG@contoso.onmicrosoft.com", RiskState: "atRisk"}},
		}}},
		{"direct-user-id.json", []Alert{{
			Format: "direct", Title: "direct request", Reason: "SOAR playbook PB-0142: user reported MFA fatigue prompts they did not start",
			Principals: []Principal{{Account: "PattiF@contoso.onmicrosoft.com"}},
		}}},
		{"direct-input-object.json", []Alert{{
			Format: "direct", Title: "direct request", DryRun: true, Reason: "analyst preview before approving containment",
			Principals: []Principal{{Account: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"}},
		}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := recogniseFile(t, c.file)
			if !reflect.DeepEqual(got, c.alerts) {
				t.Errorf("got  %+v\nwant %+v", got, c.alerts)
			}
		})
	}
}

func TestAlertIDFallsBackToEnvelope(t *testing.T) {
	b, _ := delivery.Unwrap([]byte(`{"version":"0","id":"evt-1","detail-type":"Session Revocation Requested","source":"contoso.soar","detail":{"userId":"AdeleV@contoso.onmicrosoft.com"}}`))
	alerts, err := Recognise(b.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if alerts[0].ID != "evt-1" {
		t.Errorf("ID = %q, want the envelope id", alerts[0].ID)
	}
}

func TestUnrecognised(t *testing.T) {
	cases := map[string]struct {
		payload string
		want    []string // substrings of the error
		not     []string // never echoed
	}{
		"unknown keys": {`{"foo": "sekret-value", "bar": 1}`, []string{"top-level keys [foo, bar]", "direct"}, []string{"sekret-value"}},
		"in envelope":  {`{"id":"e","detail-type":"Thing","source":"x.y","detail":{"k":"v"}}`, []string{`source "x.y"`, "keys [k]"}, nil},
		"empty users":  {`{"users": []}`, []string{"names no user"}, nil},
		"bad type":     {`{"userId": 42}`, []string{`"userId"`, "wrong JSON type"}, nil},
		"inputObject":  {`{"inputObject": {}}`, []string{`"inputObject" has no "userId"`}, nil},
		"empty list":   {`{"value": []}`, []string{"empty"}, nil},
		"list of junk": {`{"value": [{"a": 1}]}`, []string{`"value"[0]`, "keys [a]"}, nil},
		"odata other":  {`{"@odata.type": "#microsoft.graph.user", "id": "x"}`, []string{"@odata.type"}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := delivery.Unwrap([]byte(c.payload))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Recognise(b.Records[0])
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q echoes %q", err, n)
				}
			}
		})
	}
	b, _ := delivery.Unwrap([]byte(`{"foo":1}`))
	_, err := Recognise(b.Records[0])
	if !errors.Is(err, ErrUnrecognised) {
		t.Errorf("err = %v, want ErrUnrecognised", err)
	}
}

func TestTopLevel(t *testing.T) {
	o := delivery.TopLevel([]byte(` { "a" : "x\"}" , "b":[1,{"c":"]"}], "\u0040odata.type":"#t", "n": -1.5e3, "z": null } `))
	if o.String("a") != `x"}` || string(o.Get("b")) != `[1,{"c":"]"}]` || o.String("@odata.type") != "#t" || string(o.Get("n")) != "-1.5e3" || string(o.Get("z")) != "null" {
		t.Errorf("topLevel = %q", o)
	}
	if o.Has("c") {
		t.Error("nested key seen at the top level")
	}
}

func BenchmarkRecognise(b *testing.B) {
	for _, file := range []string{"graph-security-alert.json", "entra-risk-detection.json", "entra-risky-user.json", "direct-user-id.json"} {
		payload, err := os.ReadFile(filepath.Join("..", "..", "events", file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(file, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				batch, err := delivery.Unwrap(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Recognise(batch.Records[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
