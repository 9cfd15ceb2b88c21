package alert

import (
	"errors"
	"fmt"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// A direct invocation by a SOAR playbook, a Step Functions task or `aws lambda invoke`,
// mirroring Revoke-MgUserSignInSession: -UserId, -InputObject and -WhatIf, plus a list
// of users for playbooks that act on several at once.
//
//	{"userId": "<object id or UPN>"}
//	{"inputObject": {"userId": "..."}}
//	{"users": ["...", "..."], "reason": "...", "dryRun": true}
//
// It is read only from a document that arrived bare (a direct invocation, an SQS body, an
// input transformer's output) or under the project's own request detail-type
// (sources.RequestDetailType): anything else with a "userId" is some product's event.
//
// A request is parsed strictly, because it carries switches (dryRun, approved) whose
// misreading revokes for real: every key is spelled exactly, once, and known.
// encoding/json alone would match "DRYRUN" to dryRun and let the last of two keys win, so
// {"dryRun": true, "DRYRUN": false} would run live; the keys are checked on the scanner's
// view of the members first, and only then decoded.

// directRequest's JSON tags and directKeys name the same members.
type directRequest struct {
	UserID      *string            `json:"userId"`
	InputObject *directInputObject `json:"inputObject"`
	Users       []string           `json:"users"`
	Reason      string             `json:"reason"`
	DryRun      bool               `json:"dryRun"`
	WhatIf      bool               `json:"whatIf"`
	AlertID     string             `json:"alertId"`
	Approved    bool               `json:"approved"`
	TenantID    string             `json:"tenantId"`
}

type directInputObject struct {
	UserID string `json:"userId"`
	ID     string `json:"id"` // a user object piped in, as the cmdlet accepts
}

// The members a request and its inputObject may have, spelled as the JSON tags above.
var (
	directKeys      = []string{"userId", "inputObject", "users", "reason", "dryRun", "whatIf", "alertId", "approved", "tenantId"}
	inputObjectKeys = []string{"userId", "id"}
)

// maxDirectUsers bounds one request. A playbook that needs more is a sweep and should
// arrive in pages.
const maxDirectUsers = 1000

func init() {
	register(Format{
		Name: "direct",
		Match: func(d *Document) bool {
			if !directRequestEnvelope(d.Envelope) {
				return false
			}
			// riskDetection also has userId; it is recognised by riskEventType, and any
			// Graph object by @odata.type.
			if d.Top.Has("@odata.type") || d.Top.Has("riskEventType") || d.Top.Has("riskState") {
				return false
			}
			return d.Top.Has("userId") || d.Top.Has("inputObject") || d.Top.Has("users")
		},
		Extract: extractDirect,
	})
}

func extractDirect(d *Document) ([]Alert, error) {
	if err := delivery.Strict(d.Body, "direct request", directKeys...); err != nil {
		return nil, err
	}
	if raw := d.Top.Get("inputObject"); startsObject(raw) {
		if err := delivery.Strict(raw, `direct request: "inputObject"`, inputObjectKeys...); err != nil {
			return nil, err
		}
	}
	// Every key is now exact and single, so encoding/json's case-insensitive fallback and
	// its last-duplicate-wins rule have nothing left to decide.
	var r directRequest
	if err := d.decode("direct request", &r); err != nil {
		return nil, err
	}
	a := Alert{Format: "direct", ID: r.AlertID, Title: "direct request", Reason: r.Reason, DryRun: r.DryRun || r.WhatIf, TenantID: r.TenantID, Approved: r.Approved}
	add := func(s string) { a.Principals = append(a.Principals, Principal{Account: s, TenantID: r.TenantID}) }
	if r.UserID != nil {
		add(*r.UserID)
	}
	if r.InputObject != nil {
		switch {
		case r.InputObject.UserID != "":
			add(r.InputObject.UserID)
		case r.InputObject.ID != "":
			add(r.InputObject.ID)
		default:
			return nil, errors.New(`direct request: "inputObject" has no "userId"`)
		}
	}
	if len(r.Users) > maxDirectUsers {
		return nil, fmt.Errorf("direct request: %d users in one request; at most %d", len(r.Users), maxDirectUsers)
	}
	for _, u := range r.Users {
		add(u)
	}
	if len(a.Principals) == 0 {
		return nil, errors.New(`direct request names no user: give "userId", "inputObject": {"userId"} or a non-empty "users" list`)
	}
	return []Alert{a}, nil
}
