package alert

import (
	"reflect"
	"testing"
)

func TestDatadogFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// A log monitor grouped by @usr.email: the user is the group's tag. The alert has
		// no id of its own, so the envelope's event id names it; the unrendered
		// {{@usr.email}} in the message is not read.
		{"datadog.json", []Alert{{
			Format: "datadog", ID: "3b9e6c1d-7a4f-4e2b-9c8d-1f0a5e7b3c62",
			Title: "Entra ID sign-in from a TOR exit node", Severity: "normal",
			Principals: []Principal{{Account: "meganb@contoso.onmicrosoft.com"}},
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

func TestDatadogUsers(t *testing.T) {
	notification := func(detail string) string {
		return `{"id":"e-1","source":"aws.partner/datadog.com/datadog-us1/7f3a9c2e-session-revoker","detail-type":"Datadog Alert Notification","detail":` + detail + `}`
	}
	cases := map[string]struct {
		detail string
		want   []Principal
	}{
		"usr_email tag": {`{"tags":["monitor","usr_email:alexw@contoso.onmicrosoft.com"]}`, []Principal{{Account: "alexw@contoso.onmicrosoft.com"}}},
		"@usr.email tag wins over the id": {
			`{"tags":["@usr.id:b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24","@usr.email:alexw@contoso.onmicrosoft.com"]}`,
			[]Principal{{Account: "alexw@contoso.onmicrosoft.com"}},
		},
		"usr_id tag only":   {`{"tags":["usr_id:b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"]}`, []Principal{{Account: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"}}},
		"address-like name": {`{"tags":["usr.id:1234","usr.name:pattif@contoso.onmicrosoft.com"]}`, []Principal{{Account: "pattif@contoso.onmicrosoft.com"}}},
		// Datadog turns a tag's '@' into '_': reported as it is, policy refuses it.
		"normalised email tag": {`{"tags":["usr.email:meganb_contoso.onmicrosoft.com"]}`, []Principal{{Account: "meganb_contoso.onmicrosoft.com"}}},
		"no user":              {`{"tags":["monitor","env:prod","usr.email:"],"meta":{"monitor":{"name":"CPU"}}}`, nil},
		// Unverified signal shapes: attributes nested, flattened, or nested once more as
		// in the signals API.
		"signal, nested usr": {
			`{"title":"Impossible travel","attributes":{"usr":{"id":"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91","email":"AdeleV@contoso.onmicrosoft.com","name":"Adele Vance"},"network":{"client":{"ip":"102.89.34.17"}}}}`,
			[]Principal{{Account: "AdeleV@contoso.onmicrosoft.com"}},
		},
		"signal, flattened ocsf": {
			`{"attributes":{"ocsf.user.email_addr":"LeeG@contoso.onmicrosoft.com","usr.id":42}}`,
			[]Principal{{Account: "LeeG@contoso.onmicrosoft.com"}},
		},
		"signal, API nesting": {
			`{"attributes":{"attributes":{"ocsf":{"user":{"email_addr":"DiegoS@contoso.onmicrosoft.com"}}},"tags":["source:okta"]}}`,
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com"}},
		},
		"signal, numeric id":                 {`{"attributes":{"usr":{"id":90210}}}`, []Principal{{Account: "90210"}}},
		"signal of another shape is ignored": {`{"attributes":{"usr":"sekret","ocsf":[1]}}`, nil},
		"tag and signal both": {
			`{"tags":["usr.email:adelev@contoso.onmicrosoft.com"],"attributes":{"usr":{"email":"AdeleV@contoso.onmicrosoft.com"}}}`,
			[]Principal{{Account: "adelev@contoso.onmicrosoft.com"}, {Account: "AdeleV@contoso.onmicrosoft.com"}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, notification(c.detail))
			if err != nil {
				t.Fatal(err)
			}
			if got := alerts[0].Principals; !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestDatadogFields(t *testing.T) {
	// A 64-bit alert id keeps every digit; title falls back to the notification's own.
	alerts, err := recogniseInline(t, `{"id":"e","source":"aws.partner/datadog.com/b","detail-type":"Datadog Alert Notification","detail":{"alert_id":7281010972796602670,"id":"9","title":"[Triggered] x","priority":"P1"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if a := alerts[0]; a.ID != "7281010972796602670" || a.Title != "[Triggered] x" || a.Severity != "P1" {
		t.Errorf("got %+v", a)
	}
	// The bare detail, as an input transformer passes it.
	alerts, err = recogniseInline(t, `{"alert_type":"error","event_type":"query_alert_monitor","priority":"normal","meta":{"monitor":{"name":"m"}},"tags":["usr.email:alexw@contoso.onmicrosoft.com"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if a := alerts[0]; a.Format != "datadog" || a.Title != "m" || len(a.Principals) != 1 {
		t.Errorf("got %+v", a)
	}
	// tags of the wrong type is an error that names the field.
	if _, err := recogniseInline(t, `{"id":"e","source":"aws.partner/datadog.com/b","detail-type":"Datadog Alert Notification","detail":{"tags":"usr.email:sekret"}}`); err == nil {
		t.Error("tags as a string was accepted")
	}
}

func BenchmarkFormat_datadog(b *testing.B) {
	benchRecogniseEvent(b, "datadog.json")
}

func FuzzRecognise_datadog(f *testing.F) {
	fuzzRecogniseEvents(f, "datadog.json", "datadog-recovered.json")
}
