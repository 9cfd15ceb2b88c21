package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

// The scheduled poll through the real handler: Graph's alert listings on the emulator over
// TLS (paged one or two alerts at a time where paging matters), the state table in moto.

const (
	adele = "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"
	alex  = "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"
	megan = "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37"
	lee   = "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68"
	patti = "d8e3b6a1-4c7f-4d2e-9a8b-6e1f3c5d7a90"
	diego = "5f0e7c2a-9b3d-4e1f-8a6c-2d4b7e9f1a53"
	grady = "f1b3d5e7-9a2c-4e6f-8b1d-3c5e7a9b1d64"
)

// alertsOnly polls security alerts alone, with the default rules, so a test about them
// does not wait for Identity Protection's one request a second.
var alertsOnly = []byte(`{"poll": {"name": "graph", "riskDetections": []}}`)

func pollTable(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("session-revoker-poll-%d", secret.Add(1))
	if err := moto.CreateStateTable(ctx, dynamodb.NewFromConfig(cfg), name); err != nil {
		tb.Fatal(err)
	}
	return name
}

func newPollContainer(tb testing.TB, env map[string]string, opts ...graphemu.Option) *container {
	tb.Helper()
	vars := map[string]string{"STATE_TABLE": pollTable(tb)}
	for k, v := range env {
		vars[k] = v
	}
	return newContainerOn(tb, vars, nil, opts...)
}

// poll invokes the handler as Lambda does, with its own request id, and returns the
// result even when the invocation fails.
func (c *container) poll(tb testing.TB, payload []byte, requestID string) (outcome.Result, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID})
	out, err := c.handler.Handle(ctx, payload)
	res, ok := out.(*outcome.Result)
	if !ok || res.Poll == nil {
		if err == nil {
			tb.Fatalf("poll %s: no poll result (%T)", requestID, out)
		}
		return outcome.Result{}, err
	}
	return *res, err
}

// revokedUsers counts the 2xx revoke calls per user the emulator answered.
func revokedUsers(emu *graphemu.Server) map[string]int {
	m := map[string]int{}
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "/revokeSignInSessions") && r.Status == http.StatusOK && r.HasBearer {
			m[strings.TrimSuffix(strings.TrimPrefix(r.Path, "/v1.0/users/"), "/revokeSignInSessions")]++
		}
	}
	return m
}

func polledStatuses(res outcome.Result) map[string]string {
	m := map[string]string{}
	for _, a := range res.Poll.Alerts {
		m[a.ID] = a.Status
	}
	return m
}

func listed(emu *graphemu.Server, path string) []url.Values {
	var out []url.Values
	for _, r := range emu.Requests() {
		if r.Path == "/v1.0"+path {
			q, _ := url.ParseQuery(r.RawQuery)
			out = append(out, q)
		}
	}
	return out
}

