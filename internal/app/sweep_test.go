package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/graphemu"
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

func TestSweepRiskyUsers(t *testing.T) {
	c := newContainerOn(t, nil, nil, graphemu.WithPageSize(2))
	res, err := c.result(t, fixture(t, "sweep/risky-users.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := expected(riskyHigh)
	if len(want) == 0 {
		t.Fatal("the emulator's directory has no high-risk user at risk: the test would prove nothing")
	}
	if got := by(res.Targets, outcome.Revoked); !slices.Equal(got, want) {
		t.Errorf("revoked %v, want %v", got, want)
	}
	if res.Sweep == nil || !res.Sweep.Complete || res.Sweep.Listed != len(want) || len(res.Targets) != len(want) {
		t.Fatalf("sweep %+v, %d targets", res.Sweep, len(res.Targets))
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
	c := newContainerOn(t, map[string]string{"PROTECTED_USERS": protected}, nil, graphemu.WithPageSize(2))
	res, err := c.result(t, fixture(t, "sweep/offboarding-group.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := by(res.Targets, outcome.Revoked); !slices.Equal(got, members[1:]) {
		t.Errorf("revoked %v, want %v", got, members[1:])
	}
	skipped := by(res.Targets, outcome.Skipped)
	for _, u := range append(guests, protected) {
		if !slices.Contains(skipped, u) {
			t.Errorf("%s not skipped: %v", u, statuses(res))
		}
	}
	for _, r := range c.emu.Requests() {
		// The protected account is resolved once (to its object id); nobody else is looked up.
		if strings.HasPrefix(r.Path, "/v1.0/users/") && r.Method == http.MethodGet && !strings.EqualFold(r.Path, "/v1.0/users/"+protected) {
			t.Errorf("looked up %s: the listing's userType should have been enough", r.Path)
		}
	}
}

// Over MAX_TARGETS_PER_SWEEP nobody is revoked and the invocation fails.
func TestSweepBlastRadius(t *testing.T) {
	c := newContainerOn(t, map[string]string{"MAX_TARGETS_PER_SWEEP": "1"}, nil, graphemu.WithPageSize(2))
	_, err := c.invoke(t, fixture(t, "sweep/offboarding-group.json"))
	if err == nil || !strings.Contains(err.Error(), "MAX_TARGETS_PER_SWEEP=1") || !strings.Contains(err.Error(), "nobody was revoked") {
		t.Fatalf("err = %v", err)
	}
	if n := len(revokes(c.emu)); n != 0 {
		t.Errorf("%d revoke calls", n)
	}
}

// An approved sweep with too little time per invocation does one page per run, resumes
// from the state table, and reaches every member exactly once.
func TestSweepContinuesAcrossInvocations(t *testing.T) {
	members, _ := expected(inGroup)
	c := newContainerOn(t, map[string]string{"STATE_TABLE": stateTable(t)}, nil, graphemu.WithPageSize(1))
	payload := []byte(`{"sweep": {"name": "offboarding-all", "group": "` + offboardingGroup + `", "approved": true}}`)
	var revoked []string
	var runs int
	for runs = 1; runs <= 10; runs++ {
		// Less than the 20 s a sweep keeps in reserve: it stops after each page.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "sweep-run"})
		out, err := c.h.Invoke(ctx, payload)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v", runs, err)
		}
		res := decode(t, out)
		if res.Sweep.Pages != 1 || res.Sweep.Resumed != (runs > 1) {
			t.Fatalf("run %d: sweep %+v", runs, res.Sweep)
		}
		revoked = append(revoked, by(res.Targets, outcome.Revoked)...)
		if res.Sweep.Complete {
			break
		}
		if !res.Sweep.Continues {
			t.Fatalf("run %d: neither complete nor continuing: %+v", runs, res.Sweep)
		}
	}
	sort.Strings(revoked)
	if !slices.Equal(revoked, members) {
		t.Errorf("revoked over %d runs: %v, want each member once: %v", runs, revoked, members)
	}
	// Complete: a new run starts the sweep afresh.
	if res := decode(t, mustInvoke(t, c, payload)); res.Sweep.Resumed {
		t.Errorf("after completion the sweep resumed: %+v", res.Sweep)
	}
}

// A throttled listing page waits Retry-After and goes on.
func TestSweepListingThrottled(t *testing.T) {
	c := newContainerOn(t, nil, nil, graphemu.WithPageSize(2))
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListRiskyUsers, Status: http.StatusTooManyRequests, RetryAfter: "0.5"})
	start := time.Now()
	res, err := c.result(t, fixture(t, "sweep/risky-users.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("took %v: Retry-After 0.5 not waited", d)
	}
	if want, _ := expected(riskyHigh); !slices.Equal(by(res.Targets, outcome.Revoked), want) {
		t.Errorf("revoked %v, want %v", by(res.Targets, outcome.Revoked), want)
	}
}

// A listing Graph refuses (403: the app lacks GroupMember.Read.All) fails the run with
// Graph's reason and revokes nobody.
func TestSweepListingDenied(t *testing.T) {
	c := newContainerOn(t, nil, nil)
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListMembers, Status: http.StatusForbidden})
	_, err := c.invoke(t, fixture(t, "sweep/offboarding-group.json"))
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v", err)
	}
	if n := len(revokes(c.emu)); n != 0 {
		t.Errorf("%d revoke calls", n)
	}
}

func mustInvoke(t *testing.T, c *container, payload []byte) []byte {
	t.Helper()
	out, err := c.invoke(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decode(t *testing.T, out []byte) outcome.Result {
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
