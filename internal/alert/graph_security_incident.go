package alert

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Microsoft Graph security incident: GET /security/incidents/{id}?$expand=alerts, or the
// same object relayed. Its users are the user evidence of its alerts, each a security
// alert (v2) read as graph_security_alert.go reads one.
// https://learn.microsoft.com/graph/api/resources/security-incident
//
// One Alert per incident, not one per inner alert: the incident is what was delivered and
// what a redelivery repeats, so its id names the work; and an incident's device-only alerts
// (a process, a file, a machine) name no user, which alone would read as alerts that name
// nobody. Each user keeps the roles and tenant its own alert gave it.
//
// The legacy resource (#microsoft.graph.incident, beta and older v1.0 pages) is read the
// same way. Microsoft's own sample of it (Get incident) has no alerts at all: only
// assignedTo, the analyst it is assigned to, and comments[].createdBy. Those are the
// responders, never targets: an incident without its alerts is recognised as one that
// names no user, and the event goes to an operator.
//
// Without "@odata.type" (a collector that stored the object) an incident is recognised by
// the members the resource always has: id, displayName, incidentWebUrl, status and
// createdDateTime.
//
// Acted on: status active, inProgress and awaitingAction. A resolved incident, one
// redirected (merged) into another, or one classified a false positive or expected
// activity names its users as closed; so does each inner alert the SOC resolved or
// classified so. An inner alert that cannot be read is reported in an *ItemErrors, and
// the other alerts' users are still read.

const (
	graphSecurityIncident = "graph-security-incident"
	graphIncidentType     = "#microsoft.graph.security.incident"
	graphLegacyIncident   = "#microsoft.graph.incident"
)

func init() {
	register(Format{
		Name: graphSecurityIncident,
		Match: func(d *Document) bool {
			switch t := d.odataType(); {
			case strings.EqualFold(t, graphIncidentType), strings.EqualFold(t, graphLegacyIncident):
				return true
			case t == "":
				top := d.Top
				return top.Has("id") && top.Has("displayName") && top.Has("incidentWebUrl") && top.Has("status") && top.Has("createdDateTime")
			}
			return false
		},
		Extract: extractGraphIncident,
	})
}

// incidentNoAlerts is why an incident read without its alerts revokes nobody.
const incidentNoAlerts = `the incident was sent without its "alerts" (GET /security/incidents/{id}?$expand=alerts): its assignedTo and comments name the analysts handling it, never a target; relay it with its alerts for its users to be known`

func extractGraphIncident(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: graphSecurityIncident, ID: t.String("id"), Title: t.String("displayName"), Severity: t.String("severity"),
		TenantID: firstPresent(t.String("tenantId"), t.String("aadTenantId"))}
	raw := t.Get("alerts")
	if len(raw) == 0 || raw[0] != '[' {
		a.NoUsers = incidentNoAlerts
		return []Alert{a}, nil
	}
	closed := graphClosed("the incident", t.String("status"), t.String("classification"))
	var failed *ItemErrors
	i := -1 // counts the alert objects, for errors; anything else in the list names nobody
	delivery.EachTopLevel(raw, func(item delivery.Object) error {
		i++
		var ga graphAlert
		if err := readGraphAlert(item, &ga); err != nil {
			failed = failed.add("alerts", i, fmt.Errorf("%s %s: %w", graphSecurityIncident, clip(a.ID), err))
			return nil
		}
		if ga.TenantID == "" {
			ga.TenantID = a.TenantID
		}
		if closed != "" {
			ga.Closed = closed
		}
		a.Principals = append(a.Principals, ga.alert().Principals...)
		return nil
	})
	return []Alert{a}, failed.orNil()
}
