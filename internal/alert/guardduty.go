package alert

import "bytes"

// Amazon GuardDuty findings as EventBridge delivers them ("GuardDuty Finding" from
// aws.guardduty), or the bare finding.
// https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings_eventbridge.html
//
// Like ASFF (see securityhub_asff.go) a GuardDuty finding names IAM users, roles, access
// keys and instances, never an Entra ID user: it is recognised and returned with no users,
// so the handler fails the invocation ("names no user") and the failure destination keeps
// the event for someone to contain in AWS.

const guardDuty = "guardduty"

func init() {
	register(Format{
		Name: guardDuty,
		Match: func(d *Document) bool {
			if d.Envelope.Source == "aws.guardduty" {
				return d.Envelope.DetailType == "GuardDuty Finding"
			}
			return d.Top.Has("schemaVersion") && d.Top.Has("service") && bytes.Contains(d.Top.Get("arn"), []byte(":guardduty:"))
		},
		Extract: func(d *Document) ([]Alert, error) {
			return []Alert{{
				Format: guardDuty, ID: d.Top.String("id"), Title: d.Top.String("title"),
				Severity: scalarText(d.Top.Get("severity")), Principals: []Principal{},
				NoUsers: awsPrincipalsOnly,
			}}, nil
		},
	})
}

// awsPrincipalsOnly is why GuardDuty and Security Hub ASFF findings revoke nobody here.
const awsPrincipalsOnly = "these findings name AWS IAM principals, not Entra users: nothing to revoke through Graph; respond in AWS (deactivate the access keys, revoke the role's sessions)"
