package alert

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Splunk webhook alert action: the body Splunk POSTs when a saved search or an Enterprise
// Security correlation search with a webhook action fires.
// https://docs.splunk.com/Documentation/Splunk/latest/Alert/Webhooks
//
// Only the first result row is sent, as "result", with whatever fields the search outputs.
// Users are read from the CIM user fields a detection is expected to keep: user and
// src_user (what ES notables carry), dest_user, a UPN under user_principal_name or Entra's
// own userPrincipalName, and risk_object when risk_object_type says it is a user (risk-based
// alerting). user_id is not read: CIM leaves its kind open and it names the same person as
// user. A multivalue field arrives as a JSON array or, after mvjoin, as one string of
// lines; either gives one user per value.
//
// Roles: CIM's src_user is "the user who performed the action" in every data model that
// has it (Change: the admin who reset a password or granted a role; Authentication: the
// user who ran as another): often a help-desk or admin account, not the victim. It is
// reported in role "actor", which the default TARGET_ROLES (compromised, attacked) does
// not revoke; an operator whose searches put the compromised account in src_user adds
// "actor". user, dest_user and the UPN fields carry no role: they name the account acted
// on or signed in, the detection's subject, and are targets; policy judges each.

const splunkWebhook = "splunk-webhook"

// splunkUserFields are the result fields read, in the order their users are reported.
var splunkUserFields = [...]struct {
	key  string
	upn  bool   // the field is a UPN by name
	role string // the evidence role its users get, "" for none
}{
	{"user", false, ""}, {"src_user", false, splunkActorRole}, {"dest_user", false, ""},
	{"user_principal_name", true, ""}, {"userPrincipalName", true, ""},
}

// splunkActorRole is src_user's role: the user who performed the action.
const splunkActorRole = "actor"

func init() {
	register(Format{
		Name:    splunkWebhook,
		Match:   func(d *Document) bool { return d.Top.Has("sid") && d.Top.Has("search_name") },
		Extract: extractSplunk,
	})
}

func extractSplunk(d *Document) ([]Alert, error) {
	t := d.Top
	raw := t.Get("result")
	if !startsObject(raw) {
		return nil, fmt.Errorf(`%s: no "result" object: the webhook carries the search's first result row there`, splunkWebhook)
	}
	result := delivery.TopLevel(raw)
	a := Alert{Format: splunkWebhook, ID: t.String("sid"), Title: t.String("search_name"),
		Severity: firstPresent(result.String("severity"), result.String("urgency"))}
	add := func(key string, upn bool, role string) error {
		values, err := multiValues(result.Get(key))
		if err != nil {
			return fmt.Errorf("%s: \"result.%s\" %w", splunkWebhook, key, err)
		}
		for _, v := range values {
			p := Principal{Account: v}
			if upn {
				p = Principal{UserPrincipalName: v}
			}
			if role != "" {
				p.Roles = []string{role}
			}
			a.Principals = append(a.Principals, p)
		}
		return nil
	}
	for _, f := range splunkUserFields {
		if err := add(f.key, f.upn, f.role); err != nil {
			return nil, err
		}
	}
	if strings.EqualFold(result.String("risk_object_type"), "user") {
		if err := add("risk_object", false, ""); err != nil {
			return nil, err
		}
	}
	return []Alert{a}, nil
}

// The helpers below serve the formats that read arrays and multi-valued fields (Sentinel,
// Splunk, Elastic). They read payloads already validated.
