package handler

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/policy"
)

// seeds are every fixture, bare and in each delivery shape AWS uses.
func seeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if len(files) == 0 {
		f.Fatal("no fixtures in events/")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		body, _ := json.Marshal(string(b))
		f.Add([]byte(`{"Records":[{"messageId":"m-1","body":` + string(body) + `,"eventSource":"aws:sqs"}]}`))
		f.Add([]byte(`[{"messageId":"p-1","body":` + string(body) + `,"eventSource":"aws:sqs"}]`))
		f.Add([]byte(`[` + string(b) + `]`))
	}
}

// FuzzExtract drives recognition of every delivery shape and format with arbitrary
// bytes. Whatever it accepts, a user marked for revoking has an identifier identity calls
// addressable, and every other user carries a reason.
func FuzzExtract(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		ex, err := Extract(payload, policy.Settings{})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		for _, a := range ex.Alerts {
			if a.Format == "" {
				t.Fatalf("alert without a format: %+v", a)
			}
			for _, p := range a.Principals {
				if p.Skip != "" {
					continue
				}
				key := p.UserID
				if key == "" {
					key = p.UserPrincipalName
				}
				if k, _ := identity.Classify(key); k != identity.ObjectID && k != identity.UPN {
					t.Fatalf("marked for revoking with %q (%v)", key, k)
				}
			}
		}
	})
}

func TestExtractFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	sweeps, _ := filepath.Glob(filepath.Join("..", "..", "events", "sweep", "*.json"))
	for _, file := range append(files, sweeps...) {
		b, _ := os.ReadFile(file)
		ex, err := Extract(b, policy.Settings{})
		var items *alert.ItemErrors
		if filepath.Base(file) == "graph-security-alerts-list-one-unreadable.json" {
			// The fixture of a page with one item no format reads: shown, and an error.
			if !errors.As(err, &items) || len(ex.Unread) != 1 || !strings.HasPrefix(ex.Unread[0], `"value"[1]: `) {
				t.Errorf("%s: err %v, unread %q", filepath.Base(file), err, ex.Unread)
			}
			err = nil
		}
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		if len(ex.Alerts) == 0 {
			t.Errorf("%s: no alert", filepath.Base(file))
		}
	}
}

// TestNegativeFixtures: alerts that must revoke nobody, with the settings an operator of
// the contoso tenant would deploy.
func TestNegativeFixtures(t *testing.T) {
	s := policy.Settings{TenantID: "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21"}
	// (sentinel-security-alert-other-tenant.json is not here: whether a user is another
	// tenant's is Graph's answer, not the alert's; internal/app shows it ends not-found.)
	for _, name := range []string{
		"sentinel-security-alert-system-only.json",
		"graph-security-alert-resolved.json",
		"entra-risk-detection-remediated.json",
		"datadog-recovered.json",
		"graph-incident-legacy.json",
		"guardduty.json",
		"securityhub-asff.json",
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		ex, err := Extract(b, s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, a := range ex.Alerts {
			for _, p := range a.Principals {
				if p.Skip == "" {
					t.Errorf("%s: %+v would be revoked", name, p)
				}
			}
		}
	}
}

// BenchmarkHostileRepeats is the offline half of the pipeline (validation, recognition,
// decisions) on payloads near the 1 MiB limit that name one user again and again: the
// repetition a noisy incident or a crafted alert brings. Target: linear, under 50 ms each.
func BenchmarkHostileRepeats(b *testing.B) {
	evidence := `{"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["compromised"], "userAccount": {"azureAdUserId": "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", "userPrincipalName": "AdeleV@contoso.onmicrosoft.com"}}`
	var ev []string
	for n := 0; n < (delivery.MaxPayload-200)/(len(evidence)+1); n++ {
		ev = append(ev, evidence)
	}
	graphAlert := `{"@odata.type": "#microsoft.graph.security.alert", "id": "a", "title": "t", "severity": "high", "evidence": [` + strings.Join(ev, ",") + `]}`
	var users []string
	for n := 0; n < (delivery.MaxPayload-200)/len(`"a@contoso.com",`); n++ {
		users = append(users, `"a@contoso.com"`)
	}
	splunk := `{"sid": "s", "search_name": "Impossible travel", "result": {"user": [` + strings.Join(users, ",") + `]}}`
	for name, payload := range map[string]string{"graph-alert-evidence": graphAlert, "splunk-multivalue": splunk} {
		b.Run(name, func(b *testing.B) {
			if len(payload) > delivery.MaxPayload {
				b.Fatalf("%d bytes: over the limit", len(payload))
			}
			b.SetBytes(int64(len(payload)))
			start := time.Now()
			for b.Loop() {
				ex, err := Extract([]byte(payload), policy.Settings{MaxTargetsPerAlert: 10})
				if err != nil || len(ex.Alerts) != 1 || len(ex.Alerts[0].Principals) != 1 {
					b.Fatalf("%v %+v", err, ex)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/payload")
		})
	}
}
