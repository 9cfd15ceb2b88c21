package alert

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

func TestSentinelSecurityAlertFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// Defender for Endpoint through Sentinel: Adele is defined inside the parent
		// process and referenced three times; SYSTEM runs another process. Her Sid and
		// ObjectGuid are on-premises and never reach UserID.
		{"sentinel-security-alert.json", []Alert{{
			Format: "sentinel-security-alert", ID: "0c8a4e2f-7b1d-4f6a-9e3c-5d2b8a1f7e40",
			Title: "Possible attempt to access Primary Refresh Token (PRT)", Severity: "High",
			Principals: []Principal{
				{UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "adelev@contoso.onmicrosoft.com", TenantID: contosoTenant},
				{Account: `nt authority\system`},
			},
		}}},
		{"sentinel-security-alert-system-only.json", []Alert{{
			Format: "sentinel-security-alert", ID: "5e2b9d7f-3a1c-4e8b-a6d0-7f1e3c5a9b28",
			Title: "Suspicious Task Scheduler activity", Severity: "Medium",
			Principals: []Principal{{Account: `nt authority\system`}, {Account: `NT AUTHORITY\local service`}, {Account: `CONTOSO\SRV-FS01$`}},
		}}},
		// The ids are ours; the tenant is not. Only the tenant check stands between this
		// alert and a revoke.
		{"sentinel-security-alert-other-tenant.json", []Alert{{
			Format: "sentinel-security-alert", ID: "c7a3e9f1-5b2d-4c8e-9a6f-1e3b5d7c9a02", Title: "Password spray", Severity: "Medium",
			Principals: []Principal{
				{UserID: "3c9e7a1f-5d2b-4f8e-a6c4-8b1d3f5e7a90", UserPrincipalName: "AlexW@fabrikam.onmicrosoft.com", TenantID: "9e3b7c2d-5a1f-4e8b-b6d0-3c7a1f9e5b42"},
				{UserID: "6e2a8c4f-1b7d-4e9a-b3c5-7d9f1a3e5b28", UserPrincipalName: "LeeG@fabrikam.onmicrosoft.com", TenantID: "9e3b7c2d-5a1f-4e8b-b6d0-3c7a1f9e5b42"},
			},
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

// sentinelRow is a SecurityAlert row whose Entities column holds entities, serialised into
// a string as Log Analytics stores it.
func sentinelRow(entities string) string {
	s, _ := json.Marshal(entities)
	return `{"SystemAlertId": "a-1", "AlertName": "n", "AlertSeverity": "Low", "TenantId": "ws", "Entities": ` + string(s) + `}`
}

func TestSentinelSecurityAlertEntities(t *testing.T) {
	const adeleID = "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"
	cases := map[string]struct {
		payload string
		want    []Principal
	}{
		"ref to an earlier entity counts once": {
			sentinelRow(`[{"$id":"2","Name":"AdeleV","UPNSuffix":"contoso.onmicrosoft.com","AadUserId":"` + adeleID + `","Type":"account"},{"$ref":"2"},{"$id":"3","Account":{"$ref":"2"},"Type":"process"}]`),
			[]Principal{{UserID: adeleID, UserPrincipalName: "AdeleV@contoso.onmicrosoft.com"}},
		},
		"entity defined inside another, referenced at the top": {
			sentinelRow(`[{"$id":"2","ProcessId":"1","Account":{"$id":"3","Name":"MeganB","UPNSuffix":"contoso.onmicrosoft.com","Type":"account"},"Type":"process"},{"$ref":"3"}]`),
			[]Principal{{UserPrincipalName: "MeganB@contoso.onmicrosoft.com"}},
		},
		"on-premises account: DOMAIN\\name, no ObjectGuid": {
			sentinelRow(`[{"$id":"2","Name":"adelev","NTDomain":"CONTOSO","Sid":"S-1-5-21-1-2-3-1107","ObjectGuid":"b3e1f4a7-6c2d-4e9f-8a1b-5d7c0e2f9a36","Type":"account"}]`),
			[]Principal{{Account: `CONTOSO\adelev`}},
		},
		"object id without a UPN suffix keeps the login beside it": {
			sentinelRow(`[{"Name":"adelev","AadUserId":"` + adeleID + `","AadTenantId":"` + contosoTenant + `","Type":"account"}]`),
			[]Principal{{UserID: adeleID, Account: "adelev", TenantID: contosoTenant}},
		},
		"only a Sid": {
			sentinelRow(`[{"Sid":"S-1-5-21-1-2-3-1107","ObjectGuid":"b3e1f4a7-6c2d-4e9f-8a1b-5d7c0e2f9a36","Type":"account"}]`),
			[]Principal{{Account: "S-1-5-21-1-2-3-1107"}},
		},
		"only an ObjectGuid: reported, never as an object id": {
			sentinelRow(`[{"ObjectGuid":"b3e1f4a7-6c2d-4e9f-8a1b-5d7c0e2f9a36","Type":"account"}]`),
			[]Principal{{}},
		},
		"mailbox": {
			sentinelRow(`[{"$id":"2","MailboxPrimaryAddress":"adele.vance@contoso.com","Upn":"AdeleV@contoso.onmicrosoft.com","AadId":"` + adeleID + `","Type":"mailbox"},` +
				`{"$id":"3","MailboxPrimaryAddress":"megan.bowen@contoso.com","Type":"mailbox"},` +
				`{"$id":"4","MailboxPrimaryAddress":"x@contoso.com","ExternalDirectoryObjectId":"7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37","Type":"mailbox"}]`),
			[]Principal{
				{UserID: adeleID, UserPrincipalName: "AdeleV@contoso.onmicrosoft.com"},
				{Account: "megan.bowen@contoso.com"},
				{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37"},
			},
		},
		"entities already decoded by the relay": {
			`{"SystemAlertId": "a-1", "AlertName": "n", "Entities": [{"Name":"LeeG","UPNSuffix":"contoso.onmicrosoft.com","Type":"Account"}]}`,
			[]Principal{{UserPrincipalName: "LeeG@contoso.onmicrosoft.com"}},
		},
		"hosts and ips only": {sentinelRow(`[{"$id":"2","HostName":"ws-1","Type":"host"},{"$id":"3","Address":"10.0.0.1","Type":"ip"}]`), nil},
		"empty string":       {sentinelRow(""), nil},
		"no Entities":        {`{"SystemAlertId": "a-1", "AlertName": "n"}`, nil},
		"null Entities":      {`{"SystemAlertId": "a-1", "AlertName": "n", "Entities": null}`, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(alerts) != 1 || alerts[0].Format != sentinelSecurityAlert || alerts[0].ID != "a-1" {
				t.Fatalf("alerts = %+v", alerts)
			}
			if !reflect.DeepEqual(alerts[0].Principals, c.want) {
				t.Errorf("got  %+v\nwant %+v", alerts[0].Principals, c.want)
			}
		})
	}
}

func TestSentinelSecurityAlertMalformedEntities(t *testing.T) {
	cases := map[string]struct {
		payload string
		want    string
	}{
		"truncated":    {sentinelRow(`[{"$id":"2","Name":"sekret-user","UPNSuffix":"contoso.onmicrosoft.com","Type":"acc`), "invalid JSON at byte"},
		"not JSON":     {sentinelRow(`sekret-user@contoso.onmicrosoft.com`), "invalid JSON at byte"},
		"an object":    {sentinelRow(`{"Name":"sekret-user","Type":"account"}`), "a JSON object"},
		"a number":     {`{"SystemAlertId": "a-1", "AlertName": "n", "Entities": 42}`, "a JSON number"},
		"wrong inside": {sentinelRow(`[1, "sekret-user"]`), ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.payload)
			if c.want == "" {
				// Not entities, but valid JSON: nothing to read, nothing to fail on.
				if err != nil || len(alerts) != 1 || alerts[0].Principals != nil {
					t.Fatalf("alerts = %+v, err = %v", alerts, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; alerts = %+v", alerts)
			}
			for _, w := range []string{"sentinel-security-alert", `"Entities"`, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "sekret") {
				t.Errorf("error %q echoes the payload", err)
			}
		})
	}
}

func BenchmarkFormat_sentinelSecurityAlert(b *testing.B) {
	benchRecogniseEvent(b, "sentinel-security-alert.json")
}

func FuzzRecognise_sentinelSecurityAlert(f *testing.F) {
	fuzzRecogniseEvents(f, "sentinel-security-alert.json", "sentinel-security-alert-system-only.json", "sentinel-security-alert-other-tenant.json")
}

func TestSentinelSecurityAlertClosed(t *testing.T) {
	const entities = `[{"$id":"2","Name":"AdeleV","UPNSuffix":"contoso.onmicrosoft.com","Type":"account"}]`
	s, _ := json.Marshal(entities)
	for status, closed := range map[string]string{
		"New": "", "InProgress": "", "Resolved": "the alert is resolved (Status Resolved)", "dismissed": "the alert is dismissed (Status Dismissed)",
	} {
		alerts, err := recogniseInline(t, `{"SystemAlertId":"a-1","AlertName":"n","Status":"`+status+`","Entities":`+string(s)+`}`)
		if err != nil {
			t.Fatal(err)
		}
		if got := alerts[0].Principals[0].Closed; got != closed {
			t.Errorf("Status %s: closed %q, want %q", status, got, closed)
		}
	}
}

// bigSentinelRow is a SecurityAlert row just under delivery.MaxPayload whose Entities
// column defines thousands of accounts once, each with a "$id", and references them tens
// of thousands of times, at the top level and inside processes.
func bigSentinelRow() (payload []byte, accounts int) {
	var list strings.Builder
	list.WriteByte('[')
	id := 1
	for {
		if list.Len() > delivery.MaxPayload*3/4 {
			break
		}
		if id > 1 {
			list.WriteByte(',')
		}
		fmt.Fprintf(&list, `{"$id":"%d","Name":"user%d","UPNSuffix":"contoso.onmicrosoft.com","Type":"account"}`, id, id)
		account := id
		accounts++
		id++
		for r := 0; r < 6; r++ {
			fmt.Fprintf(&list, `,{"$ref":"%d"}`, 1+(account*7+r)%account)
		}
		fmt.Fprintf(&list, `,{"$id":"%d","ProcessId":"%d","Account":{"$ref":"%d"},"Type":"process"}`, id, id, account)
		id++
	}
	list.WriteByte(']')
	col, _ := json.Marshal(list.String())
	return []byte(`{"SystemAlertId":"big-1","AlertName":"n","AlertSeverity":"High","Status":"New","Entities":` + string(col) + `}`), accounts
}

// Every account of the big row is read exactly once, however often it is referenced.
func TestSentinelSecurityAlertManyReferences(t *testing.T) {
	payload, accounts := bigSentinelRow()
	if len(payload) > delivery.MaxPayload {
		t.Fatalf("payload %d bytes, over the limit", len(payload))
	}
	alerts, err := recogniseInline(t, string(payload))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(alerts[0].Principals); got != accounts || accounts < 3000 {
		t.Errorf("%d principals, want %d (one per account defined)", got, accounts)
	}
}

// BenchmarkSentinelManyReferences: a ~1 MiB row of thousands of "$id"s and tens of
// thousands of "$ref"s, read in linear time (target: under 50 ms).
func BenchmarkSentinelManyReferences(b *testing.B) {
	payload, _ := bigSentinelRow()
	b.SetBytes(int64(len(payload)))
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
}
