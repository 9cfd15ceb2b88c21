package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/handler"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// The sweeps run over the real SDK against the emulator's listings (paged two users at a
// time, so every test follows @odata.nextLink), with the state table in moto.

const offboardingGroup = "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"

// expected reads the emulator's own directory: the users a sweep must reach, so the
// tests do not hard-code who is risky or in the group.
func expected(keep func(graphemu.User) bool) (members, guests []string) {
	for _, u := range graphemu.DefaultUsers() {
		if !keep(u) {
			continue
		}
		if u.UserType == "Guest" {
			guests = append(guests, strings.ToLower(u.UserPrincipalName))
		} else {
			members = append(members, strings.ToLower(u.UserPrincipalName))
		}
	}
	sort.Strings(members)
	sort.Strings(guests)
	return members, guests
}

func inGroup(u graphemu.User) bool { return slices.Contains(u.Groups, offboardingGroup) }

func riskyHigh(u graphemu.User) bool {
	return u.RiskLevel == "high" && (u.RiskState == "atRisk" || u.RiskState == "confirmedCompromised")
}

// by lists the UPNs of targets in a status, lowercased and sorted.
func by(targets []outcome.Outcome, st outcome.Status) []string {
	var out []string
	for _, t := range targets {
		if t.Status == st {
			out = append(out, strings.ToLower(t.UserPrincipalName))
		}
	}
	sort.Strings(out)
	return out
}

func listings(emu *graphemu.Server) []string {
	var out []string
	for _, r := range emu.Requests() {
		if strings.Contains(r.Path, "/riskyUsers") || strings.Contains(r.Path, "/transitiveMembers/") {
			out = append(out, r.RawPath+"?"+r.RawQuery)
		}
	}
	return out
}

// sweepContainer is a container with the state table, the sweep queue and the failure
// queue in moto, as the template deploys them.
type sweepContainer struct {
	*container
	sqs                     *sqs.Client
	queueURL, queueARN, dlq string
}

func newSweepContainer(t *testing.T, env map[string]string, opts ...graphemu.Option) *sweepContainer {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(cfg)
	n := secret.Add(1)
	mk := func(name string) (string, string) {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("%s-%d", name, n))})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		return *out.QueueUrl, attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	sc := &sweepContainer{sqs: q}
	sc.queueURL, sc.queueARN = mk("sweep-work")
	sc.dlq, _ = mk("failed-alerts")
	vars := map[string]string{"STATE_TABLE": stateTable(t), "SWEEP_QUEUE_URL": sc.queueURL, "SWEEP_QUEUE_ARN": sc.queueARN, "FAILURE_QUEUE_URL": sc.dlq}
	for k, v := range env {
		vars[k] = v
	}
	sc.container = newContainerOn(t, vars, nil, opts...)
	return sc
}

// drain consumes the sweep queue as the event source mapping does: one record an
// invocation, deleted when handled, made visible again when it fails, given up on (as the
// redrive policy would) after eight receives. It returns when the queue stays empty.
func (c *sweepContainer) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for empty, n := 0, 0; empty < 2; n++ {
		if n > 10000 {
			t.Fatal("the sweep queue never drained")
		}
		out, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.queueURL), MaxNumberOfMessages: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		m := out.Messages[0]
		body, _ := json.Marshal(aws.ToString(m.Body))
		receives := m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]
		event := fmt.Sprintf(`{"Records": [{"messageId": %q, "receiptHandle": "h", "eventSource": "aws:sqs", "eventSourceARN": %q, "attributes": {"ApproximateReceiveCount": %q}, "body": %s}]}`,
			aws.ToString(m.MessageId), c.queueARN, receives, body)
		raw, err := c.invoke(t, []byte(event))
		if err != nil {
			t.Fatalf("the sweep queue's record: %v", err)
		}
		var resp handler.BatchResponse
		json.Unmarshal(raw, &resp)
		if len(resp.BatchItemFailures) == 0 || receives == "8" {
			c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle})
		} else {
			c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		}
	}
}

