package app_test

// The guardrails tried as an adversary would: inconsistent alerts, repeated ones, and
// requests on the wrong channel, each through the real handler, the emulator and moto.
// Each test names the point of issue 10 it reproduces.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

const (
	breakglassID  = "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42"
	breakglassUPN = "breakglass01@contoso.onmicrosoft.com"
	guestID       = "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16"
	adeleUPN      = "AdeleV@contoso.onmicrosoft.com"
	alexID        = "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"
)

// graphAlert is a Graph security alert naming users by (object id, UPN) pairs.
func graphAlert(id string, pairs ...[2]string) []byte {
	var ev []string
	for _, p := range pairs {
		ev = append(ev, fmt.Sprintf(`{"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["compromised"], "userAccount": {"azureAdUserId": %q, "userPrincipalName": %q}}`, p[0], p[1]))
	}
	return []byte(fmt.Sprintf(`{"@odata.type": "#microsoft.graph.security.alert", "id": %q, "title": "Impossible travel activity", "severity": "high", "evidence": [%s]}`, id, strings.Join(ev, ",")))
}

// revokedKeys are the users a revoke reached, as sent.
func revokedKeys(emu *graphemu.Server) []string {
	var out []string
	for _, r := range emu.Requests() {
		if k, ok := strings.CutSuffix(r.Path, "/revokeSignInSessions"); ok && r.Status == 200 {
			out = append(out, strings.ToLower(strings.TrimPrefix(k, "/v1.0/users/")))
		}
	}
	return out
}

// Issue 10.1: the alert pairs the break-glass account's real object id with another UPN
// (renamed, or a Sentinel entity built from Name@UPNSuffix), and a guest's object id with a
// member-looking UPN. Graph is asked about the object id that would be sent.
func TestPairingsAreCheckedInGraph(t *testing.T) {
	ct := newContainer(t, map[string]string{"PROTECTED_USERS": breakglassUPN}, nil)
	res, err := ct.result(t, graphAlert("a-pairs", [2]string{breakglassID, adeleUPN}, [2]string{guestID, "MeganB@contoso.onmicrosoft.com"}, [2]string{alexID, "alex.old@contoso.onmicrosoft.com"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{breakglassUPN + " skipped", "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com skipped", "AlexW@contoso.onmicrosoft.com revoked"}
	if got := statuses(res); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if !strings.Contains(res.Targets[0].Reason, "protected") || !strings.Contains(res.Targets[0].Reason, "the alert gave UPN "+adeleUPN) {
		t.Errorf("break-glass reason %q", res.Targets[0].Reason)
	}
	if got := revokedKeys(ct.emu); len(got) != 1 || got[0] != alexID {
		t.Errorf("revokes %v, want only %s, by its object id", got, alexID)
	}
	for _, o := range res.Targets {
		if o.Status == outcome.Revoked && o.UserID == guestID {
			t.Error("a guest was reported revoked")
		}
	}
}

// Issue 10.2: an incident whose alerts all name the same user is one user, not eleven.
func TestRepeatedMentionsAreOneUser(t *testing.T) {
	ct := newContainer(t, map[string]string{"MAX_TARGETS_PER_ALERT": "10"}, nil)
	var alerts []string
	for i := 0; i < 11; i++ {
		alerts = append(alerts, string(graphAlert(fmt.Sprint("inner-", i), [2]string{"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", adeleUPN}, [2]string{"", "adelev@CONTOSO.onmicrosoft.com"})))
	}
	incident := fmt.Sprintf(`{"@odata.type": "#microsoft.graph.security.incident", "id": "inc-11", "displayName": "Multi-stage incident", "severity": "high", "alerts": [%s]}`, strings.Join(alerts, ","))
	res, err := ct.result(t, []byte(incident))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); len(got) != 1 || got[0] != adeleUPN+" revoked" {
		t.Errorf("got %v, want one user revoked", got)
	}
	if n := len(revokedKeys(ct.emu)); n != 1 {
		t.Errorf("%d revokes", n)
	}
}

// Issue 10.3: a revoke that fails leaves nothing that suppresses the retry.
func TestFailedRevokeDoesNotSuppressTheRetry(t *testing.T) {
	ct := newContainer(t, map[string]string{"STATE_TABLE": stateTable(t), "SUPPRESS_MINUTES": "30"}, nil)
	ct.emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: alexID, Status: 403, Times: 1})
	if _, err := ct.invoke(t, riskDetection(t, "evt-fail")); err == nil || !strings.Contains(err.Error(), "Authorization_RequestDenied") {
		t.Fatalf("first attempt: %v", err)
	}
	// Lambda's retry of the same event: the revoke runs, it is not suppressed.
	res, err := ct.result(t, riskDetection(t, "evt-fail"))
	if err != nil || res.Targets[0].Status != outcome.Revoked {
		t.Fatalf("retry: %v %+v", err, res.Targets)
	}
	// Issue 10.11: the same user named by object id in another alert is suppressed.
	res, err = ct.result(t, []byte(`{"userId": "`+alexID+`"}`))
	if err != nil || res.Targets[0].Status != outcome.Suppressed {
		t.Fatalf("by object id within the window: %v %+v", err, res.Targets)
	}
}

