package alert

import (
	"reflect"
	"testing"
)

// ASFF findings name AWS principals: recognised, with no users, so the handler fails the
// invocation and the failure destination keeps the event.
func TestSecurityHubASFFFixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		{"securityhub-asff.json", []Alert{{
			Format: "securityhub-asff",
			ID:     "arn:aws:guardduty:us-east-1:123456789012:detector/6ec7b2c4e8a1d3f5b7c9e0a2d4f6b8c1/finding/8ac7d9e1f3a5b7c9d1e3f5a7b9c1d3e5",
			Title:  "API GetSecretValue was invoked from an IP address on a custom threat list.", Severity: "MEDIUM",
			Principals: []Principal{}, NoUsers: awsPrincipalsOnly,
		}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			if got := recogniseFile(t, c.file); !reflect.DeepEqual(got, c.alerts) {
				t.Errorf("got  %+v\nwant %+v", got, c.alerts)
			}
		})
	}
}

func TestSecurityHubASFFShapes(t *testing.T) {
	finding := `{"SchemaVersion":"2018-10-08","Id":"f-1","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/inspector","Title":"t","Severity":{"Label":"LOW"},"AwsAccountId":"123456789012"}`
	want := []Alert{{Format: "securityhub-asff", ID: "f-1", Title: "t", Severity: "LOW", Principals: []Principal{}, NoUsers: awsPrincipalsOnly}}
	for name, payload := range map[string]string{
		"custom action": `{"id":"e","source":"aws.securityhub","detail-type":"Security Hub Findings - Custom Action","detail":{"actionName":"Revoke","actionDescription":"d","findings":[` + finding + `]}}`,
		"bare detail":   `{"findings":[` + finding + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			expectAlerts(t, payload, want)
		})
	}
}

func BenchmarkFormat_securityhubASFF(b *testing.B) {
	benchRecogniseEvent(b, "securityhub-asff.json")
}

func FuzzRecognise_securityhubASFF(f *testing.F) {
	fuzzRecogniseEvents(f, "securityhub-asff.json")
}