func TestPollActsOnMatchingAlertsOnly(t *testing.T) {
	c := newPollContainer(t, nil)
	travel := c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", ServiceSource: "microsoftDefenderForCloudApps",
		DetectionSource: "cloudAppSecurity", Category: "InitialAccess", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	low := c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "low", Users: []string{"MeganB@contoso.onmicrosoft.com"}})
	resolved := c.emu.AddAlert(graphemu.SecurityAlert{Title: "Stolen session cookie was used", Severity: "high", Status: "resolved", Users: []string{"AlexW@contoso.onmicrosoft.com"}})
	other := c.emu.AddAlert(graphemu.SecurityAlert{Title: "Suspicious inbox forwarding", Severity: "high", Users: []string{"PattiF@contoso.onmicrosoft.com"}})
	risk := c.emu.AddRiskDetection(graphemu.RiskDetection{RiskEventType: "unlikelyTravel", RiskLevel: "high", User: "LeeG@contoso.onmicrosoft.com"})
	c.emu.AddRiskDetection(graphemu.RiskDetection{RiskEventType: "unlikelyTravel", RiskLevel: "medium", User: "DiegoS@contoso.onmicrosoft.com"})

	res, err := c.poll(t, []byte(`{"poll": {"name": "graph"}}`), "poll-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(map[string]int{adele: 1, lee: 1}) {
		t.Errorf("revoked %v: want Adele (impossible travel) and Lee (unlikely travel), nobody else", got)
	}
	st := polledStatuses(res)
	if st[travel] != outcome.PollActed || st[risk] != outcome.PollActed || len(st) != 2 {
		t.Errorf("polled %v", st)
	}
	for _, id := range []string{low, resolved, other} {
		if _, listedAsTarget := st[id]; listedAsTarget {
			t.Errorf("%s is in the result: an alert no rule matches is counted, not listed", id)
		}
	}
	if res.Poll.NotMatching != 4 || res.Summary[outcome.Revoked] != 2 || len(res.Alerts) != 2 {
		t.Errorf("notMatching %d, summary %v, alerts %v", res.Poll.NotMatching, res.Summary, res.Alerts)
	}
	for _, tg := range res.Targets {
		if tg.RequestID == "" || (tg.Format != "graph-security-alert" && tg.Format != "entra-risk-detection") {
			t.Errorf("%+v: a polled alert's target is a pushed alert's", tg)
		}
	}
	for _, s := range res.Poll.Sources {
		if !s.Complete || !s.Advanced || !strings.Contains(s.Note, "first run") {
			t.Errorf("%+v", s)
		}
	}
	// Each listing filtered on its own last-update property, and nothing else.
	a, d := listed(c.emu, "/security/alerts_v2"), listed(c.emu, "/identityProtection/riskDetections")
	if len(a) != 1 || !strings.HasPrefix(a[0].Get("$filter"), "lastUpdateDateTime ge ") || a[0].Get("$top") != "100" {
		t.Errorf("alerts listed with %v", a)
	}
	if len(d) != 1 || !strings.HasPrefix(d[0].Get("$filter"), "lastUpdatedDateTime ge ") || d[0].Get("$top") != "500" {
		t.Errorf("risk detections listed with %v", d)
	}
	// The debug line says which alerts were passed over, and why, without their text.
	found := false
	for _, line := range strings.Split(c.log.String(), "\n") {
		found = found || strings.Contains(line, `"msg":"polled alert not acted on: no rule matches"`) && strings.Contains(line, `"alertId":"`+low+`"`) && strings.Contains(line, `"severity":"low"`)
	}
	if !found {
		t.Error("no debug line for the alert no rule matched")
	}
	if strings.Contains(c.log.String(), "Suspicious inbox forwarding") {
		t.Error("an alert's title is in the log")
	}
}

