package alert

import (
	"encoding/json"
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
//   - one entity alone, {"kind": "Account", "properties": {...}}.

const sentinelEntities = "sentinel-entities"

// sentinelEntity is one entity resource. Only the user kinds' identifiers are read.
type sentinelEntity struct {
	Kind       string `json:"kind"`
	Properties struct {
		// Account
		AccountName string `json:"accountName"`
		NTDomain    string `json:"ntDomain"`
		UPNSuffix   string `json:"upnSuffix"`
		AADUserID   string `json:"aadUserId"`
		AADTenantID string `json:"aadTenantId"`
		SID         string `json:"sid"`
		// Mailbox
		UPN                       string `json:"upn"`
		MailboxPrimaryAddress     string `json:"mailboxPrimaryAddress"`
		ExternalDirectoryObjectID string `json:"externalDirectoryObjectId"`

		AdditionalData struct {
			UserType string `json:"UserType"` // Member or Guest, from UEBA enrichment
		} `json:"additionalData"`
	} `json:"properties"`
}

func init() {
	register(Format{
		Name: sentinelEntities,
		Match: func(d *Document) bool {
			t := d.Top
			if t.Has("@odata.type") {
				return false
			}
			if first := firstArrayObject(t.Get("entities")); first.Has("kind") && first.Has("properties") {
				return true
			}
			if strings.EqualFold(t.String("objectSchemaType"), "Incident") && startsObject(t.Get("object")) {
				return true
			}
			return isSentinelUserKind(t.String("kind")) && startsObject(t.Get("properties"))
		},
		Extract: extractSentinelEntities,
	})
}

func isSentinelUserKind(kind string) bool {
	return strings.EqualFold(kind, "Account") || strings.EqualFold(kind, "Mailbox")
}

func extractSentinelEntities(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: sentinelEntities}
	if !t.Has("entities") && isSentinelUserKind(t.String("kind")) {
		var e sentinelEntity
		if err := d.decode(sentinelEntities, &e); err != nil {
			return nil, err
		}
		a.Principals = appendSentinelEntity(nil, &e)
		return []Alert{a}, nil
	}
	incident, props := t, delivery.TopLevel(t.Get("properties"))
	field, list := "entities", t.Get("entities")
	if list == nil {
		// The Logic Apps trigger: the incident is "object", its entities are related.
		incident = delivery.TopLevel(t.Get("object"))
		props = delivery.TopLevel(incident.Get("properties"))
		field, list = "object.properties.relatedEntities", props.Get("relatedEntities")
	}
	a.ID = firstPresent(scalarText(props.Get("incidentNumber")), scalarText(incident.Get("incidentNumber")))
	a.Title = firstPresent(props.String("title"), incident.String("title"))
	a.Severity = firstPresent(props.String("severity"), incident.String("severity"))
	var entities []sentinelEntity
	if len(list) > 0 && string(list) != "null" {
		if err := json.Unmarshal(list, &entities); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", sentinelEntities, field, describe(err))
		}
	}
	for i := range entities {
		a.Principals = appendSentinelEntity(a.Principals, &entities[i])
	}
	return []Alert{a}, nil
}

// appendSentinelEntity adds the user an Account or Mailbox entity names; other kinds name
// none.
func appendSentinelEntity(ps []Principal, e *sentinelEntity) []Principal {
	pr := &e.Properties
	switch {
	case strings.EqualFold(e.Kind, "Account"):
		p := Principal{UserID: pr.AADUserID, TenantID: pr.AADTenantID, UserType: pr.AdditionalData.UserType}
		if pr.AccountName != "" && pr.UPNSuffix != "" {
			p.UserPrincipalName = pr.AccountName + "@" + pr.UPNSuffix
		} else {
			p.Account = qualifiedLogin(pr.NTDomain, pr.AccountName)
			if p.Account == "" && p.UserID == "" {
				p.Account = pr.SID
			}
		}
		return append(ps, p)
	case strings.EqualFold(e.Kind, "Mailbox"):
		p := Principal{UserID: pr.ExternalDirectoryObjectID, UserPrincipalName: pr.UPN}
		if p.UserID == "" && p.UserPrincipalName == "" {
			p.Account = pr.MailboxPrimaryAddress
		}
		return append(ps, p)
	}
	return ps
}
