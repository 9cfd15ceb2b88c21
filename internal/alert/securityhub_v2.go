package alert

import (
	"bytes"
	"errors"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// AWS Security Hub "Findings Imported V2": {"findings": [<one OCSF finding>]} in the
// detail of an aws.securityhub event. Each finding is read as the OCSF format of its class.
// https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-v2-cwe-event-formats.html
//
// Findings from AWS's own services (GuardDuty, Inspector) name IAM principals in
// actor.user; they are reported like any other user and policy finds them unaddressable.
// Compliance and vulnerability findings name no users: an error says to narrow the rule.
// A finding that cannot be read is reported in an *ItemErrors; the others are still read.

const (
	securityHubV2     = "securityhub-v2"
	securityHubSource = "aws.securityhub"
)

func init() {
	register(Format{Name: securityHubV2, Match: matchSecurityHubV2, Extract: extractSecurityHubV2})
}

// matchSecurityHubV2 takes the event by its detail-type; without Security Hub's envelope
// (an input transformer passed only the detail) a findings list holding OCSF classes.
func matchSecurityHubV2(d *Document) bool {
	if d.Envelope.Source == securityHubSource {
		return d.Envelope.DetailType == "Findings Imported V2"
	}
	f := d.Top.Get("findings")
	return len(f) > 0 && f[0] == '[' && bytes.Contains(f, []byte(`"class_uid"`))
}

func extractSecurityHubV2(d *Document) ([]Alert, error) {
	findings := d.Top.Get("findings")
	if len(findings) == 0 || findings[0] != '[' {
		return nil, errors.New(`securityhub-v2: "findings" is missing or not a list; expected one OCSF finding`)
	}
	var alerts []Alert
	var failed *ItemErrors
	i := -1
	delivery.EachTopLevel(findings, func(top delivery.Object) error {
		i++
		var a Alert
		var err error
		switch string(top.Get("class_uid")) {
		case "2004":
			a, err = readOCSFDetectionFinding(securityHubV2, top)
		case "3002":
			a, err = readOCSFAuthentication(securityHubV2, top)
		default:
			err = errors.New("securityhub-v2: not an OCSF Detection Finding (class_uid 2004) or Authentication (3002): compliance and vulnerability findings name no users; match class_uid 2004 in the EventBridge rule")
		}
		if err != nil {
			failed = failed.add("findings", i, err)
			return nil
		}
		alerts = append(alerts, a)
		return nil
	})
	if i < 0 {
		return nil, errors.New(`securityhub-v2: "findings" holds no JSON object; expected one OCSF finding`)
	}
	return alerts, failed.orNil()
}
