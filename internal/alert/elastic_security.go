package alert

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/identity"
)

// Elastic Security alerts sent by a Kibana webhook connector. The body is whatever the
// rule's action template writes; accepted are an alert document itself, or a list of them
// under "alerts" or "context.alerts" (what {{context.alerts}} renders), one Alert each.
// https://www.elastic.co/guide/en/kibana/current/webhook-action-type.html
// https://www.elastic.co/guide/en/security/current/alert-schema.html
//
// Alert documents spell fields as nested objects ("kibana": {"alert": {...}}), as dotted
// keys ("kibana.alert.rule.name", how the alerts index stores kibana.*) or a mix, so every
// field is looked up by its dotted ECS name through any split of it.
//
// Users are ECS user.* and user.target.*, and related.user[]. In ECS, user.target is the
// account acted upon when one user acts on another (a role granted, a password reset): it
// is the victim, "attacked", and user.* is then the actor, "attacker", which the default
// policy does not revoke (an operator who wants actors revoked adds "attacker"). Without a
// target, user.* is the event's only user (who signed in, whose process ran) and carries no
// role, so it is targeted. related.user lists every name seen on the event; a value not
// already named above is reported as "contextual", never targeted by default.
//
// ECS says nothing of kinds: user.name may be a UPN, a login or DOMAIN\name, user.id a SID
// or an Entra object id, user.email need not be the UPN. An id shaped like a GUID is taken
// as the object id and a name with '@' as the UPN; failing both, one value is reported to
// be classified by shape: the email, else DOMAIN\name, else the id. Elastic's Azure
// integrations keep the Entra tenant in azure.tenant_id: it is the alert's users' tenant.
//
// Acted on: kibana.alert.workflow_status open and acknowledged. An alert an analyst closed
// (workflow_status closed) names its users as closed. In a list, an alert that cannot be
// read is reported in an *ItemErrors and the others are still read.

const elasticSecurity = "elastic-security"

// The fields read from an alert document, by dotted ECS name.
const (
	ecsAlertUUID = iota
	ecsDocID
	ecsRuleName
	ecsSeverity
	ecsUserName
	ecsUserEmail
	ecsUserID
	ecsUserDomain
	ecsTargetName
	ecsTargetEmail
	ecsTargetID
	ecsTargetDomain
	ecsRelatedUser
	ecsAzureTenant
	ecsWorkflowStatus
	ecsFieldCount
)

var ecsPaths = [ecsFieldCount]string{
	ecsAlertUUID:      "kibana.alert.uuid",
	ecsDocID:          "_id", // what context.alerts carries beside the source fields
	ecsRuleName:       "kibana.alert.rule.name",
	ecsSeverity:       "kibana.alert.severity",
	ecsUserName:       "user.name",
	ecsUserEmail:      "user.email",
	ecsUserID:         "user.id",
	ecsUserDomain:     "user.domain",
	ecsTargetName:     "user.target.name",
	ecsTargetEmail:    "user.target.email",
	ecsTargetID:       "user.target.id",
	ecsTargetDomain:   "user.target.domain",
	ecsRelatedUser:    "related.user",
	ecsAzureTenant:    "azure.tenant_id",
	ecsWorkflowStatus: "kibana.alert.workflow_status",
}

// ecsDepth bounds the descent: the deepest path above has four parts.
const ecsDepth = 4

func init() {
	register(Format{
		Name: elasticSecurity,
		Match: func(d *Document) bool {
			t := d.Top
			if t.Has("@odata.type") {
				return false
			}
			return isKibanaAlert(t) || isKibanaAlert(firstArrayObject(elasticAlertList(t)))
		},
		Extract: extractElastic,
	})
}

// elasticAlertList is the raw array under "alerts" or "context.alerts", or nil.
func elasticAlertList(t delivery.Object) []byte {
	if t.IsArray("alerts") {
		return t.Get("alerts")
	}
	if t.IsArray("context.alerts") {
		return t.Get("context.alerts")
	}
	if c := delivery.TopLevel(t.Get("context")); c.IsArray("alerts") {
		return c.Get("alerts")
	}
	return nil
}

// isKibanaAlert reports whether an object is an alert document: it has kibana.alert.*,
// nested or dotted.
func isKibanaAlert(o delivery.Object) bool {
	for _, f := range o {
		if bytes.HasPrefix(f.Key, kibanaAlertDotted) {
			return true
		}
		if string(f.Key) == `"kibana"` && startsObject(f.Value) {
			for _, g := range delivery.TopLevel(f.Value) {
				if string(g.Key) == `"alert"` || bytes.HasPrefix(g.Key, alertDotted) {
					return true
				}
			}
		}
	}
	return false
}

// Raw keys, quote included, as delivery.Object holds them.
var kibanaAlertDotted, alertDotted = []byte(`"kibana.alert.`), []byte(`"alert.`)

func extractElastic(d *Document) ([]Alert, error) {
	if isKibanaAlert(d.Top) {
		a, err := readElasticAlert(d.Top)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", elasticSecurity, err)
		}
		return []Alert{a}, nil
	}
	var alerts []Alert
	var failed *ItemErrors
	i := -1 // counts the alert objects, for errors; anything else in the list names nobody
	delivery.EachTopLevel(elasticAlertList(d.Top), func(item delivery.Object) error {
		i++
		a, err := readElasticAlert(item)
		if err != nil {
			failed = failed.add("alerts", i, fmt.Errorf("%s: %w", elasticSecurity, err))
			return nil
		}
		alerts = append(alerts, a)
		return nil
	})
	return alerts, failed.orNil()
}

