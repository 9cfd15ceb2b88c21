package alert

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/sources"
)

// CrowdStrike Falcon Identity Protection, as the Falcon Event Streams API and the Falcon
// SIEM connector emit it ({"metadata": {"eventType": ..., ...}, "event": {...}}), relayed
// bare or in an EventBridge envelope of the relay's own source. Two event types name a
// user; any other (endpoint detections, audit events) is not this format's.
//
// IdpDetectionSummaryEvent, a detection: the one user is the source account, the account
// whose credentials performed the detected activity (credential scanning, a login from a
// bad-reputation IP, pass-the-hash), reported with no role, as the subject.
// SourceAccountUpn is the on-premises AD UPN, a claimed UPN that equals the Entra UPN in a
// synced tenant; SourceAccountName is a SAM name or a UPN, and SourceAccountObjectSid an
// on-premises SID, kept in Account for the report when there is no UPN.
//
// IdentityProtectionEvent, an identity incident (Category "Incidents": IncidentType,
// IdentityProtectionIncidentId, State, UserName): the user is UserName, the account the
// incident is about, with no role. It is a SAM account name as often as not (Elastic's
// CrowdStrike integration samples it as "TESTUSER"), so it is reported in Account: a bare
// login is addressable only with DEFAULT_UPN_SUFFIX, and otherwise fails to an operator.
// Acted on: State NEW, IN_PROGRESS and any other; an incident in State RESOLVED,
// DISMISSED or CLOSED names its user as closed.
// https://github.com/elastic/integrations/tree/main/packages/crowdstrike (falcon pipeline
// tests: test-falcon-ipd-summary.log, test-falcon-identity-protection-incident.log)
//
// Not read: the body a Falcon Fusion SOAR workflow's webhook action (the CrowdStrike Store
// "Webhook" integration) posts, {"meta": {...}, "data": {...}}. Public receivers of it read
// meta.trigger_name and meta.trigger_category, and for an endpoint detection
// data["detections.user_name"], data["detections.hostname"]... (a Teams relay plugin);
// PagerTree's reads data members its users compose in the workflow. No published sample
// shows what data holds for an identity detection (the workflow's trigger names the fields
// Trigger.Category.Investigatable.Product.IDP.SourceAccountName, ...ObjectSid, as Event
// Streams does, but how the action names them in data is not shown), and what data holds is
// the workflow author's choice. So such a body stays unrecognised, to the failure queue,
// with falconNotificationHint saying why and what to do instead.

const crowdStrikeIdentity = "crowdstrike-identity"

const (
	csIdpDetection  = "IdpDetectionSummaryEvent"
	csIdentityEvent = "IdentityProtectionEvent"
)

// csClosedStates are the incident states that need no action.
var csClosedStates = [...]string{"RESOLVED", "DISMISSED", "CLOSED"}

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

type crowdStrikeIdentityIncident struct {
	IncidentID   string          `json:"IdentityProtectionIncidentId"`
	IncidentType string          `json:"IncidentType"`
	SeverityName string          `json:"SeverityName"`
	Severity     json.RawMessage `json:"Severity"`
	UserName     string          `json:"UserName"`
	State        string          `json:"State"`
}

// crowdStrikeEventType is metadata.eventType when it is one of the identity events.
func crowdStrikeEventType(top delivery.Object) string {
	if !top.Has("event") {
		return ""
	}
	m := top.Get("metadata")
	for _, t := range [...]string{csIdpDetection, csIdentityEvent} {
		if bytes.Contains(m, []byte(t)) && delivery.Unquote(delivery.Member(m, "eventType")) == t {
			return t
		}
	}
	return ""
}

func init() {
	register(Format{
		Name:  crowdStrikeIdentity,
		Match: func(d *Document) bool { return crowdStrikeEventType(d.Top) != "" },
		Extract: func(d *Document) ([]Alert, error) {
			if crowdStrikeEventType(d.Top) == csIdentityEvent {
				return extractCrowdStrikeIncident(d)
			}
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

func extractCrowdStrikeIncident(d *Document) ([]Alert, error) {
	var e crowdStrikeIdentityIncident
	if err := decodeTopMember(crowdStrikeIdentity, d.Top, "event", &e); err != nil {
		return nil, err
	}
	a := Alert{Format: crowdStrikeIdentity, ID: e.IncidentID, Title: e.IncidentType, Severity: firstPresent(e.SeverityName, scalarText(e.Severity))}
	if e.UserName != "" {
		p := Principal{Account: e.UserName}
		for _, st := range csClosedStates {
			if strings.EqualFold(e.State, st) {
				p.Closed = "the identity incident is " + strings.ToLower(st) + " (State " + st + ")"
			}
		}
		a.Principals = append(a.Principals, p)
	}
	return []Alert{a}, nil
}

// falconNotificationHint explains, in an unrecognised-payload error, a Falcon Fusion
// webhook notification: "" for anything else. It names keys only, never a value.
func falconNotificationHint(d *Document) string {
	meta, data := d.Top.Get("meta"), d.Top.Get("data")
	if len(meta) == 0 || meta[0] != '{' || len(data) == 0 || data[0] != '{' {
		return ""
	}
	pushed := d.Envelope.DetailType == crowdStrikeDetailType
	if !pushed && delivery.Member(meta, "trigger_name") == nil && delivery.Member(meta, "trigger_category") == nil {
		return ""
	}
	return "; this looks like a CrowdStrike Falcon Fusion webhook notification ({\"meta\", \"data\"}), whose data holds the fields its workflow chose: " +
		"no format reads it (no published sample shows it for identity detections). Send identity detections as Falcon Event Streams' " +
		csIdpDetection + " ({\"metadata\", \"event\"}), or describe the workflow's data with an ALERT_MAPPINGS rule matching detail-type " +
		strconv.Quote(crowdStrikeDetailType)
}

// crowdStrikeDetailType is the detail-type the webhook endpoint's crowdstrike path puts.
var crowdStrikeDetailType = func() string {
	s, _ := sources.ByName("crowdstrike")
	return s.DetailType
}()
