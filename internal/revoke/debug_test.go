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
// request id; at INFO none is written.
func TestDebugLinePerGraphCall(t *testing.T) {
	for level, want := range map[slog.Level]int{slog.LevelDebug: 2, slog.LevelInfo: 0} {
		var buf bytes.Buffer
		g := &fakeGraph{revoke: map[string][]error{"a@contoso.com": {throttled, nil}}}
		s := &sleeps{}
		Run(context.Background(), []policy.Decision{revokeUPN("a@contoso.com")}, connectTo(g),
			Options{Sleep: s.sleep, Log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))})
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if buf.Len() == 0 {
			lines = nil
		}
		if len(lines) != want {
			t.Fatalf("level %v: %d lines, want %d:\n%s", level, len(lines), want, buf.String())
		}
		for i, wantStatus := range []string{"429", "2xx"}[:want] {
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["msg"] != "graph call" || rec["status"] != wantStatus || rec["op"] != "POST revokeSignInSessions" ||
				rec["graphRequestId"] == "" || rec["userPrincipalName"] != "a@contoso.com" || rec["attempt"] != float64(i+1) {
				t.Errorf("line %d: %s", i, lines[i])
			}
		}
	}
}