// ecsFields holds the raw value of each field in ecsPaths, nil when absent.
type ecsFields [ecsFieldCount][]byte

// read collects the fields under o, whose own dotted path is prefix ("" at the top, else
// ending in '.'). A key may be one part of a path or several joined by dots.
func (fs *ecsFields) read(o delivery.Object, prefix string, depth int) {
	for _, f := range o {
		key := f.Key[1 : len(f.Key)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(delivery.Unquote(f.Key))
		}
		descend := ""
		for i, path := range ecsPaths {
			if len(path) < len(prefix)+len(key) || path[:len(prefix)] != prefix || path[len(prefix):len(prefix)+len(key)] != string(key) {
				continue
			}
			switch end := len(prefix) + len(key); {
			case end == len(path):
				if fs[i] == nil {
					fs[i] = f.Value
				}
			case path[end] == '.':
				descend = path[:end+1]
			}
		}
		if descend != "" && depth > 0 && startsObject(f.Value) {
			fs.read(delivery.TopLevel(f.Value), descend, depth-1)
		}
	}
}

func readElasticAlert(o delivery.Object) (Alert, error) {
	var fs ecsFields
	fs.read(o, "", ecsDepth)
	a := Alert{Format: elasticSecurity,
		ID:       firstPresent(scalarText(fs[ecsAlertUUID]), scalarText(fs[ecsDocID])),
		Title:    scalarText(fs[ecsRuleName]),
		Severity: scalarText(fs[ecsSeverity]),
		TenantID: scalarText(fs[ecsAzureTenant]),
	}
	var user, target ecsUser
	var related []string
	for _, v := range [...]struct {
		field int
		into  *[]string
	}{
		{ecsUserName, &user.names}, {ecsUserEmail, &user.emails}, {ecsUserID, &user.ids}, {ecsUserDomain, &user.domains},
		{ecsTargetName, &target.names}, {ecsTargetEmail, &target.emails}, {ecsTargetID, &target.ids}, {ecsTargetDomain, &target.domains},
		{ecsRelatedUser, &related},
	} {
		values, err := multiValues(fs[v.field])
		if err != nil {
			return Alert{}, fmt.Errorf("%q %w", ecsPaths[v.field], err)
		}
		*v.into = values
	}
	userRole := ""
	if !target.empty() {
		userRole = "attacker"
	}
	a.Principals = user.appendPrincipals(a.Principals, userRole)
	a.Principals = target.appendPrincipals(a.Principals, "attacked")
	for _, r := range related {
		if !user.has(r) && !target.has(r) {
			a.Principals = append(a.Principals, Principal{Account: r, Roles: []string{"contextual"}})
		}
	}
	closed := ""
	if ws := scalarText(fs[ecsWorkflowStatus]); strings.EqualFold(ws, "closed") {
		closed = "the alert is closed (kibana.alert.workflow_status closed)"
	}
	for i := range a.Principals {
		a.Principals[i].TenantID = a.TenantID
		a.Principals[i].Closed = closed
	}
	return a, nil
}

// ecsUser is one ECS user object (user.* or user.target.*); any field may be an array.
type ecsUser struct{ names, emails, ids, domains []string }

func (u *ecsUser) empty() bool {
	return len(u.names) == 0 && len(u.emails) == 0 && len(u.ids) == 0
}

// has reports whether s is one of the user's values, as related.user repeats them.
func (u *ecsUser) has(s string) bool {
	for _, vs := range [...][]string{u.names, u.emails, u.ids} {
		for _, v := range vs {
			if strings.EqualFold(v, s) {
				return true
			}
		}
	}
	return false
}

// appendPrincipals adds the user, or, when a field holds several values (which email goes
// with which name is then not said), one user per value.
func (u *ecsUser) appendPrincipals(ps []Principal, role string) []Principal {
	one := func(vs []string) string {
		if len(vs) == 0 {
			return ""
		}
		return vs[0]
	}
	domain := one(u.domains)
	add := func(name, email, id string) {
		if p, ok := ecsPrincipal(name, email, id, domain, role); ok {
			ps = append(ps, p)
		}
	}
	if len(u.names) <= 1 && len(u.emails) <= 1 && len(u.ids) <= 1 {
		add(one(u.names), one(u.emails), one(u.ids))
		return ps
	}
	for _, n := range u.names {
		add(n, "", "")
	}
	for _, e := range u.emails {
		add("", e, "")
	}
	for _, id := range u.ids {
		add("", "", id)
	}
	return ps
}

// ecsPrincipal says what one user's fields claim: a GUID id is the object id, a name with
// '@' the UPN; without either, one value is kept to be classified by shape.
func ecsPrincipal(name, email, id, domain, role string) (Principal, bool) {
	var p Principal
	if role != "" {
		p.Roles = []string{role}
	}
	if identity.IsObjectID(id) {
		p.UserID = id
	}
	if strings.IndexByte(name, '@') > 0 && strings.IndexByte(name, '\\') < 0 {
		p.UserPrincipalName = name
	}
	if p.UserID == "" && p.UserPrincipalName == "" {
		p.Account = firstPresent(email, qualifiedLogin(domain, name), id)
	}
	return p, p.UserID != "" || p.UserPrincipalName != "" || p.Account != ""
}