// Issue 10.4: SQS records are keyed by their messageId, never by an id inside the body.
func TestSQSRecordsAreKeyedByMessageID(t *testing.T) {
	ct := newContainer(t, map[string]string{"STATE_TABLE": stateTable(t)}, nil)
	body := func(upn string) string {
		b, _ := json.Marshal(fmt.Sprintf(`{"version": "0", "id": "same-id-for-both", "detail-type": "Session Revocation Requested", "source": "soar", "account": "1", "time": "2026-12-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {"userId": %q}}`, upn))
		return string(b)
	}
	for i, upn := range []string{"AlexW@contoso.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com"} {
		out, err := ct.invoke(t, []byte(fmt.Sprintf(`{"Records": [{"messageId": "m-%d", "eventSource": "aws:sqs", "body": %s}]}`, i, body(upn))))
		if err != nil || string(out) != `{"batchItemFailures":[]}` {
			t.Fatalf("record %d: %s %v", i, out, err)
		}
	}
	if got := revokedKeys(ct.emu); len(got) != 2 {
		t.Errorf("revokes %v: the second message was replayed from the first's result", got)
	}
}

// Issue 10.6: alerts each under MAX_TARGETS_PER_ALERT, together over the per-delivery and
// per-window limits, stop there; the breaker, once tripped, holds for later deliveries
// and an operator's reset lifts it.
func TestCircuitBreaker(t *testing.T) {
	env := map[string]string{"STATE_TABLE": stateTable(t), "MAX_REVOKES_PER_DELIVERY": "3", "MAX_REVOKES_PER_WINDOW": "4", "REVOKE_WINDOW_MINUTES": "10"}
	ct := newContainer(t, env, nil)
	var list []string
	for _, u := range []string{"AdeleV", "AlexW", "MeganB", "LeeG", "DiegoS"} {
		list = append(list, fmt.Sprintf(`{"@odata.type": "#microsoft.graph.riskDetection", "id": "rd-%s", "riskEventType": "impossibleTravel", "riskLevel": "high", "userPrincipalName": "%s@contoso.onmicrosoft.com"}`, u, u))
	}
	_, err := ct.invoke(t, []byte(`{"value": [`+strings.Join(list, ",")+`]}`))
	if n := len(revokedKeys(ct.emu)); n != 3 {
		t.Fatalf("a delivery of 5 one-user alerts revoked %d users, want MAX_REVOKES_PER_DELIVERY=3", n)
	}
	if err == nil || !strings.Contains(err.Error(), "MAX_REVOKES_PER_DELIVERY=3") {
		t.Fatalf("want the delivery limit named: %v", err)
	}
	// The next delivery: one more fits the window of 4, the one after trips it.
	if _, err := ct.invoke(t, []byte(`{"userId": "PattiF@contoso.onmicrosoft.com"}`)); err != nil {
		t.Fatalf("fourth revoke in the window: %v", err)
	}
	_, err = ct.invoke(t, []byte(`{"userId": "IsaiahL@contoso.onmicrosoft.com"}`))
	if err == nil || !strings.Contains(err.Error(), "circuit breaker tripped") {
		t.Fatalf("fifth revoke in the window: %v", err)
	}
	// Still tripped for the next delivery.
	_, err = ct.invoke(t, []byte(`{"userId": "JohannaL@contoso.onmicrosoft.com"}`))
	if err == nil || !strings.Contains(err.Error(), "circuit breaker tripped until") {
		t.Fatalf("after the trip: %v", err)
	}
	if n := len(revokedKeys(ct.emu)); n != 4 {
		t.Errorf("%d revokes, want 4", n)
	}
	// An operator's approved request is not stopped, and an operator can reset.
	res, err := ct.result(t, []byte(`{"userId": "IsaiahL@contoso.onmicrosoft.com", "approved": true, "reason": "confirmed by the SOC"}`))
	if err != nil || res.Targets[0].Status != outcome.Revoked {
		t.Fatalf("approved while tripped: %v %+v", err, res)
	}
	if !strings.Contains(ct.log.String(), `"msg":"approval accepted"`) {
		t.Error("the approval was not logged")
	}
	if _, err := ct.invoke(t, []byte(`{"breaker": "reset", "reason": "rule 42 fixed"}`)); err != nil {
		t.Fatalf("reset: %v", err)
	}
	res, err = ct.result(t, []byte(`{"userId": "JohannaL@contoso.onmicrosoft.com"}`))
	if err != nil || res.Targets[0].Status != outcome.Revoked {
		t.Fatalf("after the reset: %v %+v", err, res)
	}
}

