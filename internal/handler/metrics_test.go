package handler

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/session-revoker/session-revoker/internal/outcome"
)

// TestMetricsAreValidEMF checks the record against the embedded metric format's rules:
// every metric named under _aws has a top-level value, every dimension too.
func TestMetricsAreValidEMF(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil)).With("requestId", "r-1")
	res := &outcome.Result{Targets: []outcome.Outcome{
		{Format: "graph-security-alert", Status: outcome.Revoked, Attempts: 2, Throttled: 1, DurationMS: 40},
		{Format: "graph-security-alert", Status: outcome.Skipped},
		{Format: "direct", Status: outcome.Failed, Attempts: 4, DurationMS: 900},
	}}
	emitMetrics(log, tallyOf(res.Targets))
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d records, want one per format", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal(lines[0], &rec); err != nil {
		t.Fatal(err)
	}
	aws := rec["_aws"].(map[string]any)
	cwm := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if cwm["Namespace"] != "SessionRevoker" {
		t.Errorf("namespace %v", cwm["Namespace"])
	}
	sets := map[string]bool{}
	for _, dims := range cwm["Dimensions"].([]any) {
		b, _ := json.Marshal(dims)
		sets[string(b)] = true
		for _, d := range dims.([]any) {
			if _, ok := rec[d.(string)].(string); !ok {
				t.Errorf("dimension %v has no string value", d)
			}
		}
	}
	// The template's alarms watch each function across all formats.
	if !sets[`["FunctionName"]`] || !sets[`["FunctionName","Format"]`] {
		t.Errorf("dimension sets %v, want per function and per function and format", sets)
	}
	for _, m := range cwm["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		if _, ok := rec[name]; !ok {
			t.Errorf("metric %s has no value", name)
		}
	}
	if rec["Revoked"].(float64) != 1 || rec["Skipped"].(float64) != 1 || rec["Throttled"].(float64) != 1 || rec["Format"] != "graph-security-alert" || rec["requestId"] != "r-1" {
		t.Errorf("record %s", lines[0])
	}
	if lat := rec["GraphLatency"].([]any); len(lat) != 1 || lat[0].(float64) != 40 {
		t.Errorf("latency %v", lat)
	}
}
