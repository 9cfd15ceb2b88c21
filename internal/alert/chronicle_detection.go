package alert

import (
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/identity"
)

// Google Security Operations (Chronicle) rule detection, as the Detection Engine API
// returns and streams it: {"type": "RULE_DETECTION", "id": "de_...", "detection": [...],
// "collectionElements": [{"references": [{"event": <UDM event>}]}]}. Curated detections
// ("GCTI_FINDING") have the same shape.
// https://cloud.google.com/chronicle/docs/reference/detection-engine-api
//
// Users are UDM principal.user and target.user of the referenced events, with userid,
// email_addresses, product_object_id and windows_sid (camelCase in API responses,
// snake_case in UDM exports; both are read), and the rule's match variables in
// detection[].detectionFields when a key names a user ("user", "userid", "email", ...).
// UDM has no UPN or Entra-id field, so one value per user goes in Account: an address-like
// userid or email first, then the userid, a GUID product_object_id, windows_sid.
//
// Roles, per event: target is "a target entity being referenced by the event" and
// principal "the acting entity". A target user is the victim ("attacked"; for USER_LOGIN
// events the user who signed in is the target). A principal user is "contextual" when the
// same event has a target user (the admin who changed them), and otherwise the subject,
// with no role: the rule fired on activity in that user's own context (a mass download,
// a process launch). A rule's match variable names the detection's subject: no role.
//
// Acted on: detections whose rule alerts (detection[].alertState ALERTING, or none said).
// A detection of a rule set NOT_ALERTING is one its author chose not to be alerted about
// (a rule in testing, a building block): its users are closed.

const chronicleDetection = "chronicle-detection"

type chronicleField struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func init() {
	register(Format{
		Name: chronicleDetection,
		Match: func(d *Document) bool {
			t := string(d.Top.Get("type"))
			return (t == `"RULE_DETECTION"` || t == `"GCTI_FINDING"`) && d.Top.IsArray("detection")
		},
		Extract: extractChronicle,
	})
}

func extractChronicle(d *Document) ([]Alert, error) {
	a := Alert{Format: chronicleDetection, ID: d.Top.String("id")}
	// detection[] carries URLs and rule versions nobody reads: scanned in place, and only
	// the match variables (and, when needed, the rule labels) decoded.
	first := true
	closed := ""
	err := delivery.EachTopLevel(d.Top.Get("detection"), func(det delivery.Object) error {
		var fields []chronicleField
		if err := decodeTopMember(chronicleDetection, det, "detectionFields", &fields); err != nil {
			return err
		}
		if first {
			first = false
			if st := det.String("alertState"); strings.EqualFold(st, "NOT_ALERTING") {
				closed = "the rule does not alert (alertState NOT_ALERTING): a detection its author chose not to act on"
			}
			a.Title = det.String("ruleName")
			sev, err := chronicleSeverity(det)
			if err != nil {
				return err
			}
			a.Severity = sev
		}
		for _, f := range fields {
			if chronicleUserKey(f.Key) && f.Value != "" {
				a.Principals = append(a.Principals, Principal{Account: f.Value})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The referenced UDM events are most of a detection: each is scanned in place, down
	// to its principal.user and target.user, and nothing is decoded but email lists.
	err = delivery.EachObject(d.Top.Get("collectionElements"), func(element []byte) error {
		return delivery.EachObject(delivery.Member(element, "references"), func(ref []byte) error {
			event := delivery.Member(ref, "event")
			principal, err := udmAccount(delivery.Member(event, "principal"))
			if err != nil {
				return err
			}
			target, err := udmAccount(delivery.Member(event, "target"))
			if err != nil {
				return err
			}
			if principal != "" {
				p := Principal{Account: principal}
				if target != "" {
					p.Roles = []string{"contextual"}
				}
				a.Principals = append(a.Principals, p)
			}
			if target != "" {
				a.Principals = append(a.Principals, Principal{Account: target, Roles: []string{"attacked"}})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for i := range a.Principals {
		a.Principals[i].Closed = closed
	}
	return []Alert{a}, nil
}

// chronicleSeverity is the detection's severity, else its rule's severity label, else
// its risk score.
func chronicleSeverity(det delivery.Object) (string, error) {
	if s := det.String("severity"); s != "" {
		return s, nil
	}
	var labels []chronicleField
	if err := decodeTopMember(chronicleDetection, det, "ruleLabels", &labels); err != nil {
		return "", err
	}
	for _, l := range labels {
		if strings.EqualFold(l.Key, "severity") && l.Value != "" {
			return l.Value, nil
		}
	}
	if s := scalarText(det.Get("riskScore")); s != "" {
		return "riskScore " + s, nil
	}
	return "", nil
}

// udmAccount is the one identifier of a UDM noun's user (principal or target): an
// address-like userid or email, else the userid, else a GUID product_object_id, else the
// windows_sid. A login comes before an object id because policy can complete a login with
// the configured UPN suffix, and product_object_id is whatever the source calls its key
// (an Okta id looks like a login and is used only when nothing else is there). Fields are
// camelCase in API responses and snake_case in UDM exports; both are read.
func udmAccount(noun []byte) (string, error) {
	raw := delivery.Member(noun, "user")
	if !startsObject(raw) {
		return "", nil
	}
	user := delivery.TopLevel(raw)
	userid := user.String("userid")
	if firstAddressLike(userid) != "" {
		return userid, nil
	}
	for _, key := range [...]string{"emailAddresses", "email_addresses"} {
		var emails []string
		if err := decodeTopMember(chronicleDetection, user, key, &emails); err != nil {
			return "", err
		}
		if email := firstAddressLike(emails...); email != "" {
			return email, nil
		}
	}
	if userid != "" {
		return userid, nil
	}
	id := firstPresent(user.String("productObjectId"), user.String("product_object_id"))
	if identity.IsObjectID(id) {
		return id, nil
	}
	return firstPresent(user.String("windowsSid"), user.String("windows_sid"), id), nil
}

// chronicleUserKey reports whether a match variable's key names a user, by the names rule
// authors commonly give one; other match variables (hosts, IPs) are not users.
func chronicleUserKey(key string) bool {
	switch strings.ToLower(strings.TrimPrefix(key, "$")) {
	case "user", "userid", "user_id", "username", "user_name", "email", "user_email", "email_address", "upn",
		"principal.user.userid", "principal.user.email_addresses", "target.user.userid", "target.user.email_addresses":
		return true
	}
	return false
}