// Alerts created before a poll, while it pages, after it, and one that becomes visible
// late (its lastUpdate minutes before the poll): each is acted on once, over the polls.
func TestPollBeforeDuringAndAfter(t *testing.T) {
	var once sync.Once
	var during string
	var emu *graphemu.Server
	hook := writerFunc(func(line []byte) {
		// Right after the first page of the first poll was answered.
		if strings.Contains(string(line), "GET /v1.0/security/alerts_v2 200") {
			once.Do(func() {
				during = emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", Users: []string{"MeganB@contoso.onmicrosoft.com"}})
			})
		}
	})
	c := newPollContainer(t, nil, graphemu.WithPageSize(1), graphemu.WithRequestLog(hook))
	emu = c.emu
	past := time.Now().Add(-10 * time.Minute)
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", CreatedDateTime: past, LastUpdateDateTime: past, Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Stolen session cookie was used", Severity: "high", CreatedDateTime: past.Add(time.Second), LastUpdateDateTime: past, Users: []string{"AlexW@contoso.onmicrosoft.com"}})

	if _, err := c.poll(t, alertsOnly, "poll-1"); err != nil {
		t.Fatal(err)
	}
	if during == "" {
		t.Fatal("the hook did not run: the test proves nothing")
	}
	pollStart := time.Now()
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", Users: []string{"PattiF@contoso.onmicrosoft.com"}})
	// Visible only now, though Graph dates it five minutes back.
	late := pollStart.Add(-5 * time.Minute)
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", CreatedDateTime: late, LastUpdateDateTime: late, Users: []string{"DiegoS@contoso.onmicrosoft.com"}})
	for i := 2; i <= 3; i++ {
		if _, err := c.poll(t, alertsOnly, fmt.Sprint("poll-", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{adele: 1, alex: 1, megan: 1, patti: 1, diego: 1}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("revoked %v, want each once: %v", got, want)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// An alert first seen at medium severity is acted on when Defender raises it to high,
// and not again when an analyst later takes it.
func TestPollAlertUpdatedAfterSeen(t *testing.T) {
	c := newPollContainer(t, nil)
	id := c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "medium", Users: []string{"MeganB@contoso.onmicrosoft.com"}})
	res, err := c.poll(t, alertsOnly, "poll-1")
	if err != nil || res.Poll.NotMatching != 1 || len(revokedUsers(c.emu)) != 0 {
		t.Fatalf("medium: %v %+v", err, res.Poll)
	}
	c.emu.UpdateAlert(id, func(a *graphemu.SecurityAlert) { a.Severity = "high" })
	res, err = c.poll(t, alertsOnly, "poll-2")
	if err != nil || polledStatuses(res)[id] != outcome.PollActed {
		t.Fatalf("raised to high: %v %+v", err, res.Poll)
	}
	c.emu.UpdateAlert(id, func(a *graphemu.SecurityAlert) { a.Status = "inProgress" })
	res, err = c.poll(t, alertsOnly, "poll-3")
	if err != nil || polledStatuses(res)[id] != outcome.PollAlreadyHandled {
		t.Fatalf("taken by an analyst: %v %+v", err, res.Poll)
	}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(map[string]int{megan: 1}) {
		t.Errorf("revoked %v", got)
	}
}

// The second page fails: the first page's alert is acted on, the watermark stays, and the
// next poll acts on the rest and not again on the first.
func TestPollPageFailsMidway(t *testing.T) {
	c := newPollContainer(t, nil, graphemu.WithPageSize(1))
	for i, upn := range []string{"AdeleV@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com", "PattiF@contoso.onmicrosoft.com"} {
		c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", CreatedDateTime: time.Now().Add(time.Duration(-i) * time.Second), Users: []string{upn}})
	}
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListAlerts, Status: http.StatusForbidden, Skip: 1})
	res, err := c.poll(t, alertsOnly, "poll-1")
	if err == nil || !strings.Contains(err.Error(), "listing page 2") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v", err)
	}
	if s := res.Poll.Sources[0]; s.Complete || s.Advanced || s.Pages != 1 {
		t.Errorf("%+v", s)
	}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(map[string]int{adele: 1}) {
		t.Errorf("after the failure: %v", got)
	}
	first := listed(c.emu, "/security/alerts_v2")[0].Get("$filter")

	res, err = c.poll(t, alertsOnly, "poll-2")
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(c.emu, "/security/alerts_v2"); got[len(got)-3].Get("$filter") != first {
		t.Errorf("the retry listed from %q, want the failed poll's %q", got[len(got)-3].Get("$filter"), first)
	}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(map[string]int{adele: 1, alex: 1, patti: 1}) {
		t.Errorf("after the retry: %v", got)
	}
	if !res.Poll.Sources[0].Advanced {
		t.Error("the complete retry did not move the watermark")
	}
}

// Two runs of one poll at once (a slow listing while the schedule fires again): one holds
// the poll, the other reads nothing; every alert is acted on once.
func TestPollOverlapsThePrevious(t *testing.T) {
	c := newPollContainer(t, nil)
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Stolen session cookie was used", Severity: "high", Users: []string{"AlexW@contoso.onmicrosoft.com"}})
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListAlerts, Delay: 500 * time.Millisecond})
	var wg sync.WaitGroup
	results := make([]outcome.Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.poll(t, alertsOnly, fmt.Sprint("poll-", i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(map[string]int{adele: 1, alex: 1}) {
		t.Errorf("revoked %v", got)
	}
	// Either the second run found the poll held, or it came after the first and found
	// both alerts handled; never a second revoke.
	acted := 0
	for _, r := range results {
		for _, a := range r.Poll.Alerts {
			switch a.Status {
			case outcome.PollActed:
				acted++
			case outcome.PollAlreadyHandled, outcome.PollHeld:
			default:
				t.Errorf("%+v", a)
			}
		}
	}
	if acted != 2 {
		t.Errorf("%d alerts acted on over both runs, want 2", acted)
	}
	// The next scheduled poll overlaps the window of these: nothing again.
	if _, err := c.poll(t, alertsOnly, "poll-3"); err != nil || len(revokedUsers(c.emu)) != 2 || revokedUsers(c.emu)[adele] != 1 {
		t.Fatalf("%v %v", err, revokedUsers(c.emu))
	}
}

// Throttled listings: alerts_v2 waits its Retry-After; Identity Protection sends none, and
// its retry waits its one-second rate.
func TestPollThrottled(t *testing.T) {
	c := newPollContainer(t, nil, graphemu.WithIdentityProtectionLimit())
	c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	c.emu.AddRiskDetection(graphemu.RiskDetection{RiskEventType: "anomalousToken", RiskLevel: "high", User: "LeeG@contoso.onmicrosoft.com"})
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListAlerts, Status: http.StatusTooManyRequests, RetryAfter: "0.5"})
	c.emu.Inject(graphemu.Fault{Match: graphemu.MatchListRiskDetections, Status: http.StatusTooManyRequests})
	start := time.Now()
	res, err := c.poll(t, []byte(`{"poll": {"name": "graph"}}`), "poll-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("took %v: the waits (0.5 s Retry-After, 1 s without) were not made", d)
	}
	if got := revokedUsers(c.emu); fmt.Sprint(got) != fmt.Sprint(map[string]int{adele: 1, lee: 1}) {
		t.Errorf("revoked %v", got)
	}
	if !res.Poll.Sources[0].Advanced || !res.Poll.Sources[1].Advanced {
		t.Errorf("%+v", res.Poll.Sources)
	}
}

