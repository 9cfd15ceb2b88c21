package alert

import (
	"reflect"
	"testing"
)

// GuardDuty findings name AWS principals: recognised, with no users, so the handler fails
// the invocation and the failure destination keeps the event.
func TestGuardDutyFixtures(t *testing.T) {
	want := []Alert{{
		Format: "guardduty", ID: "16c9a3f4e2b8d07a5c1e9f6b3d2a8c4e",
		Title:    "Anomalous behavior: secrets listed and read by an IAM user with unusual credentials access.",
		Severity: "5", Principals: []Principal{}, NoUsers: awsPrincipalsOnly,
	}}
	if got := recogniseFile(t, "guardduty.json"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestGuardDutyBareFinding(t *testing.T) {
	got, err := recogniseInline(t, `{"schemaVersion":"2.0","id":"g-1","arn":"arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/g-1","type":"Recon:IAMUser/MaliciousIPCaller","service":{"serviceName":"guardduty"},"severity":2.5,"title":"t"}`)
	if err != nil {
		t.Fatal(err)
	}
	if a := got[0]; a.Format != "guardduty" || a.ID != "g-1" || a.Severity != "2.5" || len(a.Principals) != 0 {
		t.Errorf("got %+v", a)
	}
	// Another service's event with the same detail-type spelling is not GuardDuty's.
	if _, err := recogniseInline(t, `{"id":"e","source":"contoso.relay","detail-type":"GuardDuty Finding","detail":{"schemaVersion":"2.0","service":{},"arn":"arn:aws:inspector2:x"}}`); err == nil {
		t.Error("recognised a finding whose arn is not GuardDuty's")
	}
}

func BenchmarkFormat_guardduty(b *testing.B) {
	benchRecogniseEvent(b, "guardduty.json")
}

func FuzzRecognise_guardduty(f *testing.F) {
	fuzzRecogniseEvents(f, "guardduty.json")
}
