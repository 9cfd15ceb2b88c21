package alert

import (
	"errors"
	"reflect"
	"testing"
)

// The vendor states that mean an alert needs no action, per format: each user it names
// carries the reason in Closed; an open alert leaves it empty.

func closedOf(t *testing.T, payload string) []string {
	t.Helper()
	alerts, err := recogniseInline(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	var closed []string
	for _, a := range alerts {
		for _, p := range a.Principals {
			closed = append(closed, p.Closed)
		}
	}
	return closed
}

func expectClosed(t *testing.T, name, payload string, want ...string) {
	t.Helper()
	if got := closedOf(t, payload); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: closed %q, want %q", name, got, want)
	}
}

func TestElasticWorkflowStatus(t *testing.T) {
	alert := func(status string) string {
		return `{"kibana.alert.uuid":"u","kibana.alert.rule.name":"r","kibana.alert.workflow_status":"` + status + `","user":{"name":"DiegoS@contoso.onmicrosoft.com"}}`
	}
	expectClosed(t, "open", alert("open"), "")
	expectClosed(t, "acknowledged", alert("acknowledged"), "")
	expectClosed(t, "closed", alert("closed"), "the alert is closed (kibana.alert.workflow_status closed)")
	expectClosed(t, "nested", `{"kibana":{"alert":{"uuid":"u","workflow_status":"closed"}},"user":{"name":"x@contoso.com"}}`,
		"the alert is closed (kibana.alert.workflow_status closed)")
}

// One alert of a webhook's list that cannot be read: the others are, and it is reported.
func TestElasticListOneUnreadable(t *testing.T) {
	alerts, err := recogniseInline(t, `{"alerts":[{"kibana.alert.uuid":"a0","user":{"name":{"sekret":1}}},{"kibana.alert.uuid":"a1","user":{"name":"DiegoS@contoso.onmicrosoft.com"}}]}`)
	var items *ItemErrors
	if !errors.As(err, &items) || items.List != "alerts" || len(items.Items) != 1 || items.Items[0].Index != 0 {
		t.Fatalf("err = %v", err)
	}
	if len(alerts) != 1 || alerts[0].ID != "a1" {
		t.Errorf("alerts %+v", alerts)
	}
}

func TestOCSFFindingStatus(t *testing.T) {
	finding := func(status string) string {
		return `{"class_uid":2004,"finding_info":{"uid":"f"}` + status + `,"evidences":[{"user":{"name":"AdeleV@contoso.onmicrosoft.com"}}]}`
	}
	expectClosed(t, "new", finding(`,"status_id":1,"status":"New"`), "")
	expectClosed(t, "in progress", finding(`,"status_id":2`), "")
	expectClosed(t, "other", finding(`,"status_id":99,"status":"Escalated"`), "")
	expectClosed(t, "suppressed", finding(`,"status_id":3,"status":"Suppressed"`), `the finding is closed: status "Suppressed" (status_id 3)`)
	expectClosed(t, "resolved by id", finding(`,"status_id":4`), `the finding is closed: status "Resolved" (status_id 4)`)
	// Security Hub's findings are the same OCSF objects.
	expectClosed(t, "security hub", `{"id":"e","source":"aws.securityhub","detail-type":"Findings Imported V2","detail":{"findings":[`+finding(`,"status_id":5`)+`]}}`,
		`the finding is closed: status "Archived" (status_id 5)`)
}

// An actor alone is the compromised account; beside a target it is the attacker.
func TestOCSFActorOnly(t *testing.T) {
	expectAlerts(t, `{"class_uid":2004,"finding_info":{"uid":"f"},"actor":{"user":{"name":"LeeG@contoso.onmicrosoft.com"}}}`,
		[]Alert{{Format: ocsfDetectionFinding, ID: "f", Principals: []Principal{{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"compromised"}}}}})
	expectAlerts(t, `{"class_uid":2004,"finding_info":{"uid":"f"},"actor":{"user":{"name":"LeeG@contoso.onmicrosoft.com"}},"evidences":[{"user":{"name":"AdeleV@contoso.onmicrosoft.com"}}]}`,
		[]Alert{{Format: ocsfDetectionFinding, ID: "f", Principals: []Principal{
			{Account: "AdeleV@contoso.onmicrosoft.com", Roles: []string{"attacked"}}, {Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"attacker"}}}}})
	// An empty target user names nobody, so it does not make the actor an attacker.
	expectAlerts(t, `{"class_uid":2004,"finding_info":{"uid":"f"},"evidences":[{"actor":{"user":{"name":"LeeG@contoso.onmicrosoft.com"}},"user":{}}]}`,
		[]Alert{{Format: ocsfDetectionFinding, ID: "f", Principals: []Principal{{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"compromised"}}}}})
}

func TestDatadogRecovered(t *testing.T) {
	want := []Alert{{Format: datadog, ID: "4c6e8a0c-2e4a-4c6e-9a0c-2e4a6c8e0a73", Title: "Entra ID sign-in from a TOR exit node", Severity: "normal",
		Principals: []Principal{{Account: "meganb@contoso.onmicrosoft.com", Closed: "the monitor recovered (transition Recovered): the all-clear for an earlier alert"}}}}
	if got := recogniseFile(t, "datadog-recovered.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	const tags = `,"tags":["usr.email:meganb@contoso.onmicrosoft.com"]`
	expectClosed(t, "triggered", `{"meta":{"transition":{"trans_name":"Triggered"},"states":{"dest_state":"Alert"}},"alert_type":"error","event_type":"e","priority":"normal"`+tags+`}`, "")
	expectClosed(t, "back to OK", `{"meta":{"states":{"dest_state":"OK"}},"alert_type":"success","event_type":"e","priority":"normal"`+tags+`}`,
		"the monitor is back to OK (dest_state OK): the all-clear for an earlier alert")
	expectClosed(t, "success alone", `{"meta":{},"alert_type":"success","event_type":"e","priority":"normal"`+tags+`}`,
		"the notification is a recovery (alert_type success): the all-clear for an earlier alert")
	expectClosed(t, "archived signal", `{"meta":{},"alert_type":"error","event_type":"e","priority":"normal","attributes":{"attributes":{"usr":{"email":"x@contoso.com"},"workflow":{"triage":{"state":"archived"}}}}}`,
		"the signal is archived (workflow.triage.state archived)")
}

func TestSumoInsightClosed(t *testing.T) {
	insight := func(status string) string {
		return `{"readableId":"INSIGHT-9","name":"n",` + status + `,"entity":{"entityType":"_username","value":"AdeleV@contoso.onmicrosoft.com"}}`
	}
	expectClosed(t, "new", insight(`"status":{"name":"new","displayName":"New"},"resolution":null`), "")
	expectClosed(t, "closed", insight(`"status":{"name":"closed","displayName":"Closed"},"resolution":"False Positive"`),
		`the insight is closed (status closed, resolution "False Positive")`)
	expectClosed(t, "closed, a plain status", insight(`"status":"closed"`), "the insight is closed (status closed)")
}

func TestChronicleNotAlerting(t *testing.T) {
	detection := func(state string) string {
		return `{"type":"RULE_DETECTION","id":"de_1","detection":[{"ruleName":"r","alertState":"` + state + `","detectionFields":[{"key":"user","value":"AdeleV@contoso.onmicrosoft.com"}]}]}`
	}
	expectClosed(t, "alerting", detection("ALERTING"), "")
	expectClosed(t, "not alerting", detection("NOT_ALERTING"), "the rule does not alert (alertState NOT_ALERTING): a detection its author chose not to act on")
}
