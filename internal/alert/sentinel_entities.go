package alert

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Microsoft Sentinel entities in the REST (ARM) shape, as an incident-triggered automation
// reads them and relays them: kind "Account" or "Mailbox" with camelCase properties.
// https://learn.microsoft.com/rest/api/securityinsights/incidents/list-entities
// https://learn.microsoft.com/rest/api/securityinsights/entities/get
//
// The relay's wrapper is no published schema. Assumed, and accepted:
//   - an incident with its entities beside it: the incident resource's "properties"
//     (title, severity, incidentNumber) or the same three at the top level, and an
//     "entities" array as List Entities returns it ({"entities": [...], "metaData": [...]}
//     alone is read too);
//   - the Logic Apps incident trigger's body passed on as it is: "objectSchemaType":
//     "Incident", the incident in "object", its entities in object.properties.relatedEntities;
//   - one entity alone, {"kind": "Account", "properties": {...}} (the Logic Apps entity
//     trigger's entity), of any kind: a Host alone names no user, and says so.
//
// The workspace's Entities - List response, {"value": [entity, ...]} (its published example
// lists an Account, a Host and a File), is one list of entities, not a Graph collection of
// alerts: it is read whole, and its Host, Ip, File... entities are simply not users.
// https://learn.microsoft.com/rest/api/securityinsights/entities/list
//
// Acted on: incidents in status New and Active. A Closed incident (properties.status,
// whatever its classification) names its users as closed: they are skipped.

const sentinelEntities = "sentinel-entities"

func init() {
	register(Format{
		Name: sentinelEntities,
		Match: func(d *Document) bool {
			t := d.Top
			if t.Has("@odata.type") {
				return false
			}
			for _, list := range [...]string{"entities", "value"} {
				if first := firstArrayObject(t.Get(list)); isSentinelEntity(first) {
					return true
				}
			}
			if strings.EqualFold(t.String("objectSchemaType"), "Incident") && startsObject(t.Get("object")) {
				return true
			}
			return isSentinelEntity(t)
		},
		Extract: extractSentinelEntities,
	})
}

func isSentinelUserKind(kind string) bool {
	return strings.EqualFold(kind, "Account") || strings.EqualFold(kind, "Mailbox")
}

// sentinelEntityKinds are the entity kinds the Security Insights API defines
// (EntityKindEnum), so that an entity alone is told from any other ARM resource with a
// kind and properties.
var sentinelEntityKinds = []string{
	"Account", "Host", "File", "AzureResource", "CloudApplication", "DnsResolution", "FileHash", "Ip", "Malware", "Process",
	"RegistryKey", "RegistryValue", "SecurityGroup", "Url", "IoTDevice", "SecurityAlert", "Bookmark", "MailCluster",
	"MailMessage", "Mailbox", "SubmissionMail", "Nic",
}

// isSentinelEntity: {"kind": <an entity kind>, "properties": {...}}.
func isSentinelEntity(o delivery.Object) bool {
	if !startsObject(o.Get("properties")) {
		return false
	}
	kind := o.String("kind")
	for _, k := range sentinelEntityKinds {
		if strings.EqualFold(kind, k) {
			return true
		}
	}
	return false
}

func extractSentinelEntities(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: sentinelEntities}
	var m members
	switch {
	case isSentinelEntity(t):
		a.Principals = appendSentinelEntity(nil, &m, t)
		if len(a.Principals) == 0 {
			a.NoUsers = "a Sentinel " + clip(t.String("kind")) + " entity names no user"
		}
	case !t.Has("entities") && isSentinelEntity(firstArrayObject(t.Get("value"))):
		m.each(t, "value", func(_ int, e delivery.Object) { a.Principals = appendSentinelEntity(a.Principals, &m, e) })
	default:
		incident, props, list, field := t, delivery.TopLevel(t.Get("properties")), t, "entities"
		if !t.Has("entities") {
			// The Logic Apps trigger: the incident is "object", its entities are related.
			incident = delivery.TopLevel(t.Get("object"))
			props = delivery.TopLevel(incident.Get("properties"))
			list, field, m.path = props, "relatedEntities", "object.properties."
		}
		a.ID = firstPresent(scalarText(props.Get("incidentNumber")), scalarText(incident.Get("incidentNumber")))
		a.Title = firstPresent(props.String("title"), incident.String("title"))
		a.Severity = firstPresent(props.String("severity"), incident.String("severity"))
		m.each(list, field, func(_ int, e delivery.Object) { a.Principals = appendSentinelEntity(a.Principals, &m, e) })
		status := firstPresent(props.String("status"), incident.String("status"))
		if strings.EqualFold(status, "Closed") {
			closed := "the incident is closed (status Closed"
			if c := firstPresent(props.String("classification"), incident.String("classification")); c != "" {
				closed += ", classification " + clip(c)
			}
			for i := range a.Principals {
				a.Principals[i].Closed = closed + ")"
			}
		}
	}
	if m.err != nil {
		return nil, fmt.Errorf("%s: %w", sentinelEntities, m.err)
	}
	return []Alert{a}, nil
}

// appendSentinelEntity adds the user an Account or Mailbox entity names, reading only the
// user kinds' identifiers; other kinds name none.
func appendSentinelEntity(ps []Principal, m *members, e delivery.Object) []Principal {
	kind := m.str(e, "kind")
	if !isSentinelUserKind(kind) {
		return ps
	}
	pr := m.object(e, "properties")
	outer := m.path
	m.path = "properties."
	defer func() { m.path = outer }()
	if strings.EqualFold(kind, "Account") {
		p := Principal{UserID: m.str(pr, "aadUserId"), TenantID: m.str(pr, "aadTenantId")}
		if extra := m.object(pr, "additionalData"); extra != nil {
			m.path = "properties.additionalData."
			p.UserType = m.str(extra, "UserType") // Member or Guest, from UEBA enrichment
		}
		if name, suffix := m.str(pr, "accountName"), m.str(pr, "upnSuffix"); name != "" && suffix != "" {
			p.UserPrincipalName = name + "@" + suffix
		} else {
			p.Account = qualifiedLogin(m.str(pr, "ntDomain"), name)
			if p.Account == "" && p.UserID == "" {
				p.Account = m.str(pr, "sid")
			}
		}
		return append(ps, p)
	}
	p := Principal{UserID: m.str(pr, "externalDirectoryObjectId"), UserPrincipalName: m.str(pr, "upn")}
	if p.UserID == "" && p.UserPrincipalName == "" {
		p.Account = m.str(pr, "mailboxPrimaryAddress")
	}
	return append(ps, p)
}
