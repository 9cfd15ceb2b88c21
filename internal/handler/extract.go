package handler

import (
	"cmp"
	"errors"
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
	// Unread lists the items of a list that could not be read, beside the alerts of those
	// that could (Extract then also returns the error).
	Unread []string `json:"unread,omitempty"`
}

// ExtractedAlert is one alert and the users it names.
type ExtractedAlert struct {
	Format     string               `json:"format"`
	ID         string               `json:"id"`
	Title      string               `json:"title"`
	Severity   string               `json:"severity"`
	Principals []ExtractedPrincipal `json:"principals"`
	// NoUsers says why an alert that names nobody does (the handler fails it to an operator).
	NoUsers string `json:"noUsers,omitempty"`
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
// alert's users are decided on their own, so a user named twice shows under both. When
// some items of a list cannot be read, it returns the others' alerts, lists the items in
// Unread, and returns the error too, as the handler would fail.
func Extract(payload []byte, s policy.Settings) (Extraction, error) {
	s.DryRun = false // a dry run is not a reason to skip anyone
	batch, err := delivery.Unwrap(payload)
	if err != nil {
		return Extraction{}, err
	}
	ex := Extraction{Alerts: []ExtractedAlert{}}
	var unread []error
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
		var items *alert.ItemErrors
		if errors.As(err, &items) && len(alerts) > 0 {
			for _, it := range items.Items {
				ex.Unread = append(ex.Unread, fmt.Sprintf("%q[%d]: %v", items.List, it.Index, it.Err))
			}
			unread = append(unread, err)
			err = nil
		}
		if err != nil {
			if batch.Kind != delivery.Single {
				return Extraction{}, fmt.Errorf("%s record %d: %w", batch.Kind, i, err)
			}
			return Extraction{}, err
		}
		for _, a := range alerts {
			a.DryRun = false
			ea := ExtractedAlert{Format: a.Format, ID: a.ID, Title: a.Title, Severity: a.Severity, Principals: []ExtractedPrincipal{}}
			if len(a.Principals) == 0 {
				ea.NoUsers = cmp.Or(a.NoUsers, "the alert names no user")
			}
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
	return ex, errors.Join(unread...)
}
