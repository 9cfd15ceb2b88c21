package app_test

import (
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/graphemu"
)

// This file's name sorts last, so its test runs after every other test of the package,
// the fault suite included, and reads all their log lines.

// TestZLogsHoldNoSecrets reads every log line of this package's tests for the client
// secrets used and any bearer token.
func TestZLogsHoldNoSecrets(t *testing.T) {
	all := logs.String()
	if !strings.Contains(all, `"msg":"target"`) {
		t.Fatal("no audit lines captured: the scan would prove nothing")
	}
	for _, s := range []string{graphemu.DefaultClientSecret, "Bearer ", "access_token", "wrong-secret-value-123", "hunter2-abc", "hunter3-xyz"} {
		if strings.Contains(all, s) {
			t.Errorf("logs contain %q", s)
		}
	}
}
