package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

// stateTable creates a fresh state table in moto, as the template defines it.
func stateTable(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("session-revoker-state-%d", secret.Add(1))
	if err := moto.CreateStateTable(ctx, dynamodb.NewFromConfig(cfg), name); err != nil {
		t.Fatal(err)
	}
	return name
}

// riskDetection is the fixture with its own EventBridge id, as a second alert for the
// same user would arrive.
func riskDetection(t *testing.T, eventID string) []byte {
	return []byte(strings.Replace(string(fixture(t, "entra-risk-detection.json")), "a3d5f7b9-1c2e-4f6a-8b0d-9e7c5a3f1b28", eventID, 1))
}

func TestSuppressionWindow(t *testing.T) {
	ct := newContainer(t, map[string]string{"STATE_TABLE": stateTable(t), "SUPPRESS_MINUTES": "30"}, nil)
	res, err := ct.result(t, riskDetection(t, "evt-1"))
	if err != nil || res.Targets[0].Status != outcome.Revoked || len(res.Notes) != 0 {
		t.Fatalf("first alert: %v %+v %v", err, res.Targets, res.Notes)
	}
	// The user signs in again from the VPN; impossible travel fires again.
	res, err = ct.result(t, riskDetection(t, "evt-2"))
	if err != nil || res.Targets[0].Status != outcome.Suppressed || !strings.Contains(res.Targets[0].Reason, "SUPPRESS_MINUTES=30") {
		t.Fatalf("second alert: %v %+v", err, res.Targets)
	}
	if n := len(revokes(ct.emu)); n != 1 {
		t.Errorf("%d revoke calls, want 1", n)
	}
}

func TestRedeliveryReturnsTheStoredResult(t *testing.T) {
	ct := newContainer(t, map[string]string{"STATE_TABLE": stateTable(t)}, nil)
	first, err := ct.result(t, fixture(t, "graph-security-alert.json"))
	if err != nil || first.Replayed {
		t.Fatal(err)
	}
	again, err := ct.result(t, fixture(t, "graph-security-alert.json"))
	if err != nil || !again.Replayed || again.Targets[0].Status != outcome.Revoked || again.Targets[0].RequestID != first.Targets[0].RequestID {
		t.Fatalf("redelivery: %v %+v", err, again)
	}
	if n := len(revokes(ct.emu)); n != 1 {
		t.Errorf("%d revoke calls for one event delivered twice", n)
	}

	// An unhandled delivery is given back: Lambda's retry runs it again.
	ct.emu.SetDenied("AlexW@contoso.onmicrosoft.com")
	for i := 0; i < 2; i++ {
		if _, err := ct.invoke(t, fixture(t, "entra-risk-detection.json")); err == nil || !strings.Contains(err.Error(), "Authorization_RequestDenied") {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if n := len(revokes(ct.emu)); n != 3 {
		t.Errorf("the retry of a failed delivery did not run again: %d revoke calls", n)
	}
}

func TestStateTableMissingFailsClosed(t *testing.T) {
	ct := newContainer(t, map[string]string{"STATE_TABLE": "no-such-table"}, nil)
	_, err := ct.invoke(t, fixture(t, "entra-risk-detection.json"))
	if err == nil || !strings.Contains(err.Error(), "no-such-table") {
		t.Fatalf("want an error naming the table, got %v", err)
	}
	if n := len(revokes(ct.emu)); n != 0 {
		t.Errorf("revoked with the state unreadable: %d calls", n)
	}
}

func TestNoStateTableSaysSo(t *testing.T) {
	ct := newContainer(t, nil, nil)
	res, err := ct.result(t, fixture(t, "entra-risky-user.json"))
	if err != nil || len(res.Notes) != 3 || strings.Count(strings.Join(res.Notes, " "), "STATE_TABLE") != 2 {
		t.Fatalf("%v notes %q", err, res.Notes)
	}
}
