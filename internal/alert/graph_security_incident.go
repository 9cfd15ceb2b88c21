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

const (
	graphSecurityIncident = "graph-security-incident"
	graphIncidentType     = "#microsoft.graph.security.incident"
)

func init() {
	register(Format{
		Name:    graphSecurityIncident,
		Match:   func(d *Document) bool { return strings.EqualFold(d.odataType(), graphIncidentType) },
		Extract: extractGraphIncident,
	})
}

func extractGraphIncident(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: graphSecurityIncident, ID: t.String("id"), Title: t.String("displayName"), Severity: t.String("severity"), TenantID: t.String("tenantId")}
	raw := t.Get("alerts")
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf(`%s: no "alerts" list; the incident must be read with $expand=alerts for its users to be known`, graphSecurityIncident)
	}
	i := -1 // counts the alert objects, for errors; anything else in the list names nobody
	err := delivery.EachTopLevel(raw, func(item delivery.Object) error {
		i++
		var ga graphAlert
		if err := readGraphAlert(item, &ga); err != nil {
			return fmt.Errorf(`%s: "alerts"[%d]: %w`, graphSecurityIncident, i, err)
		}
		if ga.TenantID == "" {
			ga.TenantID = a.TenantID
		}
		a.Principals = append(a.Principals, ga.alert().Principals...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []Alert{a}, nil
}
