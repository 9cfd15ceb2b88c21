package alert

import (
	"bytes"
	"errors"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// AWS Security Hub CSPM findings in the AWS Security Finding Format (ASFF): "Security Hub
// Findings - Imported" and "Security Hub Findings - Custom Action" events.
// https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-cwe-event-formats.html
//
// ASFF names AWS resources and IAM principals (users, roles, access keys), not Entra ID
// users: Graph cannot revoke their sessions, and revoking an Entra user would not end an
// AWS STS session either. The finding is recognised, so the report names it rather than
// calling it unknown, and returned with no users: the handler then fails the invocation
// ("names no user") and the event lands in the failure destination. Contain these in AWS
// (deactivate the access key, revoke the role's sessions).

const securityHubASFF = "securityhub-asff"

func init() {
	register(Format{
		Name: securityHubASFF,
		Match: func(d *Document) bool {
			if d.Envelope.Source == securityHubSource {
				return d.Envelope.DetailType == "Security Hub Findings - Imported" || d.Envelope.DetailType == "Security Hub Findings - Custom Action"
			}
			// A bare detail: ASFF findings, told from OCSF ones by their required members.
			f := d.Top.Get("findings")
			return len(f) > 0 && f[0] == '[' && bytes.Contains(f, []byte(`"SchemaVersion"`)) &&
				bytes.Contains(f, []byte(`"ProductArn"`)) && !bytes.Contains(f, []byte(`"class_uid"`))
		},
		Extract: func(d *Document) ([]Alert, error) {
			// Only Id, Title and Severity.Label are read, in place: an ASFF finding is
			// mostly resource details.
			var alerts []Alert
			delivery.EachObject(d.Top.Get("findings"), func(f []byte) error {
				alerts = append(alerts, Alert{
					Format: securityHubASFF, ID: delivery.Unquote(delivery.Member(f, "Id")), Title: delivery.Unquote(delivery.Member(f, "Title")),
					Severity: delivery.Unquote(delivery.Member(delivery.Member(f, "Severity"), "Label")), Principals: []Principal{},
					NoUsers: awsPrincipalsOnly,
				})
				return nil
			})
			if len(alerts) == 0 {
				return nil, errors.New(`securityhub-asff: "findings" holds no finding object`)
			}
			return alerts, nil
		},
	})
}