// A user Graph refuses (403) for three polls: the alert is given up, the poll that gave up
// fails (and so does Lambda's retry of it), later polls neither retry nor fail.
func TestPollGivesUp(t *testing.T) {
	c := newPollContainer(t, nil)
	c.emu.SetDenied("AdeleV@contoso.onmicrosoft.com")
	id := c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	for i := 1; i <= 3; i++ {
		res, err := c.poll(t, alertsOnly, fmt.Sprint("poll-", i))
		want := outcome.PollRetry
		if i == 3 {
			want = outcome.PollGivenUp
		}
		if err == nil || !strings.Contains(err.Error(), "Authorization_RequestDenied") || polledStatuses(res)[id] != want {
			t.Fatalf("poll %d: %v %+v", i, err, res.Poll.Alerts)
		}
		if res.Poll.Sources[0].Advanced != (i == 3) {
			t.Fatalf("poll %d: advanced %v", i, res.Poll.Sources[0].Advanced)
		}
	}
	if _, err := c.poll(t, alertsOnly, "poll-3"); err == nil || !strings.Contains(err.Error(), "not handled after 3 polls") {
		t.Fatalf("Lambda's retry of the poll that gave up: %v", err)
	}
	res, err := c.poll(t, alertsOnly, "poll-4")
	if err != nil || polledStatuses(res)[id] != outcome.PollGivenUp {
		t.Fatalf("a later poll: %v %+v", err, res.Poll.Alerts)
	}
	if n := len(revokes(c.emu)); n != 3 {
		t.Errorf("%d revoke calls, want one per poll that tried", n)
	}
}

