package alert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSecurityHubV2Fixtures(t *testing.T) {
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// A partner's OCSF Detection Finding: not from Entra, so the SID uid and the mail
		// stay unclaimed and the UPN-like name is the Account.
		{"securityhub-v2.json", []Alert{{
			Format: "securityhub-v2", ID: "arn:aws:securityhub:us-east-1:123456789012:finding/3c1e5a7b-9d2f-4b6e-8a0c-4e6a8c0e2b59",
			Title: "Unusual login from a new location after credential scanning", Severity: "High",
			Principals: []Principal{{Account: "PattiF@contoso.onmicrosoft.com", Roles: []string{"attacked"}}},
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

func TestSecurityHubV2Findings(t *testing.T) {
	envelope := func(detailType, detail string) string {
		return `{"id":"evt-1","source":"aws.securityhub","detail-type":"` + detailType + `","detail":` + detail + `}`
	}
	t.Run("authentication finding and a bare detail", func(t *testing.T) {
		detail := `{"findings":[{"class_uid":3002,"status_id":1,"activity_id":1,"metadata":{"uid":"m-1"},"user":{"name":"MeganB@contoso.onmicrosoft.com"}},` +
			`{"class_uid":2004,"finding_info":{"uid":"f-2","title":"t"},"evidences":[{"actor":{"user":{"name":"LeeG@contoso.onmicrosoft.com"}}}]}]}`
		want := []Alert{
			{Format: "securityhub-v2", ID: "m-1", Title: "Authentication: Logon (Success)", Principals: []Principal{{Account: "MeganB@contoso.onmicrosoft.com", Roles: []string{"compromised"}}}},
			{Format: "securityhub-v2", ID: "f-2", Title: "t", Principals: []Principal{{Account: "LeeG@contoso.onmicrosoft.com", Roles: []string{"compromised"}}}},
		}
		for _, payload := range []string{envelope("Findings Imported V2", detail), detail} {
			expectAlerts(t, payload, want)
		}
	})
	errs := map[string]struct {
		payload string
		want    string
	}{
		"compliance finding": {envelope("Findings Imported V2", `{"findings":[{"class_uid":2003,"compliance":{"status":"FAILED"},"finding_info":{"title":"sekret-value"}}]}`), `"findings"[0]: securityhub-v2: not an OCSF Detection Finding`},
		"empty":              {envelope("Findings Imported V2", `{"findings":[]}`), "no JSON object"},
		"not an object":      {envelope("Findings Imported V2", `{"findings":["sekret-value"]}`), "no JSON object"},
		"bad member":         {envelope("Findings Imported V2", `{"findings":[{"class_uid":2004,"evidences":"sekret-value"}]}`), `"findings"[0]: securityhub-v2: "evidences"`},
		"bad member, second": {envelope("Findings Imported V2", `{"findings":[{"class_uid":3002,"user":{"name":"x@contoso.com"}},{"class_uid":2004,"evidences":"sekret-value"}]}`), `"findings"[1]: securityhub-v2: "evidences"`},
		"other detail-type":  {envelope("Security Hub Insight Results", `{"insightArn":"arn","insightName":"sekret-value"}`), "unrecognised"},
	}
	for name, c := range errs {
		t.Run(name, func(t *testing.T) {
			_, err := recogniseInline(t, c.payload)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "sekret") {
				t.Errorf("error %q echoes a value", err)
			}
		})
	}
	if _, err := recogniseInline(t, envelope("Security Hub Insight Results", `{"a":1}`)); !errors.Is(err, ErrUnrecognised) {
		t.Errorf("err = %v, want ErrUnrecognised", err)
	}
	// A compliance finding beside a detection: the detection is read, the other reported.
	alerts, err := recogniseInline(t, envelope("Findings Imported V2", `{"findings":[{"class_uid":2003,"finding_info":{"uid":"c-1"}},`+
		`{"class_uid":2004,"finding_info":{"uid":"f-2"},"evidences":[{"user":{"name":"LeeG@contoso.onmicrosoft.com"}}]}]}`))
	var items *ItemErrors
	if !errors.As(err, &items) || len(items.Items) != 1 || items.Items[0].Index != 0 || len(alerts) != 1 || alerts[0].ID != "f-2" {
		t.Errorf("alerts %+v, err %v; want f-2 read and findings[0] reported", alerts, err)
	}
}

func BenchmarkFormat_securityhubV2(b *testing.B) {
	benchRecogniseEvent(b, "securityhub-v2.json")
}

func FuzzRecognise_securityhubV2(f *testing.F) {
	fuzzRecogniseEvents(f, "securityhub-v2.json")
}
