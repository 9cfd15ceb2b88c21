package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"poll": {"name": "graph"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.LookBack != time.Hour || s.Overlap != 15*time.Minute || s.DryRun {
		t.Errorf("%+v", s)
	}
	if !reflect.DeepEqual(s.AlertRules, normalAlertRules(DefaultAlertRules)) || !reflect.DeepEqual(s.RiskRules, normalRiskRules(DefaultRiskRules)) {
		t.Errorf("rules %+v %+v", s.AlertRules, s.RiskRules)
	}
	for _, r := range s.AlertRules {
		if !reflect.DeepEqual(r.Statuses, []string{"new", "inProgress"}) {
			t.Errorf("%s: statuses %v: a resolved alert must not trigger by default", r.Name, r.Statuses)
		}
	}
	for _, r := range s.RiskRules {
		if !reflect.DeepEqual(r.RiskStates, []string{"atRisk", "confirmedCompromised"}) {
			t.Errorf("%s: states %v", r.Name, r.RiskStates)
		}
	}
	if got := s.Sources(); !reflect.DeepEqual(got, []Source{Alerts, RiskDetections}) {
		t.Errorf("sources %v", got)
	}
}

func TestParseOwnRules(t *testing.T) {
	s, err := Parse([]byte(`{"poll": {"name": "mdca", "lookBackMinutes": 1440, "overlapMinutes": 5, "dryRun": true,
		"alerts": [{"name": "mdca-any", "serviceSources": ["microsoftDefenderForCloudApps"], "severities": ["Medium", "high"], "statuses": ["new"]}],
		"riskDetections": []}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.LookBack != 24*time.Hour || s.Overlap != 5*time.Minute || !s.DryRun || len(s.RiskRules) != 0 {
		t.Errorf("%+v", s)
	}
	if got := s.AlertRules[0].Severities; !reflect.DeepEqual(got, []string{"medium", "high"}) {
		t.Errorf("severities %v: spelt as Graph does", got)
	}
	if got := s.Sources(); !reflect.DeepEqual(got, []Source{Alerts}) {
		t.Errorf("an empty riskDetections list must turn the source off: %v", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"not an object":      {`{"poll": []}`, "must be a JSON object"},
		"no name":            {`{"poll": {}}`, `"name"`},
		"bad name":           {`{"poll": {"name": "a/b"}}`, `"name"`},
		"case-variant key":   {`{"poll": {"name": "g", "Alerts": []}}`, `unknown field "Alerts"`},
		"duplicate key":      {`{"poll": {"name": "g", "dryRun": true, "dryRun": false}}`, `"dryRun" is given twice`},
		"other top level":    {`{"poll": {"name": "g"}, "users": ["x@y.z"]}`, `unknown field "users"`},
		"twice at top":       {`{"poll": {"name": "g"}, "poll": {"name": "h"}}`, "given twice"},
		"misspelt":           {`{"poll": {"name": "g", "lookback": 5}}`, `unknown field "lookback"`},
		"look-back too long": {`{"poll": {"name": "g", "lookBackMinutes": 1441}}`, "lookBackMinutes"},
		"overlap zero":       {`{"poll": {"name": "g", "overlapMinutes": 0}}`, "overlapMinutes"},
		"wrong type":         {`{"poll": {"name": "g", "lookBackMinutes": "60"}}`, "wrong JSON type"},
		"both off":           {`{"poll": {"name": "g", "alerts": [], "riskDetections": []}}`, "read nothing"},
		"rule without condition": {`{"poll": {"name": "g", "alerts": [{"name": "all", "statuses": ["new"]}]}}`,
			"no condition"},
		"risk rule without condition": {`{"poll": {"name": "g", "riskDetections": [{"name": "all", "riskStates": ["atRisk"]}]}}`,
			"no condition"},
		"unknown severity":  {`{"poll": {"name": "g", "alerts": [{"name": "x", "severities": ["critical"]}]}}`, `"critical" is not one of`},
		"unknown level":     {`{"poll": {"name": "g", "riskDetections": [{"name": "x", "riskLevels": ["severe"]}]}}`, "is not one of"},
		"unknown timing":    {`{"poll": {"name": "g", "riskDetections": [{"name": "x", "riskLevels": ["high"], "detectionTimingTypes": ["late"]}]}}`, "is not one of"},
		"source not a name": {`{"poll": {"name": "g", "alerts": [{"name": "x", "serviceSources": ["../x"]}]}}`, "letters and digits"},
		"star inside title": {`{"poll": {"name": "g", "alerts": [{"name": "x", "titles": ["Imp*travel"]}]}}`, "'*' only at the end"},
		"control in title":  {`{"poll": {"name": "g", "alerts": [{"name": "x", "titles": ["a\u0007b"]}]}}`, "printable"},
		"duplicate rule":    {`{"poll": {"name": "g", "alerts": [{"name": "x", "severities": ["high"]}, {"name": "x", "severities": ["low"]}]}}`, "used twice"},
		"rule key case":     {`{"poll": {"name": "g", "alerts": [{"name": "x", "Severities": ["high"]}]}}`, `unknown field "Severities"`},
		"rules not a list":  {`{"poll": {"name": "g", "alerts": {"name": "x"}}}`, "list of rules"},
		"trailing data":     {`{"poll": {"name": "g"}} {}`, "after the object"},
	} {
		_, err := Parse([]byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	s, err := Parse([]byte(`{"poll": {"name": "g"}}`))
	if err != nil {
		t.Fatal(err)
	}
	travel := Facts{Title: "Impossible travel activity", Severity: "high", Status: "new"}
	for name, c := range map[string]struct {
		src  Source
		f    Facts
		rule string
	}{
		"impossible travel, high, new":         {Alerts, travel, "impossible-travel"},
		"title in another case":                {Alerts, Facts{Title: "IMPOSSIBLE TRAVEL ACTIVITY", Severity: "high", Status: "inProgress"}, "impossible-travel"},
		"medium severity":                      {Alerts, Facts{Title: travel.Title, Severity: "medium", Status: "new"}, ""},
		"resolved":                             {Alerts, Facts{Title: travel.Title, Severity: "high", Status: "resolved"}, ""},
		"no status":                            {Alerts, Facts{Title: travel.Title, Severity: "high"}, ""},
		"cookie theft":                         {Alerts, Facts{Title: "Stolen session cookie was used", Severity: "high", Status: "new"}, "token-theft"},
		"another title":                        {Alerts, Facts{Title: "Suspicious inbox forwarding", Severity: "high", Status: "new"}, ""},
		"unlikely travel, high, at risk":       {RiskDetections, Facts{RiskEventType: "unlikelyTravel", RiskLevel: "high", RiskState: "atRisk"}, "travel"},
		"anomalous token, confirmed":           {RiskDetections, Facts{RiskEventType: "anomalousToken", RiskLevel: "high", RiskState: "confirmedCompromised"}, "token"},
		"impossible travel, medium":            {RiskDetections, Facts{RiskEventType: "impossibleTravel", RiskLevel: "medium", RiskState: "atRisk"}, ""},
		"impossible travel, dismissed":         {RiskDetections, Facts{RiskEventType: "impossibleTravel", RiskLevel: "high", RiskState: "dismissed"}, ""},
		"impossible travel, level hidden":      {RiskDetections, Facts{RiskEventType: "impossibleTravel", RiskLevel: "hidden", RiskState: "atRisk"}, ""},
		"leaked credentials":                   {RiskDetections, Facts{RiskEventType: "leakedCredentials", RiskLevel: "high", RiskState: "atRisk"}, ""},
		"an alert's facts on the wrong source": {RiskDetections, travel, ""},
	} {
		rule, ok := s.Match(c.src, c.f)
		if rule != c.rule || ok != (c.rule != "") {
			t.Errorf("%s: %q %v, want %q", name, rule, ok, c.rule)
		}
	}

	// Prefixes, and every field a rule names must hold.
	s, err = Parse([]byte(`{"poll": {"name": "g", "riskDetections": [], "alerts": [{"name": "p", "titles": ["Suspicious*"],
		"serviceSources": ["microsoftDefenderForCloudApps"], "categories": ["InitialAccess"], "statuses": ["new", "inProgress", "resolved"]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	base := Facts{Title: "Suspicious inbox manipulation rule", ServiceSource: "microsoftDefenderForCloudApps", Category: "InitialAccess", Status: "resolved"}
	if _, ok := s.Match(Alerts, base); !ok {
		t.Error("prefix title did not match")
	}
	for _, f := range []Facts{
		{Title: "Unusual activity", ServiceSource: base.ServiceSource, Category: base.Category, Status: "new"},
		{Title: base.Title, ServiceSource: "microsoftDefenderForEndpoint", Category: base.Category, Status: "new"},
		{Title: base.Title, ServiceSource: base.ServiceSource, Status: "new"},
	} {
		if rule, ok := s.Match(Alerts, f); ok {
			t.Errorf("%+v matched %s", f, rule)
		}
	}
}

func TestFactsOf(t *testing.T) {
	alert := []byte(`{"id": "da1", "title": " Impossible travel activity ", "severity": "high", "status": "new", "serviceSource": "microsoftDefenderForCloudApps",
		"detectionSource": "cloudAppSecurity", "category": "InitialAccess", "lastUpdateDateTime": "2026-11-23T02:13:57.0033333Z", "lastUpdatedDateTime": "wrong"}`)
	f := FactsOf(Alerts, delivery.TopLevel(alert))
	want := Facts{ID: "da1", Title: "Impossible travel activity", Severity: "high", Status: "new", ServiceSource: "microsoftDefenderForCloudApps",
		DetectionSource: "cloudAppSecurity", Category: "InitialAccess", LastUpdate: "2026-11-23T02:13:57.0033333Z"}
	if f != want {
		t.Errorf("%+v", f)
	}
	risk := []byte(`{"id": "6a2b", "riskEventType": "impossibleTravel", "riskLevel": "high", "riskState": "atRisk", "detectionTimingType": "offline", "lastUpdatedDateTime": "2026-11-23T04:20:09.274Z"}`)
	f = FactsOf(RiskDetections, delivery.TopLevel(risk))
	if f != (Facts{ID: "6a2b", RiskEventType: "impossibleTravel", RiskLevel: "high", RiskState: "atRisk", DetectionTimingType: "offline", LastUpdate: "2026-11-23T04:20:09.274Z"}) {
		t.Errorf("%+v", f)
	}
}

func TestWindow(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 30, 0, time.UTC)
	for name, c := range map[string]struct {
		watermark time.Time
		from      time.Time
		note      string
	}{
		"first run":               {time.Time{}, now.Add(-time.Hour), "first run"},
		"a minute after the last": {now.Add(-16 * time.Minute), now.Add(-16 * time.Minute), ""},
		"hours of failures":       {now.Add(-5 * time.Hour), now.Add(-5 * time.Hour), ""},
		"just inside the bound":   {now.Add(-24 * time.Hour), now.Add(-24 * time.Hour), ""},
		"beyond the bound":        {now.Add(-72 * time.Hour), now.Add(-24 * time.Hour), "not read again"},
		"watermark in the future": {now.Add(time.Hour), now.Add(-15 * time.Minute), "later than now"},
	} {
		from, note := Window(c.watermark, now, time.Hour, 15*time.Minute)
		if !from.Equal(c.from) || (c.note == "") != (note == "") || !strings.Contains(note, c.note) {
			t.Errorf("%s: from %v %q, want %v %q", name, from, note, c.from, c.note)
		}
	}
	if got := Next(now, 15*time.Minute); !got.Equal(now.Add(-15 * time.Minute)) {
		t.Errorf("Next %v", got)
	}
}

func TestFirstPage(t *testing.T) {
	from := time.Date(2026, 11, 23, 2, 0, 0, 999_000_000, time.FixedZone("x", 3600))
	for src, want := range map[Source]string{
		Alerts:         "/security/alerts_v2?$filter=lastUpdateDateTime ge 2026-11-23T01:00:00Z&$top=100",
		RiskDetections: "/identityProtection/riskDetections?$filter=lastUpdatedDateTime ge 2026-11-23T01:00:00Z&$top=500",
	} {
		got, err := url.QueryUnescape(FirstPage(src, from))
		if err != nil || got != want {
			t.Errorf("%s: %s, want %s (UTC, the second rounded down, never up)", src, got, want)
		}
	}
}

func TestSameListing(t *testing.T) {
	for next, ok := range map[string]bool{
		"https://graph.microsoft.com/v1.0/security/alerts_v2?$top=100&$skip=100":            true,
		"https://graph.microsoft.com/v1.0/security/alerts_V2?$top=100&$skip=100":            true, // Graph's own docs spell it so
		"https://proxy.example/graph/v1.0/security/alerts_v2?$skip=2":                       true, // the client checks the root
		"https://graph.microsoft.com/v1.0/users?$skiptoken=x":                               false,
		"https://graph.microsoft.com/v1.0/security/alerts_v2/da1/comments":                  false,
		"https://graph.microsoft.com/v1.0/identityProtection/riskDetections?$skiptoken=abc": false,
		"http://graph.microsoft.com/v1.0/security/alerts_v2?$skip=2":                        false,
		"https://user@graph.microsoft.com/v1.0/security/alerts_v2":                          false,
		"/v1.0/security/alerts_v2?$skip=2":                                                  false,
		"https://graph.microsoft.com/v1.0/security/alerts_v2%2F..%2Fusers":                  false,
	} {
		if got := SameListing(Alerts, next); got != ok {
			t.Errorf("%s: %v, want %v", next, got, ok)
		}
	}
	if !SameListing(RiskDetections, "https://graph.microsoft.com/v1.0/identityProtection/riskDetections?$skiptoken=abc") {
		t.Error("risk detections' own next link refused")
	}
}

func TestKeys(t *testing.T) {
	a, _ := Parse([]byte(`{"poll": {"name": "g"}}`))
	b, _ := Parse([]byte(`{"poll": {"name": "g", "alerts": [{"name": "impossible-travel", "titles": ["Impossible travel activity"], "severities": ["high", "medium"]}]}}`))
	if a.WatermarkKey(Alerts, false) == a.WatermarkKey(Alerts, true) {
		t.Error("a dry run shares the live watermark")
	}
	if a.WatermarkKey(Alerts, false) == b.WatermarkKey(Alerts, false) {
		t.Error("changed rules keep the watermark: the alerts they now match would never be read")
	}
	if a.WatermarkKey(RiskDetections, false) != b.WatermarkKey(RiskDetections, false) {
		t.Error("a change to the alert rules moved the risk detections' watermark")
	}
	if AlertKey(Alerts, false, "x") == AlertKey(Alerts, true, "x") || AlertKey(Alerts, false, "x") == AlertKey(RiskDetections, false, "x") {
		t.Error("alert keys collide across modes or sources")
	}
}

func TestPacer(t *testing.T) {
	var clock time.Time
	var waited []time.Duration
	now := func() time.Time { return clock }
	sleep := func(_ context.Context, d time.Duration) error {
		waited = append(waited, d)
		clock = clock.Add(d)
		return nil
	}
	var p Pacer
	for range 3 {
		if err := p.Wait(context.Background(), RiskDetections, now, sleep); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(waited) != "[1s 1s]" {
		t.Errorf("waits %v: Identity Protection takes one request a second", waited)
	}
	waited = nil
	p.Wait(context.Background(), Alerts, now, sleep) // another source is not held up
	clock = clock.Add(time.Second)
	p.Wait(context.Background(), Alerts, now, sleep)
	if len(waited) != 0 {
		t.Errorf("waits %v", waited)
	}
}

// FuzzParse: any request is refused with an error or parsed into a spec that keeps the
// guardrails: every rule has a condition, values within their sets and bounds, and the
// spec survives a round trip through its own JSON.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"poll": {"name": "graph"}}`,
		`{"poll": {"name": "g", "lookBackMinutes": 30, "overlapMinutes": 5, "dryRun": true, "alerts": [{"name": "a", "titles": ["Impossible*"], "severities": ["HIGH"]}], "riskDetections": []}}`,
		`{"poll": {"name": "g", "riskDetections": [{"name": "r", "riskEventTypes": ["impossibleTravel"], "riskLevels": ["high"], "detectionTimingTypes": ["offline"], "riskStates": ["atRisk"]}]}}`,
		`{"poll": {"name": "g", "alerts": [{"name": "x", "statuses": ["new"]}]}}`,
		`{"poll": {"name": "g", "Alerts": []}}`,
		`{"poll": {"name": "g"}, "poll": {}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := Parse(body)
		if err != nil {
			if len(err.Error()) > 600 {
				t.Fatalf("an error of %d bytes", len(err.Error()))
			}
			return
		}
		if !delivery.ValidName(s.Name) || s.LookBack < time.Minute || s.LookBack > MaxCatchUp || s.Overlap < time.Minute || s.Overlap > MaxCatchUp {
			t.Fatalf("bounds: %+v", s)
		}
		if len(s.Sources()) == 0 {
			t.Fatal("a spec that reads nothing")
		}
		for _, r := range s.AlertRules {
			if checkAlertRule(&r) != nil || len(r.Statuses) == 0 {
				t.Fatalf("alert rule %+v", r)
			}
		}
		for _, r := range s.RiskRules {
			if checkRiskRule(&r) != nil || len(r.RiskStates) == 0 {
				t.Fatalf("risk rule %+v", r)
			}
		}
		again, err := Parse(requestOf(s))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, s, again)
		}
	})
}

func requestOf(s Spec) []byte {
	b, _ := json.Marshal(map[string]any{"poll": map[string]any{
		"name": s.Name, "lookBackMinutes": int(s.LookBack / time.Minute), "overlapMinutes": int(s.Overlap / time.Minute),
		"dryRun": s.DryRun, "alerts": s.AlertRules, "riskDetections": s.RiskRules,
	}})
	return b
}