// sweep starts a sweep, runs it to the end and returns its status and every user's
// outcome, read from the audit lines (a result keeps only a sample).
func (c *sweepContainer) sweep(t *testing.T, payload []byte) (outcome.Result, []outcome.Outcome) {
	t.Helper()
	start := decode(t, mustInvoke(t, c.container, payload))
	if start.Sweep.Status != "started" {
		t.Fatalf("not started: %+v", start.Sweep)
	}
	c.drain(t)
	status := decode(t, mustInvoke(t, c.container, []byte(`{"sweepStatus": "`+start.Sweep.Name+`"}`)))
	return status, audited(t, c.log.String())
}

// audited reads the outcome of every target line in a log.
func audited(t testing.TB, log string) []outcome.Outcome {
	t.Helper()
	var out []outcome.Outcome
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var l struct {
			Msg, UserID, UserPrincipalName, Identifier, Status, Reason, AlertID string
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "target" {
			continue
		}
		out = append(out, outcome.Outcome{UserID: l.UserID, UserPrincipalName: l.UserPrincipalName, Identifier: l.Identifier, Status: outcome.Status(l.Status), Reason: l.Reason, AlertID: l.AlertID})
	}
	return out
}

func TestSweepRiskyUsers(t *testing.T) {
	c := newSweepContainer(t, nil, graphemu.WithPageSize(2))
	status, targets := c.sweep(t, fixture(t, "sweep/risky-users.json"))
	want, _ := expected(riskyHigh)
	if len(want) == 0 {
		t.Fatal("the emulator's directory has no high-risk user at risk: the test would prove nothing")
	}
	if got := by(targets, outcome.Revoked); !slices.Equal(got, want) {
		t.Errorf("revoked %v, want %v", got, want)
	}
	if status.Sweep.Status != "complete" || status.Sweep.Listed != len(want) || status.Summary[outcome.Revoked] != len(want) {
		t.Fatalf("status %+v %v", status.Sweep, status.Summary)
	}
	ls := listings(c.emu)
	if len(ls) == 0 || !strings.Contains(ls[0], "filter=%28riskLevel+eq+%27high%27%29+and+") || !strings.Contains(ls[0], "top=100") {
		t.Errorf("listing requests %v: want the filter sent to Graph", ls)
	}
	if len(revokes(c.emu)) != len(want) {
		t.Errorf("revoke calls %v", revokes(c.emu))
	}
}

// A group sweep skips guests (from the listing's userType, no lookup), keeps protected
// accounts, and revokes the members.
func TestSweepGroup(t *testing.T) {
	members, guests := expected(inGroup)
	if len(members) < 2 || len(guests) == 0 {
		t.Fatalf("group %s has members %v, guests %v: want two members and a guest", offboardingGroup, members, guests)
	}
	protected := members[0]
	c := newSweepContainer(t, map[string]string{"PROTECTED_USERS": protected}, graphemu.WithPageSize(2))
	_, targets := c.sweep(t, fixture(t, "sweep/offboarding-group.json"))
	if got := by(targets, outcome.Revoked); !slices.Equal(got, members[1:]) {
		t.Errorf("revoked %v, want %v", got, members[1:])
	}
	skipped := by(targets, outcome.Skipped)
	for _, u := range append(guests, protected) {
		if !slices.Contains(skipped, u) {
			t.Errorf("%s not skipped: %v", u, targets)
		}
	}
	for _, r := range c.emu.Requests() {
		// The protected account is resolved once (to its object id); nobody else is looked up.
		if strings.HasPrefix(r.Path, "/v1.0/users/") && r.Method == http.MethodGet && !strings.EqualFold(r.Path, "/v1.0/users/"+protected) {
			t.Errorf("looked up %s: the listing's userType should have been enough", r.Path)
		}
	}
}

