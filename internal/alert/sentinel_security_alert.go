package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Microsoft Sentinel SecurityAlert: one row of the Log Analytics SecurityAlert table, as a
// relay (data export, a playbook, a scheduled query) forwards it. Users are the account
// and mailbox items of Entities, a JSON array serialised into a string.
// https://learn.microsoft.com/azure/sentinel/security-alert-schema
// https://learn.microsoft.com/azure/sentinel/entities-reference
//
// Entities is written with Json.NET's reference preservation: each entity is written in
// full once, with a "$id", where it is first met (often inside a process's "Account"), and
// as {"$ref": "<id>"} everywhere after. Every definition in the tree is read once, so
// following the references would only find the same entities again.
//
// The row's TenantId is the Log Analytics workspace id (a column every table has), not the
// Entra tenant: it is not reported as the alert's tenant. Each account carries its own
// Entra tenant in AadTenantId.
//
// Acted on: Status New and InProgress. A Resolved alert ("closed after handling") or a
// Dismissed one ("dismissed as false positive") names its users as closed.
//
// The walk is linear in the column's size: each entity's "$id" is remembered in a set,
// and a "$ref" is never followed, so tens of thousands of ids and references cost one
// pass.

const sentinelSecurityAlert = "sentinel-security-alert"

func init() {
	register(Format{
		Name:  sentinelSecurityAlert,
		Match: func(d *Document) bool { return d.Top.Has("SystemAlertId") && d.Top.Has("AlertName") },
		Extract: func(d *Document) ([]Alert, error) {
			t := d.Top
			a := Alert{Format: sentinelSecurityAlert, ID: t.String("SystemAlertId"), Title: t.String("AlertName"), Severity: t.String("AlertSeverity")}
			var err error
			if a.Principals, err = readSentinelEntities(t.Get("Entities")); err != nil {
				return nil, err
			}
			for _, st := range [...]string{"Resolved", "Dismissed"} {
				if !strings.EqualFold(t.String("Status"), st) {
					continue
				}
				for i := range a.Principals {
					a.Principals[i].Closed = "the alert is " + strings.ToLower(st) + " (Status " + st + ")"
				}
			}
			return []Alert{a}, nil
		},
	})
}

// readSentinelEntities reads Entities, a string holding a JSON array (or the array itself,
// when a relay has already decoded it).
func readSentinelEntities(raw []byte) ([]Principal, error) {
	list := raw
	if len(raw) > 0 && raw[0] == '"' {
		// JSON inside a string: the payload's validation did not look into it.
		list = bytes.TrimSpace([]byte(delivery.Unquote(raw)))
		if len(list) > 0 && !delivery.Valid(list) {
			offset := int64(0)
			var syntax *json.SyntaxError
			if errors.As(json.Unmarshal(list, new(json.RawMessage)), &syntax) {
				offset = syntax.Offset
			}
			return nil, fmt.Errorf(`%s: "Entities" is invalid JSON at byte %d; expected a JSON array of entities, as a string or as JSON`, sentinelSecurityAlert, offset)
		}
	}
	if len(list) == 0 || string(list) == "null" {
		return nil, nil
	}
	if list[0] != '[' {
		return nil, fmt.Errorf(`%s: "Entities" is a JSON %s; expected a JSON array of entities, as a string or as JSON`, sentinelSecurityAlert, jsonKind(list))
	}
	var w sentinelEntityWalk
	delivery.EachTopLevel(list, func(o delivery.Object) error { w.entity(o, 0); return nil })
	return w.principals, nil
}

// sentinelEntityDepth bounds the walk through nested entities. Real ones nest a few levels
// (a process's parent's image file's hashes); a crafted payload must not make it quadratic.
const sentinelEntityDepth = 8

type sentinelEntityWalk struct {
	seen       map[string]bool // the $id of every entity read
	principals []Principal
}

func (w *sentinelEntityWalk) value(raw []byte, depth int) {
	if depth > sentinelEntityDepth || len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '{':
		w.entity(delivery.TopLevel(raw), depth)
	case '[':
		delivery.EachTopLevel(raw, func(o delivery.Object) error { w.entity(o, depth+1); return nil })
	}
}

func (w *sentinelEntityWalk) entity(o delivery.Object, depth int) {
	if o.Has("$ref") {
		return // {"$ref": "3"}: an entity read where it is defined
	}
	if id := o.String("$id"); id != "" {
		if w.seen[id] {
			return
		}
		if w.seen == nil {
			w.seen = make(map[string]bool, 8)
		}
		w.seen[id] = true
	}
	switch t := o.String("Type"); {
	case strings.EqualFold(t, "account"):
		w.principals = append(w.principals, sentinelAccount(o))
	case strings.EqualFold(t, "mailbox"):
		w.principals = append(w.principals, sentinelMailbox(o))
	}
	for _, f := range o {
		if len(f.Value) > 0 && (f.Value[0] == '{' || f.Value[0] == '[') {
			w.value(f.Value, depth+1)
		}
	}
}

// sentinelAccount reads an account entity: AadUserId is the Entra object id, Name and
// UPNSuffix make the UPN. An on-premises account has only NTDomain\Name and a Sid; its
// ObjectGuid is the AD object's, never the Entra id, so it is not read at all.
func sentinelAccount(o delivery.Object) Principal {
	name, suffix := o.String("Name"), o.String("UPNSuffix")
	p := Principal{UserID: o.String("AadUserId"), TenantID: o.String("AadTenantId")}
	if name != "" && suffix != "" {
		p.UserPrincipalName = name + "@" + suffix
		return p
	}
	p.Account = qualifiedLogin(o.String("NTDomain"), name)
	if p.Account == "" && p.UserID == "" {
		p.Account = o.String("Sid")
	}
	return p
}

// sentinelMailbox reads a mailbox entity. Its primary SMTP address may differ from the UPN:
// it is kept only when nothing better names the mailbox's owner.
func sentinelMailbox(o delivery.Object) Principal {
	p := Principal{UserID: firstPresent(o.String("AadId"), o.String("ExternalDirectoryObjectId")), UserPrincipalName: o.String("Upn")}
	if p.UserID == "" && p.UserPrincipalName == "" {
		p.Account = o.String("MailboxPrimaryAddress")
	}
	return p
}
