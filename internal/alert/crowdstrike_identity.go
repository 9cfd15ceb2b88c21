package alert

import (
	"bytes"
	"encoding/json"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// CrowdStrike Falcon Identity Protection detection summary, as the Falcon Event Streams
// API emits it ({"metadata": {"eventType": "IdpDetectionSummaryEvent", ...}, "event":
// {...}}), relayed bare or in an EventBridge envelope of the relay's own source.
//
// The one user is the source account: the account whose credentials performed the
// detected activity (credential scanning, a login from a bad-reputation IP, pass-the-hash),
// reported with no role, as the subject. SourceAccountUpn is the on-premises AD UPN, a
// claimed UPN that equals the Entra UPN in a synced tenant; SourceAccountName is a SAM
// name or a UPN, and SourceAccountObjectSid an on-premises SID, kept in Account for the
// report when there is no UPN.

const crowdStrikeIdentity = "crowdstrike-identity"

type crowdStrikeIdpDetection struct {
	DetectID               string          `json:"DetectId"`
	CompositeID            string          `json:"CompositeId"`
	DetectName             string          `json:"DetectName"`
	SeverityName           string          `json:"SeverityName"`
	SourceAccountUpn       string          `json:"SourceAccountUpn"`
	SourceAccountName      string          `json:"SourceAccountName"`
	SourceAccountDomain    string          `json:"SourceAccountDomain"`
	SourceAccountObjectSid string          `json:"SourceAccountObjectSid"`
	Severity               json.RawMessage `json:"Severity"` // a number; SeverityName says it in words
}

func init() {
	register(Format{
		Name: crowdStrikeIdentity,
		Match: func(d *Document) bool {
			m := d.Top.Get("metadata")
			return d.Top.Has("event") && bytes.Contains(m, []byte(`"IdpDetectionSummaryEvent"`)) &&
				string(delivery.Member(m, "eventType")) == `"IdpDetectionSummaryEvent"`
		},
		Extract: func(d *Document) ([]Alert, error) {
			var e crowdStrikeIdpDetection
			if err := decodeTopMember(crowdStrikeIdentity, d.Top, "event", &e); err != nil {
				return nil, err
			}
			a := Alert{
				Format: crowdStrikeIdentity, ID: firstPresent(e.DetectID, e.CompositeID), Title: e.DetectName,
				Severity: firstPresent(e.SeverityName, scalarText(e.Severity)),
			}
			p := Principal{UserPrincipalName: e.SourceAccountUpn}
			if p.UserPrincipalName == "" {
				p.Account = firstPresent(qualifiedLogin(e.SourceAccountDomain, e.SourceAccountName), e.SourceAccountObjectSid)
			}
			if p.UserPrincipalName != "" || p.Account != "" {
				a.Principals = append(a.Principals, p)
			}
			return []Alert{a}, nil
		},
	})
}