// An inline list (the fixture an incident team would send): members revoked, the guest
// skipped, a line that names nobody and a duplicate each reported with its number.
func TestSweepInlineUsers(t *testing.T) {
	c := newSweepContainer(t, nil)
	status, targets := c.sweep(t, fixture(t, "sweep/inline-users.json"))
	if got, want := by(targets, outcome.Revoked), []string{"diegos@contoso.onmicrosoft.com", "leeg@contoso.onmicrosoft.com"}; !slices.Equal(got, want) {
		t.Errorf("revoked %v, want %v", got, want)
	}
	if got := by(targets, outcome.Skipped); !slices.Equal(got, []string{"pradeep_fabrikam.com#ext#@contoso.onmicrosoft.com"}) {
		t.Errorf("skipped %v, want the guest", got)
	}
	var bad []string
	for _, o := range targets {
		if o.Status == outcome.Failed {
			bad = append(bad, o.Reason)
		}
	}
	if len(bad) != 2 || !strings.Contains(strings.Join(bad, "|"), "line 4") || !strings.Contains(strings.Join(bad, "|"), "line 5") {
		t.Errorf("failed lines %q, want lines 4 and 5", bad)
	}
	if status.Sweep.Status != "complete" || status.Summary[outcome.Revoked] != 2 || status.Summary[outcome.Failed] != 2 || status.Summary[outcome.Skipped] != 1 {
		t.Errorf("status %+v %v", status.Sweep, status.Summary)
	}
	if n := len(revokes(c.emu)); n != 2 {
		t.Errorf("%d revoke calls", n)
	}
}

// Over MAX_TARGETS_PER_SWEEP nobody is revoked and the invocation fails.
func TestSweepBlastRadius(t *testing.T) {
	c := newSweepContainer(t, map[string]string{"MAX_TARGETS_PER_SWEEP": "1"}, graphemu.WithPageSize(2))
	_, err := c.invoke(t, fixture(t, "sweep/offboarding-group.json"))
	if err == nil || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=1") || !strings.Contains(err.Error(), "nobody was revoked") {
		t.Fatalf("err = %v", err)
	}
	if n := len(revokes(c.emu)); n != 0 {
		t.Errorf("%d revoke calls", n)
	}
}

// An approved sweep over a listing of one member a page: every member reached exactly
// once, whatever the number of steps, and a second run after the first is a new run.
func TestSweepApprovedRunsToTheEnd(t *testing.T) {
	members, _ := expected(inGroup)
	c := newSweepContainer(t, nil, graphemu.WithPageSize(1))
	payload := []byte(`{"sweep": {"name": "offboarding-all", "group": "` + offboardingGroup + `", "approved": true}}`)
	status, targets := c.sweep(t, payload)
	revoked := by(targets, outcome.Revoked)
	if !slices.Equal(revoked, members) {
		t.Errorf("revoked %v, want each member once: %v", revoked, members)
	}
	if status.Sweep.Status != "complete" || status.Sweep.Chunks != len(members)+1 {
		t.Errorf("status %+v", status.Sweep)
	}
	first := status.Sweep.Run
	again, _ := c.sweep(t, payload)
	if again.Sweep.Run == first {
		t.Error("the second run took up the first")
	}
}

// A throttled listing page waits Retry-After and goes on.
func TestSweepListingThrottled(t *testing.T) {
	c := newSweepContainer(t, nil, graphemu.WithPageSize(2))
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListRiskyUsers, Status: http.StatusTooManyRequests, RetryAfter: "0.5"})
	start := time.Now()
	_, targets := c.sweep(t, fixture(t, "sweep/risky-users.json"))
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("took %v: Retry-After 0.5 not waited", d)
	}
	if want, _ := expected(riskyHigh); !slices.Equal(by(targets, outcome.Revoked), want) {
		t.Errorf("revoked %v, want %v", by(targets, outcome.Revoked), want)
	}
}

// A listing Graph refuses (403: the app lacks GroupMember.Read.All) fails the run with
// Graph's reason and revokes nobody.
func TestSweepListingDenied(t *testing.T) {
	c := newSweepContainer(t, nil)
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListMembers, Status: http.StatusForbidden})
	_, err := c.invoke(t, fixture(t, "sweep/offboarding-group.json"))
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v", err)
	}
	if n := len(revokes(c.emu)); n != 0 {
		t.Errorf("%d revoke calls", n)
	}
}

func mustInvoke(t testing.TB, c *container, payload []byte) []byte {
	t.Helper()
	out, err := c.invoke(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decode(t testing.TB, out []byte) outcome.Result {
	t.Helper()
	var res outcome.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("result is not JSON: %v: %s", err, out)
	}
	if res.Sweep == nil {
		t.Fatalf("no sweep progress in %s", out)
	}
	return res
}
