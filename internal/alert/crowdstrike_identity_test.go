package alert

import (
	"reflect"
	"testing"
)

func TestCrowdStrikeIdentityFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		{"crowdstrike-identity.json", []Alert{{
			Format: "crowdstrike-identity", ID: "ind:8f3b1c2d4e5f60718293a4b5c6d7e8f9:C4B2A1D0-7E3F-4A5B-9C8D-1E2F3A4B5C6D",
			Title: "Access From IP With Bad Reputation", Severity: "High",
			Principals: []Principal{{UserPrincipalName: "AlexW@contoso.onmicrosoft.com"}},
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

func TestCrowdStrikeIdentityAccounts(t *testing.T) {
	detection := func(event string) string {
		return `{"metadata":{"customerIDString":"c","offset":1,"eventType":"IdpDetectionSummaryEvent","eventCreationTime":1795420928000,"version":"1.0"},"event":` + event + `}`
	}
	cases := map[string]struct {
		event string
		want  []Principal
	}{
		"SAM name with its domain": {`{"DetectId":"d","SourceAccountName":"pattif","SourceAccountDomain":"CONTOSO","SourceAccountObjectSid":"S-1-5-21-1-2-3-1117"}`, []Principal{{Account: `CONTOSO\pattif`}}},
		"UPN-like name":            {`{"DetectId":"d","SourceAccountName":"PattiF@contoso.onmicrosoft.com","SourceAccountDomain":"CONTOSO"}`, []Principal{{Account: "PattiF@contoso.onmicrosoft.com"}}},
		"SID only":                 {`{"DetectId":"d","SourceAccountObjectSid":"S-1-5-21-1-2-3-1117"}`, []Principal{{Account: "S-1-5-21-1-2-3-1117"}}},
		"no account":               {`{"DetectId":"d","SourceEndpointHostName":"WS-01"}`, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, detection(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if got := alerts[0].Principals; !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
	// Bare, with a numeric severity only and the composite id.
	alerts, err := recogniseInline(t, detection(`{"CompositeId":"c:ind:x","DetectName":"Credential scanning","Severity":70,"SourceAccountUpn":"AlexW@contoso.onmicrosoft.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := alerts[0]; a.ID != "c:ind:x" || a.Severity != "70" || a.Title != "Credential scanning" {
		t.Errorf("got %+v", a)
	}
	// Endpoint detections share the envelope but are not identity detections.
	if _, err := recogniseInline(t, `{"metadata":{"eventType":"EppDetectionSummaryEvent","note":"IdpDetectionSummaryEvent"},"event":{"UserName":"x"}}`); err == nil {
		t.Error("an endpoint detection was recognised")
	}
	if _, err := recogniseInline(t, detection(`{"DetectId":"d","SourceAccountUpn":42}`)); err == nil {
		t.Error("a numeric UPN was accepted")
	}
}

func BenchmarkFormat_crowdstrikeIdentity(b *testing.B) {
	benchRecogniseEvent(b, "crowdstrike-identity.json")
}

func FuzzRecognise_crowdstrikeIdentity(f *testing.F) {
	fuzzRecogniseEvents(f, "crowdstrike-identity.json")
}
