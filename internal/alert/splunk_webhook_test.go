package alert

import (
	"reflect"
	"testing"
)

func TestSplunkWebhookFixture(t *testing.T) {
	// An ES correlation search grouped by source: its user field is multivalue.
	want := []Alert{{
		Format: "splunk-webhook", ID: "scheduler__admin_U3BsdW5rRW50ZXJwcmlzZVNlY3VyaXR5U3VpdGU__RMD5e2c4a6f8b0d1e3f5_at_1795409400_4412",
		Title: "Access - Successful Sign-ins From One Anomalous Source - Rule", Severity: "high",
		Principals: []Principal{{Account: "AlexW@contoso.onmicrosoft.com"}, {Account: "LeeG@contoso.onmicrosoft.com"}},
	}}
	if got := recogniseFile(t, "splunk-webhook.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func splunkBody(result string) string {
	return `{"sid":"rt_1","search_name":"s","app":"search","owner":"admin","results_link":"https://splunk/x","result":` + result + `}`
}

func TestSplunkWebhookFields(t *testing.T) {
	cases := map[string]struct {
		result   string
		severity string
		want     []Principal
	}{
		"newline-separated multivalue": {
			`{"user":"AlexW@contoso.onmicrosoft.com\nLeeG@contoso.onmicrosoft.com\r\n\n"}`, "",
			[]Principal{{Account: "AlexW@contoso.onmicrosoft.com"}, {Account: "LeeG@contoso.onmicrosoft.com"}},
		},
		// CIM's src_user performed the action (here the help-desk account that reset
		// Diego's password): reported as the actor, which default policy leaves alone.
		"ES notable: user and src_user, urgency": {
			`{"user":"DiegoS@contoso.onmicrosoft.com","src_user":"CONTOSO\\svc-helpdesk","urgency":"high","dest_user":["PattiF@contoso.onmicrosoft.com"]}`, "high",
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com"}, {Account: `CONTOSO\svc-helpdesk`, Roles: []string{"actor"}}, {Account: "PattiF@contoso.onmicrosoft.com"}},
		},
		"severity before urgency": {`{"user":"x","severity":"medium","urgency":"critical"}`, "medium", []Principal{{Account: "x"}}},
		"UPN fields": {
			`{"userPrincipalName":"MeganB@contoso.onmicrosoft.com","user_principal_name":["AdeleV@contoso.onmicrosoft.com"]}`, "",
			[]Principal{{UserPrincipalName: "AdeleV@contoso.onmicrosoft.com"}, {UserPrincipalName: "MeganB@contoso.onmicrosoft.com"}},
		},
		"risk object of type user": {
			`{"risk_object":"LeeG@contoso.onmicrosoft.com","risk_object_type":"user","risk_score":"180"}`, "",
			[]Principal{{Account: "LeeG@contoso.onmicrosoft.com"}},
		},
		"risk object of type system":  {`{"risk_object":"ws-0142","risk_object_type":"system"}`, "", nil},
		"numeric user, nulls, blanks": {`{"user":[1001,null,"  ",""],"src_user":null}`, "", []Principal{{Account: "1001"}}},
		"no user fields":              {`{"src":"10.0.0.1","count":"3"}`, "", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, splunkBody(c.result))
			if err != nil {
				t.Fatal(err)
			}
			want := []Alert{{Format: splunkWebhook, ID: "rt_1", Title: "s", Severity: c.severity, Principals: c.want}}
			if !reflect.DeepEqual(alerts, want) {
				t.Errorf("got  %+v\nwant %+v", alerts, want)
			}
		})
	}
}

func TestSplunkWebhookErrors(t *testing.T) {
	cases := map[string]errorCase{
		"no result":          {`{"sid":"rt_1","search_name":"s"}`, []string{"splunk-webhook", `no "result" object`}},
		"result not object":  {`{"sid":"rt_1","search_name":"s","result":["sekret"]}`, []string{`no "result" object`}},
		"user is an object":  {splunkBody(`{"user":{"sekret":1}}`), []string{`"result.user"`, "JSON object", "expected a string"}},
		"user array of bool": {splunkBody(`{"src_user":["sekret",true]}`), []string{`"result.src_user"`, "JSON boolean", "expected strings"}},
	}
	checkErrors(t, cases)
}

func BenchmarkFormat_splunkWebhook(b *testing.B) {
	benchRecogniseEvent(b, "splunk-webhook.json")
}

func FuzzRecognise_splunkWebhook(f *testing.F) {
	fuzzRecogniseEvents(f, "splunk-webhook.json", "splunk-webhook-password-reset.json")
}

// An ES Change notable: Henrietta (help desk) reset Diego's password. Diego is the
// subject; Henrietta, CIM's src_user, performed the action and is the actor.
func TestSplunkWebhookPasswordReset(t *testing.T) {
	got := recogniseFile(t, "splunk-webhook-password-reset.json")
	want := []Principal{{Account: "DiegoS@contoso.onmicrosoft.com"}, {Account: "HenriettaM@contoso.onmicrosoft.com", Roles: []string{"actor"}}}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Principals, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
