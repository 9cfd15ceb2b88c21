package alert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The members a request may have are exactly its struct's JSON tags.
func TestDirectKeysAreTheStructsTags(t *testing.T) {
	tags := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out = append(out, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
		return out
	}
	if got := tags(directRequest{}); !reflect.DeepEqual(got, directKeys) {
		t.Errorf("directRequest tags %q, directKeys %q", got, directKeys)
	}
	if got := tags(directInputObject{}); !reflect.DeepEqual(got, inputObjectKeys) {
		t.Errorf("directInputObject tags %q, inputObjectKeys %q", got, inputObjectKeys)
	}
}

// A request is parsed strictly: a switch misread would revoke for real.
func TestDirectStrict(t *testing.T) {
	checkErrors(t, map[string]errorCase{
		"case-variant duplicate": {`{"userId":"sekret@contoso.com","dryRun":true,"DRYRUN":false}`, []string{`unknown field "DRYRUN"`, `did you mean "dryRun"`}},
		"approval in capitals":   {`{"userId":"sekret@contoso.com","APPROVED":true}`, []string{`unknown field "APPROVED"`, `"approved"`}},
		"exact duplicate":        {`{"userId":"sekret@contoso.com","dryRun":true,"dryRun":false}`, []string{`field "dryRun" is given twice`}},
		"escaped duplicate":      {`{"userId":"sekret@contoso.com","dryRun":true,"dry\u0052un":false}`, []string{`"dryRun" is given twice`}},
		"unknown field":          {`{"userId":"sekret@contoso.com","force":true}`, []string{`unknown field "force"`, "a request has userId, inputObject"}},
		"inputObject unknown":    {`{"inputObject":{"userId":"sekret@contoso.com","UserId":"x"}}`, []string{`"inputObject": unknown field "UserId"`, `did you mean "userId"`}},
		"inputObject duplicate":  {`{"inputObject":{"userId":"a@contoso.com","userId":"sekret@contoso.com"}}`, []string{`"inputObject": field "userId" is given twice`}},
		"approval not a bool":    {`{"userId":"sekret@contoso.com","approved":"true"}`, []string{`"approved"`, "wrong JSON type"}},
	})
	// Exact and single, a request still reads as before.
	expectAlerts(t, `{"userId":"AdeleV@contoso.onmicrosoft.com","dryRun":true,"approved":false,"reason":"r"}`,
		[]Alert{{Format: "direct", Title: "direct request", Reason: "r", DryRun: true, Principals: []Principal{{Account: "AdeleV@contoso.onmicrosoft.com"}}}})
}

// The direct format reads only what arrives bare or under the project's request
// detail-type: a product event with a top-level "userId" is not a request.
func TestDirectOnlyBareOrRequested(t *testing.T) {
	const body = `{"userId":"AdeleV@contoso.onmicrosoft.com"}`
	for _, c := range []struct {
		payload string
		direct  bool
	}{
		{body, true},
		{`{"id":"e","source":"contoso.soar","detail-type":"Session Revocation Requested","detail":` + body + `}`, true},
		{`{"id":"e","source":"com.contoso.helpdesk","detail-type":"Ticket Escalated","detail":` + body + `}`, false},
		{`{"id":"e","source":"contoso.security.graph-relay","detail-type":"Microsoft Graph Security Alert","detail":` + body + `}`, false},
	} {
		alerts, err := recogniseInline(t, c.payload)
		if c.direct && (err != nil || alerts[0].Format != "direct") {
			t.Errorf("%s: %+v %v, want a direct request", c.payload, alerts, err)
		}
		if !c.direct && !errors.Is(err, ErrUnrecognised) {
			t.Errorf("%s: %+v %v, want unrecognised", c.payload, alerts, err)
		}
	}
}

func FuzzRecognise_direct(f *testing.F) {
	f.Add([]byte(`{"userId":"a@contoso.com","dryRun":true,"DRYRUN":false}`))
	f.Add([]byte(`{"id":"e","source":"s","detail-type":"Session Revocation Requested","detail":{"users":["a@contoso.com"],"approved":true}}`))
	fuzzRecogniseEvents(f, "direct-user-id.json", "direct-input-object.json", "direct-users.json")
}

// A page of alerts with one item no format reads: the others' alerts come back with an
// *ItemErrors naming that item.
func TestListOneUnreadable(t *testing.T) {
	alerts, err := recogniseInline(t, string(readEventFixture(t, "graph-security-alerts-list-one-unreadable.json")))
	var items *ItemErrors
	if !errors.As(err, &items) || items.List != "value" || len(items.Items) != 1 || items.Items[0].Index != 1 || !errors.Is(err, ErrUnrecognised) {
		t.Fatalf("err = %v, want value[1] reported as unrecognised", err)
	}
	if len(alerts) != 2 || alerts[0].ID != "ad637551236021154387_1029877317" || alerts[1].ID != "da637551227677560813_-961444813" {
		t.Errorf("alerts %+v", alerts)
	}
	if msg := err.Error(); !strings.Contains(msg, `1 item(s) of "value" could not be read; "value"[1]: unrecognised payload`) || strings.Contains(msg, "LynneR") {
		t.Errorf("error %q: want the item named by position, no value echoed", msg)
	}
	// Every item unreadable: an error, no alerts.
	if alerts, err := recogniseInline(t, `{"value":[{"a":1},7]}`); alerts != nil || !errors.As(err, &items) || len(items.Items) != 2 {
		t.Errorf("%+v %v", alerts, err)
	}
}
