package alert

import (
	"reflect"
	"testing"
)

func TestChronicleDetectionFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// A help-desk MFA reset by LeeG for AdeleV, then AdeleV's sign-in from TOR: the
		// rule's match variable and both target users are AdeleV; the admin is contextual.
		{"chronicle-detection.json", []Alert{{
			Format: "chronicle-detection", ID: "de_8b2f4d6a-1c3e-4a5b-9d7f-0e2a4c6b8d1f",
			Title: "entra_tor_sign_in_after_helpdesk_mfa_reset", Severity: "High",
			Principals: []Principal{
				{Account: "adelev@contoso.onmicrosoft.com"},
				{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"contextual"}},
				{Account: "AdeleV@contoso.onmicrosoft.com", Roles: []string{"attacked"}},
				{Account: "AdeleV@contoso.onmicrosoft.com", Roles: []string{"attacked"}},
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

func TestChronicleDetectionUDM(t *testing.T) {
	detection := func(det, events string) string {
		return `{"type":"RULE_DETECTION","id":"de_1","detection":[` + det + `],"collectionElements":[{"label":"e","references":[` + events + `]}]}`
	}
	cases := map[string]struct {
		doc      string
		severity string
		want     []Principal
	}{
		// Activity in a user's own context (no target user): the principal is the subject.
		"principal only, snake_case UDM": {
			detection(`{"ruleName":"mass_download","riskScore":85}`,
				`{"event":{"metadata":{"event_type":"FILE_READ"},"principal":{"user":{"userid":"meganb","email_addresses":["MeganB@contoso.onmicrosoft.com"]}},"target":{"file":{"full_path":"/sites/finance"}}}}`),
			"riskScore 85",
			[]Principal{{Account: "MeganB@contoso.onmicrosoft.com"}},
		},
		"no address: userid, then a GUID object id, then SID": {
			detection(`{"ruleName":"r","severity":"LOW"}`,
				`{"event":{"target":{"user":{"userid":"leeg","product_object_id":"a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68"}}}},`+
					`{"event":{"target":{"user":{"productObjectId":"a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68","windowsSid":"S-1-5-21-1-2-3-1117"}}}},`+
					`{"event":{"target":{"user":{"productObjectId":"00u8d3k2p9XyZ4aB1357","windows_sid":"S-1-5-21-1-2-3-1118"}}}},`+
					`{"event":{"target":{"user":{"product_object_id":"00u8d3k2p9XyZ4aB1357"}}}}`),
			"LOW",
			[]Principal{
				{Account: "leeg", Roles: []string{"attacked"}},
				{Account: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", Roles: []string{"attacked"}},
				{Account: "S-1-5-21-1-2-3-1118", Roles: []string{"attacked"}},
				{Account: "00u8d3k2p9XyZ4aB1357", Roles: []string{"attacked"}},
			},
		},
		"match variables that name users": {
			detection(`{"ruleName":"r","detectionFields":[{"key":"$userid","value":"AlexW@contoso.onmicrosoft.com"},{"key":"target.user.userid","value":"alexw"},{"key":"hostname","value":"ws-01"},{"key":"user","value":""}]}`, `{"entity":{}}`),
			"",
			[]Principal{{Account: "AlexW@contoso.onmicrosoft.com"}, {Account: "alexw"}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.doc)
			if err != nil {
				t.Fatal(err)
			}
			if alerts[0].Severity != c.severity {
				t.Errorf("severity %q, want %q", alerts[0].Severity, c.severity)
			}
			if got := alerts[0].Principals; !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
	// Curated detections share the shape.
	alerts, err := recogniseInline(t, `{"type":"GCTI_FINDING","id":"de_2","detection":[{"ruleName":"Azure AD: impossible travel"}]}`)
	if err != nil || alerts[0].Title != "Azure AD: impossible travel" {
		t.Errorf("got %+v, %v", alerts, err)
	}
	for _, doc := range []string{`{"type":"RULE_DETECTION","detection":{}}`, `{"type":"rule_detection","detection":[]}`} {
		if _, err := recogniseInline(t, doc); err == nil {
			t.Errorf("%s was recognised", doc)
		}
	}
	if _, err := recogniseInline(t, `{"type":"RULE_DETECTION","detection":[],"collectionElements":[{"references":[{"event":{"target":{"user":{"emailAddresses":"sekret"}}}}]}]}`); err == nil {
		t.Error("emailAddresses as a string was accepted")
	}
}

func BenchmarkFormat_chronicleDetection(b *testing.B) {
	benchRecogniseEvent(b, "chronicle-detection.json")
}

func FuzzRecognise_chronicleDetection(f *testing.F) {
	fuzzRecogniseEvents(f, "chronicle-detection.json")
}