// Issue 10.7: approval, sweeps and breaker resets are an operator's, accepted only on a
// direct invocation; from the queue or the bus they are refused, and nothing runs.
func TestApprovalOnlyOnTheDirectChannel(t *testing.T) {
	ct := newContainer(t, map[string]string{"MAX_TARGETS_PER_ALERT": "1"}, nil)
	approved := `{"users": ["AdeleV@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com"], "approved": true}`
	sweepReq := `{"sweep": {"name": "offboarding", "group": "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15", "approved": true}}`
	reset := `{"breaker": "reset"}`
	pollReq := `{"poll": {"name": "graph", "alerts": {}}}`
	envelope := func(detail string) string {
		return `{"version": "0", "id": "e-1", "detail-type": "Session Revocation Requested", "source": "soar", "account": "1", "time": "2026-12-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": ` + detail + `}`
	}
	sqs := func(body string) string {
		b, _ := json.Marshal(body)
		return `{"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": ` + string(b) + `}]}`
	}
	for name, payload := range map[string]string{
		"approval on the bus": envelope(approved), "approval on the queue": sqs(approved), "approval in a Pipes batch": "[" + approved + "]",
		"sweep on the bus": envelope(sweepReq), "sweep on the queue": sqs(sweepReq),
		"breaker reset on the queue": sqs(reset), "poll on the bus": envelope(pollReq), "poll on the queue": sqs(pollReq),
	} {
		t.Run(name, func(t *testing.T) {
			ct.emu.ResetRequests()
			out, err := ct.invoke(t, []byte(payload))
			switch {
			case strings.Contains(payload, `"Records"`):
				if err != nil || !strings.Contains(string(out), `"itemIdentifier":"m-1"`) {
					t.Errorf("the record was not failed back: %s %v", out, err)
				}
				if !strings.Contains(ct.log.String(), "accepted only on a direct invocation") {
					t.Error("the refusal was not logged")
				}
			case err == nil || !strings.Contains(err.Error(), "accepted only on a direct invocation"):
				t.Errorf("want refused, got %v", err)
			}
			if r := revokes(ct.emu); len(r) != 0 {
				t.Errorf("revoked: %v", r)
			}
		})
	}
	// On the direct channel the same approval runs, and is logged.
	res, err := ct.result(t, []byte(approved))
	if err != nil || res.Summary[outcome.Revoked] != 2 {
		t.Fatalf("direct: %v %v", err, res.Summary)
	}
}

// Issue 10.11: our own tenant id written {UPPER-CASE} is our tenant.
func TestTenantIdForms(t *testing.T) {
	ct := newContainer(t, map[string]string{"TENANT_ID": "{" + strings.ToUpper(graphemu.DefaultTenantID) + "}"}, nil)
	res, err := ct.result(t, fixture(t, "sentinel-security-alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Targets {
		if strings.Contains(o.Reason, "tenant") {
			t.Errorf("%s: %s", o.UserPrincipalName, o.Reason)
		}
	}
	// Another tenant's alert: the users are not in this tenant, and Graph says so.
	ct.emu.ResetRequests()
	res, err = ct.result(t, fixture(t, "sentinel-security-alert-other-tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Targets {
		if o.Status != outcome.NotFound || !strings.Contains(o.Reason, "places this user in tenant 9e3b7c2d") {
			t.Errorf("%+v", o)
		}
	}
	if r := revokes(ct.emu); len(r) != 0 {
		t.Errorf("revoked another tenant's users: %v", r)
	}
}

// Issue 10.11: a Retry-After beyond any deadline defers instead of retrying at once.
func TestHugeRetryAfterDefers(t *testing.T) {
	ct := newContainer(t, nil, nil)
	ct.emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, Status: 429, RetryAfter: "100000", Times: -1})
	_, err := ct.invoke(t, []byte(`{"userId": "AlexW@contoso.onmicrosoft.com"}`))
	if err == nil || !strings.Contains(err.Error(), "deferred") {
		t.Fatalf("want deferred, got %v", err)
	}
	if n := len(revokes(ct.emu)); n != 1 {
		t.Errorf("%d revoke calls: Graph asked to wait a day", n)
	}
}

// Issue 10.11: after a rotation, the secret's refresh (which sleeps seconds and ignores
// the context in the caching library) never runs past the invocation's deadline.
func TestSecretRefreshKeepsTheDeadline(t *testing.T) {
	ct := newContainer(t, nil, func(e *graphemu.Server) string {
		return fmt.Sprintf(`{"tenantId":%q,"clientId":%q,"clientSecret":"old-secret-before-rotation"}`, e.TenantID, e.ClientID)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-refresh"})
	_, err := ct.handler.Handle(ctx, []byte(`{"userId": "AlexW@contoso.onmicrosoft.com"}`))
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("with the old secret: %v", err)
	}
	if left := time.Until(deadline); left < 2*time.Second {
		t.Errorf("returned %v before the deadline: the refresh ate the margin", left)
	}
}

// The handler's outcome for every named user is exactly one, whatever the mix.
func TestOneOutcomePerUser(t *testing.T) {
	ct := newContainer(t, nil, nil)
	res, err := ct.result(t, []byte(`{"users": ["AlexW@contoso.onmicrosoft.com", "`+alexID+`", "alexw@CONTOSO.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); strings.Join(got, "|") != "AlexW@contoso.onmicrosoft.com revoked|MeganB@contoso.onmicrosoft.com revoked" {
		t.Errorf("got %v", got)
	}
}
