package alert

import (
	"reflect"
	"testing"
)

func TestOktaSystemLogFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// An admin reset all of a user's factors from Lagos: the user is the victim, the
		// admin contextual. Okta ids (00u...) are never claimed as object ids.
		{"okta-system-log.json", []Alert{{
			Format: "okta-system-log", ID: "5b1e9c7a-d2f4-11f1-8a3b-6f0e2c4d8b19",
			Title: "user.mfa.factor.reset_all: Reset all factors for user", Severity: "INFO",
			Principals: []Principal{
				{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"attacked"}},
				{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"contextual"}},
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

func TestOktaSystemLogRoles(t *testing.T) {
	const (
		lee   = `{"id":"00u4h2k8r1AbCdEf5678","type":"User","alternateId":"LeeG@contoso.onmicrosoft.com","displayName":"Lee Gu"}`
		diego = `{"id":"00u9k3m5n7PqRsTu2468","type":"User","alternateId":"DiegoS@contoso.onmicrosoft.com","displayName":"Diego Siciliani"}`
		app   = `{"id":"0oa1b2c3d4E5F6g7h8i9","type":"AppInstance","alternateId":"Microsoft Office 365","displayName":"Microsoft Office 365"}`
	)
	event := func(eventType, actor, targets, result string) string {
		return `{"id":"e-1","source":"aws.partner/okta.com/contoso-1234/okta-logs","detail-type":"SystemLog","detail":` +
			`{"uuid":"u-1","published":"2026-11-23T07:00:00Z","eventType":"` + eventType + `","displayMessage":"m","severity":"WARN",` +
			`"actor":` + actor + `,"target":` + targets + `,"outcome":{"result":"` + result + `"}}}`
	}
	cases := map[string]struct {
		payload string
		want    []Principal
	}{
		// Okta Support (or an admin) impersonates the target: the impersonated user is the
		// victim, the impersonator contextual.
		"impersonation initiated": {
			event("user.session.impersonation.initiate", lee, `[`+diego+`]`, "SUCCESS"),
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"attacked"}}, {Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"contextual"}}},
		},
		// An admin granting impersonation of their own account: named as both, and policy's
		// merge makes them a target.
		"impersonation granted on oneself": {
			event("user.session.impersonation.grant", lee, `[`+lee+`]`, "SUCCESS"),
			[]Principal{{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"attacked"}}, {Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"contextual"}}},
		},
		// ThreatInsight blocked a request for a known user: the actor is the subject, and a
		// denied request makes them attacked rather than compromised.
		"threat detected, denied": {
			event("security.threat.detected", diego, `[]`, "DENY"),
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"attacked"}}},
		},
		"threat detected, no user known": {
			event("security.threat.detected", `{"id":"unknown","type":"User","alternateId":"unknown","displayName":"Unknown"}`, `null`, "DENY"),
			nil,
		},
		// A sign-in with only an app as target: the actor is the subject, with no role.
		"sign-in to an app": {
			event("user.authentication.sso", diego, `[`+app+`]`, "SUCCESS"),
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com"}},
		},
		"system actor is not a user": {
			event("user.lifecycle.suspend", `{"id":"0oa00000000000000000","type":"SystemPrincipal","alternateId":"system@okta.com"}`, `[`+diego+`]`, "SUCCESS"),
			[]Principal{{Account: "DiegoS@contoso.onmicrosoft.com", Roles: []string{"attacked"}}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, c.payload)
			if err != nil {
				t.Fatal(err)
			}
			if got := alerts[0].Principals; !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			for _, p := range alerts[0].Principals {
				if p.UserID != "" {
					t.Errorf("an Okta id claimed as an Entra object id: %+v", p)
				}
			}
		})
	}
}

func TestOktaSystemLogShapes(t *testing.T) {
	detail := `{"uuid":"u-2","published":"2026-11-23T07:00:00Z","eventType":"user.session.start","displayMessage":"","severity":"INFO","actor":{"type":"User","alternateId":"AlexW@contoso.onmicrosoft.com"}}`
	want := []Alert{{Format: "okta-system-log", ID: "u-2", Title: "user.session.start", Severity: "INFO", Principals: []Principal{{Account: "AlexW@contoso.onmicrosoft.com"}}}}
	for name, payload := range map[string]string{
		"bare LogEvent":        detail,
		"Okta Log Event":       `{"id":"e","source":"aws.partner/okta.com/contoso-1234/okta-logs","detail-type":"Okta Log Event","detail":` + detail + `}`,
		"relayed LogEvent":     `{"id":"e","source":"contoso.security.okta-relay","detail-type":"Okta System Log","detail":` + detail + `}`,
		"SQS record with body": `{"Records":[{"messageId":"m-1","eventSource":"aws:sqs","body":"{\"uuid\":\"u-2\",\"published\":\"2026-11-23T07:00:00Z\",\"eventType\":\"user.session.start\",\"severity\":\"INFO\",\"actor\":{\"type\":\"User\",\"alternateId\":\"AlexW@contoso.onmicrosoft.com\"}}"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			expectAlerts(t, payload, want)
		})
	}
	if _, err := recogniseInline(t, `{"id":"e","source":"aws.partner/okta.com/c/s","detail-type":"SystemLog","detail":{"uuid":"u","target":{"alternateId":"sekret"}}}`); err == nil {
		t.Error("target as an object was accepted")
	}
}

func BenchmarkFormat_oktaSystemLog(b *testing.B) {
	benchRecogniseEvent(b, "okta-system-log.json")
}

func FuzzRecognise_oktaSystemLog(f *testing.F) {
	fuzzRecogniseEvents(f, "okta-system-log.json")
}
