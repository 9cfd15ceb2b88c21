package alert

import (
	"bytes"
	"errors"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Sumo Logic Cloud SIEM insight, as the Cloud SIEM API returns it (GET /sec/v1/insights/
// {id}, without the {"data": ...} wrapper) and automations relay it.
// https://help.sumologic.com/docs/cse/get-started-with-cloud-siem/insight-generation-process/
//
// Users are the entities of type _username: the insight's own entity, and those in
// involvedEntities[]. A _username is whatever the log called the user: a UPN, a login,
// DOMAIN\name, a service principal or an API key such as "key-... (Sumo Logic API
// client)"; every one is reported in Account and policy classifies it.
//
// Roles: the insight's entity is its subject (no role). An involved user is "contextual"
// when the subject is itself a user (an account that user's activity touched), and
// "attacked" when the subject is an IP address or a host (the accounts that source
// signed in to or sprayed).
//
// Acted on: status new and inprogress. A closed insight (status.name closed, with its
// resolution: Resolved, False Positive, No Action, Duplicate) names its users as closed.

const sumoInsight = "sumo-cloud-siem-insight"

// sumoEntity is an insight's entity; read in place, as entities carry nulls and
// sensor details nobody here reads.
type sumoEntity struct{ typ, value string }

func readSumoEntity(raw []byte) sumoEntity {
	return sumoEntity{typ: delivery.Unquote(delivery.Member(raw, "entityType")), value: delivery.Unquote(delivery.Member(raw, "value"))}
}

func (e *sumoEntity) isUser() bool {
	return (e.typ == "_username" || strings.EqualFold(e.typ, "username")) && e.value != ""
}

func init() {
	register(Format{
		Name:    sumoInsight,
		Match:   func(d *Document) bool { return bytes.HasPrefix(d.Top.Get("readableId"), []byte(`"INSIGHT-`)) },
		Extract: extractSumoInsight,
	})
}

func extractSumoInsight(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: sumoInsight, ID: t.String("readableId"), Title: t.String("name"), Severity: t.String("severity")}
	if raw := t.Get("entity"); len(raw) > 0 && string(raw) != "null" && raw[0] != '{' {
		return nil, errors.New(`sumo-cloud-siem-insight: "entity" has the wrong JSON type (expected an object)`)
	}
	if raw := t.Get("involvedEntities"); len(raw) > 0 && string(raw) != "null" && raw[0] != '[' {
		return nil, errors.New(`sumo-cloud-siem-insight: "involvedEntities" has the wrong JSON type (expected a list)`)
	}
	entity := readSumoEntity(t.Get("entity"))
	others := "attacked"
	if entity.isUser() {
		a.Principals = append(a.Principals, Principal{Account: entity.value})
		others = "contextual"
	}
	delivery.EachObject(t.Get("involvedEntities"), func(raw []byte) error {
		if e := readSumoEntity(raw); e.isUser() && !strings.EqualFold(e.value, entity.value) {
			a.Principals = append(a.Principals, Principal{Account: e.value, Roles: []string{others}})
		}
		return nil
	})
	status := t.String("status") // older API versions write the name alone
	if raw := t.Get("status"); startsObject(raw) {
		status = delivery.TopLevel(raw).String("name")
	}
	if strings.EqualFold(status, "closed") {
		closed := "the insight is closed (status closed"
		if r := t.String("resolution"); r != "" {
			closed += ", resolution " + clip(r)
		}
		for i := range a.Principals {
			a.Principals[i].Closed = closed + ")"
		}
	}
	return []Alert{a}, nil
}
