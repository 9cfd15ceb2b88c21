package alert

import (
	"errors"
	"reflect"
	"strings"
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
	fuzzRecogniseEvents(f, "crowdstrike-identity.json", "crowdstrike-identity-incident.json")
}

// An identity incident (IdentityProtectionEvent) names its user by SAM account name.
func TestCrowdStrikeIdentityIncident(t *testing.T) {
	want := []Alert{{Format: crowdStrikeIdentity, ID: "INC-8f3b1c2d4e5f60718293a4b5c6d7e8f9-7d21", Title: "LATERAL_MOVEMENT", Severity: "HIGH",
		Principals: []Principal{{Account: "lynner"}}}}
	if got := recogniseFile(t, "crowdstrike-identity-incident.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	incident := func(event string) string {
		return `{"metadata":{"customerIDString":"c","offset":2,"eventType":"IdentityProtectionEvent","version":"1.0"},"event":` + event + `}`
	}
	for state, closed := range map[string]string{
		"NEW": "", "IN_PROGRESS": "", "": "", "RESOLVED": "the identity incident is resolved (State RESOLVED)", "Dismissed": "the identity incident is dismissed (State DISMISSED)",
	} {
		alerts, err := recogniseInline(t, incident(`{"IdentityProtectionIncidentId":"INC-1","IncidentType":"UNUSUAL_ENDPOINT_USE","Severity":1,"UserName":"CONTOSO\\lynner","State":"`+state+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if p := alerts[0].Principals[0]; p.Account != `CONTOSO\lynner` || p.Closed != closed {
			t.Errorf("State %q: %+v, want closed %q", state, p, closed)
		}
		if alerts[0].Severity != "1" {
			t.Errorf("numeric severity %q", alerts[0].Severity)
		}
	}
	// No user: an incident about a host names nobody.
	if alerts, err := recogniseInline(t, incident(`{"IdentityProtectionIncidentId":"INC-2","EndpointName":"WS-1"}`)); err != nil || alerts[0].Principals != nil {
		t.Errorf("%+v %v", alerts, err)
	}
	checkErrors(t, map[string]errorCase{"user of another type": {incident(`{"UserName":["sekret"]}`), []string{crowdStrikeIdentity, `"event"`, "UserName"}}})
}

// falconNotification is the body a Falcon Fusion workflow's webhook action posts for an
// endpoint detection, with the members public receivers read (meta.trigger_name,
// meta.trigger_category, data["detections.*"]); the values are this project's.
const falconNotification = `{"meta": {"trigger_category": "Detections", "trigger_name": "New endpoint detection"},
  "data": {"detections.user_name": "AlexW", "detections.hostname": "WS-ALEXW-01", "detections.action_taken": "Process blocked",
           "detections.command_line": "powershell.exe -nop -w hidden -enc SQBFAFgA", "detections.url": "https://falcon.crowdstrike.com/activity/detections/detail/0f1e2d3c"}}`

// TestFalconNotificationIsRefusedWithItsReason: pushed through the crowdstrike path or
// bare, a Fusion webhook body is read by no format (its data is the workflow's choice, and
// no sample shows it for identity detections): it fails, saying what it is and what to send
// instead, naming no value from it.
func TestFalconNotificationIsRefusedWithItsReason(t *testing.T) {
	pushed := `{"version": "0", "id": "5b0e7f4c-2a1d-4c3e-9f8b-7a6d5c4b3a21", "detail-type": "CrowdStrike Identity Detection", "source": "session-revoker.webhook",
		"account": "123456789012", "time": "2026-11-23T08:02:11Z", "region": "us-east-1", "resources": [], "detail": ` + falconNotification + `}`
	for name, payload := range map[string]string{
		"pushed": pushed,
		"bare":   falconNotification,
		"pushed, its meta without trigger fields": strings.Replace(pushed, `"trigger_category": "Detections", "trigger_name": "New endpoint detection"`, `"timestamp": 1795420931`, 1),
	} {
		_, err := recogniseInline(t, payload)
		if !errors.Is(err, ErrUnrecognised) {
			t.Fatalf("%s: err = %v, want ErrUnrecognised", name, err)
		}
		for _, want := range []string{"top-level keys [meta, data]", "Falcon Fusion webhook notification", "IdpDetectionSummaryEvent", "ALERT_MAPPINGS"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error does not say %q: %v", name, want, err)
			}
		}
		for _, value := range []string{"AlexW", "WS-ALEXW", "powershell", "New endpoint detection"} {
			if strings.Contains(err.Error(), value) {
				t.Errorf("%s: the error repeats %q from the body", name, value)
			}
		}
	}
	// Only such a body gets the hint: another document with a meta and a data.
	_, err := recogniseInline(t, `{"meta": {"page": 1}, "data": {"rows": []}}`)
	if !errors.Is(err, ErrUnrecognised) || strings.Contains(err.Error(), "Falcon") {
		t.Errorf("an unrelated document: %v", err)
	}

	// The way out the error names works: a rule for the crowdstrike path's events reads
	// what the workflow put in data.
	useMappings(t, `[{"name": "falcon-fusion", "match": {"source": "session-revoker.webhook", "detailType": "CrowdStrike Identity Detection"},
		"users": "data.\"detections.user_name\"", "title": "meta.trigger_name"}]`)
	alerts, err := recogniseInline(t, pushed)
	if err != nil || len(alerts) != 1 || alerts[0].Format != "custom:falcon-fusion" || !reflect.DeepEqual(alerts[0].Principals, []Principal{{Account: "AlexW"}}) {
		t.Errorf("the custom rule: %+v %v", alerts, err)
	}
}