// A poll is one delivery: a page of one-user alerts past MAX_REVOKES_PER_DELIVERY revokes
// up to the limit, and the rest are held for an operator with the budget named as the
// reason, not the blast radius they did not exceed.
func TestPollDeliveryBudget(t *testing.T) {
	c := newPollContainer(t, map[string]string{"MAX_REVOKES_PER_DELIVERY": "2"})
	var ids []string
	for _, u := range []string{"AdeleV", "AlexW", "LeeG", "PattiF"} {
		ids = append(ids, c.emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", Users: []string{u + "@contoso.onmicrosoft.com"}}))
	}
	res, err := c.poll(t, alertsOnly, "poll-1")
	if err == nil || !strings.Contains(err.Error(), "MAX_REVOKES_PER_DELIVERY=2") || strings.Contains(err.Error(), "MAX_TARGETS_PER_ALERT") {
		t.Fatalf("err = %v", err)
	}
	if n := len(revokes(c.emu)); n != 2 || res.Summary[outcome.Revoked] != 2 || res.Summary[outcome.NeedsApproval] != 2 {
		t.Errorf("%d revoke calls, summary %v", n, res.Summary)
	}
	st := polledStatuses(res)
	given := 0
	for _, id := range ids {
		if st[id] == outcome.PollGivenUp {
			given++
		}
	}
	if given != 2 {
		t.Errorf("polled %v: want the two alerts over the budget given up for an operator", st)
	}
}

// A dry run's marks are its own: going live acts on what the dry run only reported.
func TestPollDryRunThenLive(t *testing.T) {
	table := pollTable(t)
	dry := newContainerOn(t, map[string]string{"STATE_TABLE": table, "DRY_RUN": "true"}, nil)
	dry.emu.AddAlert(graphemu.SecurityAlert{ID: "da1", Title: "Impossible travel activity", Severity: "high", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	res, err := dry.poll(t, alertsOnly, "dry-1")
	if err != nil || len(res.Targets) != 1 || res.Targets[0].Status != outcome.WouldRevoke || len(revokes(dry.emu)) != 0 || !res.DryRun {
		t.Fatalf("dry run: %v %+v", err, res.Targets)
	}
	live := newContainerOn(t, map[string]string{"STATE_TABLE": table}, nil)
	live.emu.AddAlert(graphemu.SecurityAlert{ID: "da1", Title: "Impossible travel activity", Severity: "high", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	res, err = live.poll(t, alertsOnly, "live-1")
	if err != nil || polledStatuses(res)["da1"] != outcome.PollActed || revokedUsers(live.emu)[adele] != 1 {
		t.Fatalf("live: %v %+v", err, res.Poll.Alerts)
	}
}

func TestPollRefused(t *testing.T) {
	c := newContainer(t, nil, nil)
	if _, err := c.handler.Handle(context.Background(), alertsOnly); err == nil || !strings.Contains(err.Error(), "STATE_TABLE") {
		t.Errorf("without a state table: %v", err)
	}
	c = newPollContainer(t, nil)
	for payload, want := range map[string]string{
		`{"poll": {"name": "graph", "alerts": [{"name": "all", "statuses": ["new"]}]}}`: "no condition",
		`{"poll": {"name": "graph", "Alerts": []}}`:                                     `unknown field "Alerts"`,
		`{"poll": {"name": "graph"}, "users": ["AdeleV@contoso.onmicrosoft.com"]}`:      `unknown field "users"`,
	} {
		if _, err := c.handler.Handle(context.Background(), []byte(payload)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", payload, err, want)
		}
	}
	if n := len(c.emu.Requests()); n != 0 {
		t.Errorf("a refused poll sent %d requests", n)
	}
}

// BenchmarkPollCycle is one poll over a page of 100 new impossible-travel alerts, each
// naming another user, with 40 ms added to every Graph and Entra answer: from the poll's
// start to the last revoke answered. The target is the poll interval (a minute) plus one
// second.
func BenchmarkPollCycle(b *testing.B) {
	var mu sync.Mutex
	var lastRevoke time.Time
	hook := writerFunc(func(line []byte) {
		if strings.Contains(string(line), "/revokeSignInSessions 200") {
			mu.Lock()
			lastRevoke = time.Now()
			mu.Unlock()
		}
	})
	// One poll is one delivery, so its revokes count against MAX_REVOKES_PER_DELIVERY and
	// the circuit breaker; both are off here (a page of 100 revokes is what is measured,
	// not the guardrails, which TestPollDeliveryBudget covers).
	c := newPollContainer(b, map[string]string{"SUPPRESS_MINUTES": "0", "MAX_REVOKES_PER_DELIVERY": "0", "MAX_REVOKES_PER_WINDOW": "0"},
		graphemu.WithLatency(40*time.Millisecond), graphemu.WithRequestLog(hook))
	users := make([]graphemu.User, 100)
	for i := range users {
		users[i] = graphemu.User{ID: fmt.Sprintf("0b0e0c00-0000-4000-8000-%012d", i), UserPrincipalName: fmt.Sprintf("traveller%03d@contoso.onmicrosoft.com", i)}
	}
	if err := c.emu.AddUsers(users...); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"poll": {"name": "bench"}}`)
	if _, err := c.poll(b, payload, "warm"); err != nil { // token and first run: warm
		b.Fatal(err)
	}
	var total time.Duration
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		c.emu.ClearAlerts()
		for j, u := range users {
			c.emu.AddAlert(graphemu.SecurityAlert{ID: fmt.Sprintf("da%d_%d", i, j), Title: "Impossible travel activity", Severity: "high",
				ServiceSource: "microsoftDefenderForCloudApps", Users: []string{u.UserPrincipalName}})
		}
		b.StartTimer()
		start := time.Now()
		res, err := c.poll(b, payload, fmt.Sprint("bench-", i))
		if err != nil || res.Summary[outcome.Revoked] != len(users) {
			b.Fatalf("%v %v", err, res.Summary)
		}
		mu.Lock()
		d := lastRevoke.Sub(start)
		mu.Unlock()
		total += d
		samples = append(samples, d)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(total.Milliseconds())/float64(len(samples)), "ms-to-last-revoke")
	b.ReportMetric(float64(samples[len(samples)-1].Milliseconds()), "max-ms-to-last-revoke")
}
