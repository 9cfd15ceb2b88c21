package alert

import "strings"

// Okta System Log events from an Okta log stream to EventBridge (source
// aws.partner/okta.com/<org>/<stream>, detail-type "SystemLog"), or the bare LogEvent an
// input transformer passed on.
// https://developer.okta.com/docs/reference/api/system-log/#logevent-object
//
// Users are the actor and the target[] entries of type User. Their id is an Okta id
// (00u...), never an Entra object id, so only alternateId (the Okta login, usually an
// email that need not be the Entra UPN) is reported, in Account.
//
// Roles: actor is who did it, target[] what it was done to. When the event has User
// targets they are the victims ("attacked"): the user an admin reset MFA for, the user
// Okta Support impersonated (user.session.impersonation.*); the actor is "contextual" (the
// admin, the impersonator or the granting admin), revoked only when also a target. When
// no user is a target the actor is the event's subject (a sign-in, a user's own report,
// security.threat.detected): no role, or "attacked" when Okta denied or failed the
// request, so a policy revoking only "compromised" users can leave blocked attempts alone.

const oktaSystemLog = "okta-system-log"

// oktaEntity is an actor or target. Its id is not read: an Okta id, not an Entra one.
type oktaEntity struct {
	Type        string `json:"type"`
	AlternateID string `json:"alternateId"`
}

func init() {
	register(Format{
		Name: oktaSystemLog,
		Match: func(d *Document) bool {
			if strings.HasPrefix(d.Envelope.Source, "aws.partner/okta.com/") {
				return true
			}
			t := d.Top
			return t.Has("uuid") && t.Has("eventType") && t.Has("published") && t.Has("actor")
		},
		Extract: extractOkta,
	})
}

func extractOkta(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: oktaSystemLog, ID: t.String("uuid"), Title: t.String("eventType"), Severity: t.String("severity")}
	if msg := t.String("displayMessage"); msg != "" {
		a.Title += ": " + msg
	}
	var actor oktaEntity
	var targets []oktaEntity
	var outcome struct {
		Result string `json:"result"`
	}
	for _, m := range [...]struct {
		key string
		v   any
	}{{"actor", &actor}, {"target", &targets}, {"outcome", &outcome}} {
		if err := decodeTopMember(oktaSystemLog, t, m.key, m.v); err != nil {
			return nil, err
		}
	}
	for _, tg := range targets {
		if tg.isUser() {
			a.Principals = append(a.Principals, Principal{Account: tg.AlternateID, Roles: []string{"attacked"}})
		}
	}
	if actor.isUser() {
		p := Principal{Account: actor.AlternateID}
		switch {
		case len(a.Principals) > 0:
			p.Roles = []string{"contextual"}
		case strings.EqualFold(outcome.Result, "DENY") || strings.EqualFold(outcome.Result, "FAILURE"):
			p.Roles = []string{"attacked"}
		}
		a.Principals = append(a.Principals, p)
	}
	return []Alert{a}, nil
}

// isUser: an entity of type User with a login. Okta writes "unknown" when it could not
// tie a request to a user (ThreatInsight's pre-authentication events): no one to name.
func (e *oktaEntity) isUser() bool {
	return strings.EqualFold(e.Type, "User") && e.AlternateID != "" && !strings.EqualFold(e.AlternateID, "unknown")
}
