package handler

import (
	"fmt"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// Extraction is what the function reads from a payload, before any network: `make
// extract` prints it.
type Extraction struct {
	Alerts []ExtractedAlert `json:"alerts"`
}

// ExtractedAlert is one alert and the users it names.
type ExtractedAlert struct {
	Format     string               `json:"format"`
	ID         string               `json:"id"`
	Title      string               `json:"title"`
	Severity   string               `json:"severity"`
	Principals []ExtractedPrincipal `json:"principals"`
}

// ExtractedPrincipal is one user; Skip holds the reason they will not be revoked and is
// absent when they will be.
type ExtractedPrincipal struct {
	UserID            string `json:"userId,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	Identifier        string `json:"identifier,omitempty"`
	Skip              string `json:"skip,omitempty"`
}

// Extract runs the offline half of the pipeline: payload -> alerts -> decisions. Each
// alert's users are decided on their own, so a user named twice shows under both.
func Extract(payload []byte, s policy.Settings) (Extraction, error) {
	s.DryRun = false // a dry run is not a reason to skip anyone
	batch, err := delivery.Unwrap(payload)
	if err != nil {
		return Extraction{}, err
	}
	ex := Extraction{Alerts: []ExtractedAlert{}}
	for i, rec := range batch.Records {
		if rec.Err == nil && sweep.Is(rec.Top) {
			// A sweep names its users only when it lists them from Graph: show what it
			// would list.
			spec, err := sweep.Parse(rec.Top)
			if err != nil {
				return Extraction{}, err
			}
			ex.Alerts = append(ex.Alerts, ExtractedAlert{Format: sweep.Format, ID: spec.Name, Title: spec.Source(), Principals: []ExtractedPrincipal{}})
			continue
		}
		if rec.Err == nil && poll.Is(rec.Top) {
			// A poll names its users only when it lists alerts from Graph: show its rules.
			spec, err := poll.Parse(rec.Body)
			if err != nil {
				return Extraction{}, err
			}
			ex.Alerts = append(ex.Alerts, ExtractedAlert{Format: "poll", ID: spec.Name, Title: spec.Describe(), Principals: []ExtractedPrincipal{}})
			continue
		}
		alerts, err := alert.Recognise(rec)
		if err != nil {
			if batch.Kind != delivery.Single {
				return Extraction{}, fmt.Errorf("%s record %d: %w", batch.Kind, i, err)
			}
			return Extraction{}, err
		}
		for _, a := range alerts {
			a.DryRun = false
			ea := ExtractedAlert{Format: a.Format, ID: a.ID, Title: a.Title, Severity: a.Severity, Principals: []ExtractedPrincipal{}}
			for _, d := range policy.Decide([]alert.Alert{a}, s) {
				p := ExtractedPrincipal{UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Identifier: d.Identifier}
				if !d.Revoke {
					p.Skip = d.Reason
					if d.Status == outcome.Failed {
						p.Skip = "cannot revoke: " + d.Reason
					}
				}
				ea.Principals = append(ea.Principals, p)
			}
			ex.Alerts = append(ex.Alerts, ea)
		}
	}
	return ex, nil
}
