package revoke

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/policy"
)

// TestDebugLinePerGraphCall: at DEBUG each call has its line with its status and Graph's
// request id (the lookup, then a throttled revoke and its retry); at INFO none is written.
func TestDebugLinePerGraphCall(t *testing.T) {
	for level, want := range map[slog.Level][]string{slog.LevelDebug: {"GET user 2xx", "POST revokeSignInSessions 429", "POST revokeSignInSessions 2xx"}, slog.LevelInfo: nil} {
		var buf bytes.Buffer
		g := newGraph()
		g.revoke[adeleID] = []error{throttled, nil}
		s := &sleeps{}
		Run(context.Background(), decide(policy.Settings{}, upn(adeleUPN)), connectTo(g),
			Options{Sleep: s.sleep, Log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))})
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if buf.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(want) {
			t.Fatalf("level %v: %d lines, want %d:\n%s", level, len(lines), len(want), buf.String())
		}
		for i, w := range want {
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
				t.Fatal(err)
			}
			if got := rec["op"].(string) + " " + rec["status"].(string); rec["msg"] != "graph call" || got != w || rec["graphRequestId"] == "" {
				t.Errorf("line %d: %s, want %s", i, lines[i], w)
			}
		}
	}
}
