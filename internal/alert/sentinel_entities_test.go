package alert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSentinelEntitiesFixture(t *testing.T) {
	want := []Alert{{
		Format: "sentinel-entities", ID: "4711", Title: "Suspicious inbox forwarding rule after sign-in from an anonymous IP", Severity: "High",
		Principals: []Principal{
			{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com", TenantID: contosoTenant, UserType: "Member"},
			{UserID: "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16", UserPrincipalName: "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com", TenantID: contosoTenant, UserType: "Guest"},
			// The mailbox is Megan's again: deduplicated later, by object id.
			{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com"},
		},
	}}
	if got := recogniseFile(t, "sentinel-entities.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestSentinelEntitiesShapes(t *testing.T) {
	const (
		megan   = `{"kind":"Account","properties":{"accountName":"MeganB","upnSuffix":"contoso.onmicrosoft.com","aadUserId":"7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37","aadTenantId":"` + contosoTenant + `","additionalData":{"UserType":"Member","IsEnabled":true}}}`
		onPrem  = `{"kind":"Account","properties":{"accountName":"adelev","ntDomain":"CONTOSO","sid":"S-1-5-21-1-2-3-1107","objectGuid":"b3e1f4a7-6c2d-4e9f-8a1b-5d7c0e2f9a36"}}`
		sidOnly = `{"kind":"Account","properties":{"sid":"S-1-5-21-1-2-3-1107"}}`
		host    = `{"kind":"Host","properties":{"hostName":"ws-1","additionalData":{"UserType":"n/a"}}}`
		mailbox = `{"kind":"Mailbox","properties":{"mailboxPrimaryAddress":"megan.bowen@contoso.com"}}`
	)
	meganP := Principal{UserID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com", TenantID: contosoTenant, UserType: "Member"}
	cases := map[string]struct {
		payload string
		want    Alert
	}{
		"one entity alone": {megan, Alert{Principals: []Principal{meganP}}},
		"one mailbox alone, in an envelope": {
			`{"id":"evt-7","source":"contoso.security.sentinel-relay","detail-type":"Microsoft Sentinel Entity","detail":` + mailbox + `}`,
			Alert{ID: "evt-7", Principals: []Principal{{Account: "megan.bowen@contoso.com"}}},
		},
		"List Entities response": {
			`{"entities":[` + host + `,` + onPrem + `,` + sidOnly + `],"metaData":[{"count":1,"entityKind":"Host"}]}`,
			Alert{Principals: []Principal{{Account: `CONTOSO\adelev`}, {Account: "S-1-5-21-1-2-3-1107"}}},
		},
		"incident scalars at the top level": {
			`{"incidentNumber":"4712","title":"t","severity":"Medium","entities":[` + megan + `]}`,
			Alert{ID: "4712", Title: "t", Severity: "Medium", Principals: []Principal{meganP}},
		},
		"Logic Apps incident trigger": {
			`{"eventUniqueId":"u-1","objectSchemaType":"Incident","objectEventType":"Create","workspaceId":"ws",` +
				`"object":{"id":"/subscriptions/s/incidents/i","name":"i","properties":{"title":"t","severity":"High","incidentNumber":4713,"relatedEntities":[` + host + `,` + megan + `]}}}`,
			Alert{ID: "4713", Title: "t", Severity: "High", Principals: []Principal{meganP}},
		},
		"Logic Apps trigger without entities": {
			`{"objectSchemaType":"Incident","object":{"properties":{"incidentNumber":4714,"title":"t"}}}`,
			Alert{ID: "4714", Title: "t"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.payload)
			if err != nil {
				t.Fatal(err)
			}
			c.want.Format = sentinelEntities
			if !reflect.DeepEqual(alerts, []Alert{c.want}) {
				t.Errorf("got  %+v\nwant %+v", alerts, []Alert{c.want})
			}
		})
	}
}

func TestSentinelEntitiesErrors(t *testing.T) {
	cases := map[string]errorCase{
		"entity of the wrong type": {`{"entities":[{"kind":"Account","properties":{"accountName":["sekret"]}}]}`, []string{"sentinel-entities", `"entities"`, "accountName", "wrong JSON type"}},
		"related entities not a list": {`{"objectSchemaType":"Incident","object":{"properties":{"relatedEntities":{"sekret":1}}}}`,
			[]string{"sentinel-entities", "relatedEntities", "wrong JSON type"}},
		"bare entity, bad properties": {`{"kind":"Account","properties":{"aadUserId":42}}`, []string{"sentinel-entities", "aadUserId", "wrong JSON type"}},
	}
	checkErrors(t, cases)
}

// Documents that only look like entities are left to other formats, or to the error.
func TestSentinelEntitiesDoesNotMatch(t *testing.T) {
	for _, payload := range []string{
		`{"entities":[{"type":"user","value":"x"}]}`,
		`{"entities":[]}`,
		`{"kind":"StorageV2","properties":{"accessTier":"Hot"}}`, // an ARM resource, no entity
		`{"kind":"Account","properties":"x"}`,
		`{"objectSchemaType":"Alert","object":{}}`,
	} {
		if _, err := recogniseInline(t, payload); !errors.Is(err, ErrUnrecognised) {
			t.Errorf("%s: err = %v, want unrecognised", payload, err)
		}
	}
}

func BenchmarkFormat_sentinelEntities(b *testing.B) {
	benchRecogniseEvent(b, "sentinel-entities.json")
}

func FuzzRecognise_sentinelEntities(f *testing.F) {
	fuzzRecogniseEvents(f, "sentinel-entities.json", "sentinel-entities-list.json")
}

// The workspace's Entities - List response: one list whose Host, Ip and File entities are
// simply not users; its Account is read.
func TestSentinelEntitiesList(t *testing.T) {
	want := []Alert{{Format: sentinelEntities, ID: "9c1e3a5b-7d9f-4b2d-8e0a-4c6e8a0b2d75", Principals: []Principal{
		{UserID: "f1b3d5e7-9a2c-4e6f-8b1d-3c5e7a9b1d64", UserPrincipalName: "GradyA@contoso.onmicrosoft.com", TenantID: contosoTenant, UserType: "Member"},
	}}}
	if got := recogniseFile(t, "sentinel-entities-list.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// A Host alone (the entity trigger) is recognised, and names nobody, saying so.
	alerts, err := recogniseInline(t, `{"kind":"Host","properties":{"hostName":"ws-1"}}`)
	if err != nil || len(alerts) != 1 || alerts[0].Principals != nil || !strings.Contains(alerts[0].NoUsers, `"Host" entity names no user`) {
		t.Errorf("lone host: %+v %v", alerts, err)
	}
}

func TestSentinelIncidentClosed(t *testing.T) {
	const megan = `{"kind":"Account","properties":{"accountName":"MeganB","upnSuffix":"contoso.onmicrosoft.com"}}`
	for _, c := range []struct{ props, closed string }{
		{`"status":"New"`, ""},
		{`"status":"Active","classification":null`, ""},
		{`"status":"Closed","classification":"FalsePositive","classificationReason":"InaccurateData"`, `the incident is closed (status Closed, classification "FalsePositive")`},
		{`"status":"closed"`, "the incident is closed (status Closed)"},
	} {
		for _, payload := range []string{
			`{"properties":{"incidentNumber":1,` + c.props + `},"entities":[` + megan + `]}`,
			`{"objectSchemaType":"Incident","object":{"properties":{"incidentNumber":1,` + c.props + `,"relatedEntities":[` + megan + `]}}}`,
		} {
			alerts, err := recogniseInline(t, payload)
			if err != nil {
				t.Fatal(err)
			}
			if got := alerts[0].Principals[0].Closed; got != c.closed {
				t.Errorf("%s: closed %q, want %q", payload, got, c.closed)
			}
		}
	}
}

func BenchmarkFormat_sentinelEntitiesList(b *testing.B) {
	benchRecogniseEvent(b, "sentinel-entities-list.json")
}
