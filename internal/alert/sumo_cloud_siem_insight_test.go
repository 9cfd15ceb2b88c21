package alert

import (
	"reflect"
	"testing"
)

func TestSumoCloudSIEMInsightFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// The insight is about a user; the API key it created is involved, contextual, and
		// reported for policy to refuse. The IP is not a user.
		{"sumo-cloud-siem-insight.json", []Alert{{
			Format: "sumo-cloud-siem-insight", ID: "INSIGHT-4821", Title: "Initial Access Followed by Persistence", Severity: "HIGH",
			Principals: []Principal{
				{Account: "shane.o'brien@contoso.onmicrosoft.com"},
				{Account: "key-7f1c3e5a-9b2d-4f6e-8a0c-1d3e5f7a9b2c (Sumo Logic API client)", Roles: []string{"contextual"}},
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

func TestSumoCloudSIEMInsightEntities(t *testing.T) {
	cases := map[string]struct {
		doc  string
		want []Principal
	}{
		// A password spray insight on the source IP: the accounts it reached are attacked.
		"ip insight": {
			`{"readableId":"INSIGHT-7","name":"Password Spray","severity":"MEDIUM","entity":{"entityType":"_ip","value":"45.134.26.11"},"involvedEntities":[{"entityType":"_ip","value":"45.134.26.11"},{"entityType":"_username","value":"adelev@contoso.onmicrosoft.com"},{"entityType":"_username","value":"CONTOSO\\meganb"}]}`,
			[]Principal{{Account: "adelev@contoso.onmicrosoft.com", Roles: []string{"attacked"}}, {Account: `CONTOSO\meganb`, Roles: []string{"attacked"}}},
		},
		"host insight without users": {`{"readableId":"INSIGHT-8","entity":{"entityType":"_hostname","value":"WS-01"},"involvedEntities":[]}`, nil},
		"service principal":          {`{"readableId":"INSIGHT-9","entity":{"entityType":"_username","value":"svc-backup"}}`, []Principal{{Account: "svc-backup"}}},
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
	for _, doc := range []string{`{"readableId":"SIGNAL-7","entity":{}}`, `{"readableId":7}`} {
		if _, err := recogniseInline(t, doc); err == nil {
			t.Errorf("%s was recognised", doc)
		}
	}
	if _, err := recogniseInline(t, `{"readableId":"INSIGHT-1","involvedEntities":{"value":"sekret"}}`); err == nil {
		t.Error("involvedEntities as an object was accepted")
	}
}

func BenchmarkFormat_sumoCloudSIEMInsight(b *testing.B) {
	benchRecogniseEvent(b, "sumo-cloud-siem-insight.json")
}

func FuzzRecognise_sumoCloudSIEMInsight(f *testing.F) {
	fuzzRecogniseEvents(f, "sumo-cloud-siem-insight.json")
}
