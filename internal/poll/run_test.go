package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

// The runner against fakes of its own interfaces: a scripted listing, an in-memory store
// with the state table's semantics, the real policy and a revoke step that records who
// it was asked to revoke.

const root = "https://graph.test/v1.0"

type fakeLister struct {
	pages map[string]Page  // by source path (first page) or full next link
	errs  map[string]error // likewise
	links []string
}

func key(link string) string {
	if strings.HasPrefix(link, "/") {
		p, _, _ := strings.Cut(link, "?")
		return p
	}
	return link
}

func (f *fakeLister) ListAlerts(_ context.Context, link string) (Page, error) {
	f.links = append(f.links, link)
	if err := f.errs[key(link)]; err != nil {
		return Page{}, err
	}
	return f.pages[key(link)], nil
}

type mark struct {
	Mark
	claimedAt time.Time
}

type fakeStore struct {
	watermarks map[string]time.Time
	busy       bool
	marks      map[string]*mark
	failWrites bool
}

func newStore() *fakeStore {
	return &fakeStore{watermarks: map[string]time.Time{}, marks: map[string]*mark{}}
}

func (s *fakeStore) ClaimWatermark(_ context.Context, key string, _ time.Time, _ time.Duration) (time.Time, error) {
	if s.busy {
		return time.Time{}, ErrBusy
	}
	return s.watermarks[key], nil
}

func (s *fakeStore) SaveWatermark(_ context.Context, key string, wm, _ time.Time) error {
	s.watermarks[key] = wm
	return nil
}

func (s *fakeStore) ReleaseWatermark(context.Context, string) error { return nil }

func (s *fakeStore) ClaimAlert(_ context.Context, key string, now time.Time, lease time.Duration) (Mark, bool, error) {
	m := s.marks[key]
	switch {
	case m == nil:
		m = &mark{}
		s.marks[key] = m
	case m.State == MarkDone || m.State == MarkGivenUp:
		return m.Mark, false, nil
	case m.State == MarkClaimed && now.Sub(m.claimedAt) <= lease:
		return m.Mark, false, nil
	}
	m.State, m.claimedAt = MarkClaimed, now
	m.Attempts++
	return m.Mark, true, nil
}

func (s *fakeStore) CompleteAlert(_ context.Context, key string, _ time.Time) error {
	if s.failWrites {
		return fmt.Errorf("DynamoDB unavailable")
	}
	s.marks[key].State = MarkDone
	return nil
}

func (s *fakeStore) ReleaseAlert(_ context.Context, key string, claimedAt time.Time) error {
	if m := s.marks[key]; m.State == MarkClaimed && m.claimedAt.Equal(claimedAt) {
		m.State = "released"
	}
	return nil
}

func (s *fakeStore) GiveUpAlert(_ context.Context, key, requestID, reason string, _ time.Time) error {
	m := s.marks[key]
	m.State, m.RequestID, m.Reason = MarkGivenUp, requestID, reason
	return nil
}

// world is one test's Graph, store and clock.
type world struct {
	t       *testing.T
	lister  *fakeLister
	store   *fakeStore
	clock   time.Time
	failing map[string]bool // UPNs whose revoke fails
	revoked []string        // UPNs the revoke step was asked to revoke, in order
	policy  policy.Settings
}

func newWorld(t *testing.T) *world {
	return &world{t: t, lister: &fakeLister{pages: map[string]Page{}, errs: map[string]error{}}, store: newStore(),
		clock: time.Date(2026, 11, 23, 2, 30, 0, 0, time.UTC), failing: map[string]bool{}, policy: policy.Settings{MaxTargetsPerAlert: 2}}
}

func (w *world) runner(requestID string) *Runner {
	return &Runner{
		Connect: func(context.Context) (Lister, error) { return w.lister, nil },
		Store:   w.store,
		Decide:  func(as []alert.Alert) []policy.Decision { return policy.Decide(as, w.policy) },
		// As revoke.Run carries decisions out, without Graph: the blast radius on the users
		// (each identifier a user here), a dry run reported, the rest revoked.
		Carry: func(_ context.Context, ds []policy.Decision) []outcome.Outcome {
			ds = policy.Bound(ds, w.policy.MaxTargetsPerAlert, 1)
			out := make([]outcome.Outcome, len(ds))
			for i, d := range ds {
				out[i] = outcome.Outcome{UserID: d.UserID, UserPrincipalName: d.UserPrincipalName, Format: d.Format, AlertID: d.AlertID, Status: d.Status, Reason: d.Reason}
				if !d.Revoke {
					continue
				}
				switch {
				case d.DryRun:
					out[i].Status, out[i].Reason = outcome.WouldRevoke, "dry run: nothing sent to Graph"
				case w.failing[d.UserPrincipalName]:
					out[i].Status, out[i].Reason = outcome.Failed, "Graph unavailable after 4 attempts"
				default:
					w.revoked = append(w.revoked, d.UserPrincipalName)
					out[i].Status = outcome.Revoked
				}
			}
			return out
		},
		Pacer:     &Pacer{},
		RequestID: requestID,
		Now:       func() time.Time { return w.clock },
		Sleep:     func(context.Context, time.Duration) error { return nil },
	}
}

// run polls once with the default rules, a minute after the previous run.
func (w *world) run(requestID string) (Report, error) {
	w.t.Helper()
	w.clock = w.clock.Add(time.Minute)
	s, err := Parse([]byte(`{"poll": {"name": "graph"}}`))
	if err != nil {
		w.t.Fatal(err)
	}
	return w.runner(requestID).Run(context.Background(), s)
}

func graphAlert(id, title, severity, status string, upns ...string) json.RawMessage {
	var ev []string
	for i, upn := range upns {
		ev = append(ev, fmt.Sprintf(`{"@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["compromised"],
			"userAccount": {"azureAdUserId": "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c%02d", "userPrincipalName": %q}}`, 10+i+len(id), upn))
	}
	return json.RawMessage(fmt.Sprintf(`{"id": %q, "title": %q, "severity": %q, "status": %q, "serviceSource": "microsoftDefenderForCloudApps",
		"lastUpdateDateTime": "2026-11-23T02:13:57Z", "evidence": [%s]}`, id, title, severity, status, strings.Join(ev, ",")))
}

func riskDetection(id, eventType, level, upn string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id": %q, "riskEventType": %q, "riskLevel": %q, "riskState": "atRisk", "detectionTimingType": "offline",
		"lastUpdatedDateTime": "2026-11-23T04:20:09Z", "userId": "b9a7e5c3-1d2f-4e6a-8b0d-3f5d7e9a1b24", "userPrincipalName": %q}`, id, eventType, level, upn))
}

func statusesOf(rep Report) map[string]string {
	m := map[string]string{}
	for _, a := range rep.Poll.Alerts {
		m[a.ID] = a.Status
	}
	return m
}

func filterOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("$filter")
}

func TestRunActsOnceAndAdvances(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{
		graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com"),
		graphAlert("da2", "Impossible travel activity", "medium", "new", "MeganB@contoso.onmicrosoft.com"),
		graphAlert("da3", "Stolen session cookie was used", "high", "inProgress", "AlexW@contoso.onmicrosoft.com"),
	}}
	w.lister.pages[RiskDetections.Path()] = Page{Items: []json.RawMessage{riskDetection("rd1", "unlikelyTravel", "high", "LeeG@contoso.onmicrosoft.com")}}

	rep, err := w.run("req-1")
	if err != nil {
		t.Fatal(err)
	}
	first := w.clock
	if got := fmt.Sprint(statusesOf(rep)); got != "map[da1:acted da3:acted rd1:acted]" {
		t.Errorf("statuses %s", got)
	}
	if rep.Poll.NotMatching != 1 || len(rep.Passed) != 1 || rep.Passed[0].ID != "da2" {
		t.Errorf("not matching %d %+v", rep.Poll.NotMatching, rep.Passed)
	}
	if !slices.Equal(w.revoked, []string{"AdeleV@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com", "LeeG@contoso.onmicrosoft.com"}) {
		t.Errorf("revoked %v", w.revoked)
	}
	for _, ps := range rep.Poll.Sources {
		if !ps.Complete || !ps.Advanced || !strings.Contains(ps.Note, "first run") {
			t.Errorf("%+v", ps)
		}
	}
	if f := filterOf(t, w.lister.links[0]); f != "lastUpdateDateTime ge 2026-11-23T01:31:00Z" {
		t.Errorf("first run filter %q: want the hour before", f)
	}
	if len(rep.Targets) != 3 || len(rep.Acted) != 3 {
		t.Errorf("%d targets, %d alerts acted on", len(rep.Targets), len(rep.Acted))
	}

	// The next poll overlaps this one: it lists the same alerts and acts on none.
	w.lister.links = nil
	rep, err = w.run("req-2")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(statusesOf(rep)); got != "map[da1:already-handled da3:already-handled rd1:already-handled]" {
		t.Errorf("second run %s", got)
	}
	if len(w.revoked) != 3 || len(rep.Targets) != 0 {
		t.Errorf("acted again: %v", w.revoked)
	}
	want := "lastUpdateDateTime ge " + first.Add(-15*time.Minute).Format("2006-01-02T15:04:05Z")
	if f := filterOf(t, w.lister.links[0]); f != want {
		t.Errorf("second run filter %q, want %q: the first run's start less the overlap", f, want)
	}
	if !rep.Poll.Sources[0].Advanced || rep.Poll.Sources[0].Note != "" {
		t.Errorf("%+v", rep.Poll.Sources[0])
	}
}

// An alert first seen at medium severity is acted on when it is raised to high, and once.
func TestRunUpdatedAlert(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "medium", "new", "MeganB@contoso.onmicrosoft.com")}}
	if rep, err := w.run("r1"); err != nil || rep.Poll.NotMatching != 1 || len(w.revoked) != 0 {
		t.Fatalf("%v %+v %v", err, rep.Poll, w.revoked)
	}
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "high", "new", "MeganB@contoso.onmicrosoft.com")}}
	if rep, err := w.run("r2"); err != nil || statusesOf(rep)["da1"] != outcome.PollActed {
		t.Fatalf("%v %+v", err, rep.Poll)
	}
	// Updated again (an analyst takes it): still high, and not acted on again.
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "high", "inProgress", "MeganB@contoso.onmicrosoft.com")}}
	if rep, err := w.run("r3"); err != nil || statusesOf(rep)["da1"] != outcome.PollAlreadyHandled {
		t.Fatalf("%v %+v", err, rep.Poll)
	}
	if len(w.revoked) != 1 {
		t.Errorf("revoked %v", w.revoked)
	}
}

func TestRunPageFailsMidway(t *testing.T) {
	w := newWorld(t)
	next := root + Alerts.Path() + "?$top=100&$skip=1"
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com")}, Next: next}
	w.lister.errs[next] = &revoke.Error{Kind: revoke.Denied, Status: 403, Code: "Forbidden", Message: "no"}
	w.lister.pages[RiskDetections.Path()] = Page{}

	rep, err := w.run("r1")
	if err == nil || !strings.Contains(err.Error(), "listing page 2") {
		t.Fatalf("err = %v", err)
	}
	ps := rep.Poll.Sources[0]
	if ps.Complete || ps.Advanced || statusesOf(rep)["da1"] != outcome.PollActed {
		t.Fatalf("%+v %+v", ps, rep.Poll.Alerts)
	}
	if got := w.store.watermarks[mustSpec(t).WatermarkKey(Alerts, false)]; !got.Equal(w.clock.Add(-time.Hour)) {
		t.Fatalf("watermark %v: want the first run's look-back pinned, never past a page not read", got)
	}
	if !rep.Poll.Sources[1].Advanced {
		t.Error("the other source was held back by this one")
	}

	delete(w.lister.errs, next)
	w.lister.pages[next] = Page{Items: []json.RawMessage{graphAlert("da2", "Stolen session cookie was used", "high", "new", "AlexW@contoso.onmicrosoft.com")}}
	rep, err = w.run("r2")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(statusesOf(rep)); got != "map[da1:already-handled da2:acted]" {
		t.Errorf("%s", got)
	}
	if f := filterOf(t, w.lister.links[len(w.lister.links)-3]); !strings.Contains(f, "T01:31:00Z") {
		t.Errorf("the retry read from %q: want the first run's window again, not one an hour before the retry", f)
	}
	if !slices.Equal(w.revoked, []string{"AdeleV@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com"}) {
		t.Errorf("revoked %v", w.revoked)
	}
	if !rep.Poll.Sources[0].Advanced {
		t.Error("not advanced after a complete run")
	}
}

func mustSpec(t *testing.T) Spec {
	s, err := Parse([]byte(`{"poll": {"name": "graph"}}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A user Graph keeps failing: the alert is retried by the next polls, then given up, and
// the invocation that gave up fails on Lambda's retry as well, so the failure queue
// holds it. Later polls neither act on it nor fail for it.
func TestRunRetriesThenGivesUp(t *testing.T) {
	w := newWorld(t)
	w.failing["AdeleV@contoso.onmicrosoft.com"] = true
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{
		graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com"),
		graphAlert("da2", "Impossible travel activity", "high", "new", "AlexW@contoso.onmicrosoft.com"),
	}}
	for i := 1; i <= 2; i++ {
		rep, err := w.run(fmt.Sprint("r", i))
		if err == nil || !strings.Contains(err.Error(), "the next poll tries again") || statusesOf(rep)["da1"] != outcome.PollRetry {
			t.Fatalf("run %d: %v %+v", i, err, rep.Poll.Alerts)
		}
		if rep.Poll.Sources[0].Advanced {
			t.Fatalf("run %d advanced past an alert it did not handle", i)
		}
	}
	rep, err := w.run("r3")
	if err == nil || !strings.Contains(err.Error(), "not handled after 3 polls") || statusesOf(rep)["da1"] != outcome.PollGivenUp {
		t.Fatalf("run 3: %v %+v", err, rep.Poll.Alerts)
	}
	if !rep.Poll.Sources[0].Advanced {
		t.Error("a given-up alert holds the watermark: it would be read for a day")
	}
	// Lambda retries the invocation that gave up: same request id, same failure.
	if _, err := w.run("r3"); err == nil || !strings.Contains(err.Error(), "not handled after 3 polls") {
		t.Fatalf("retry of the giving-up invocation: %v", err)
	}
	if _, err := w.run("r4"); err != nil {
		t.Fatalf("a later poll: %v", err)
	}
	if got := strings.Join(w.revoked, ","); got != "AlexW@contoso.onmicrosoft.com" {
		t.Errorf("revoked %s", got)
	}
}

func TestRunGivesUpAtOnce(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{
		graphAlert("da1", "Impossible travel activity", "high", "new", "a@contoso.onmicrosoft.com", "b@contoso.onmicrosoft.com", "c@contoso.onmicrosoft.com"),
		graphAlert("da2", "Impossible travel activity", "high", "new"),
	}}
	rep, err := w.run("r1")
	if err == nil || !strings.Contains(err.Error(), "MAX_TARGETS_PER_ALERT") || !strings.Contains(err.Error(), "names no user") {
		t.Fatalf("err = %v", err)
	}
	if got := fmt.Sprint(statusesOf(rep)); got != "map[da1:given-up da2:given-up]" || len(w.revoked) != 0 {
		t.Errorf("%s, revoked %v", got, w.revoked)
	}
	for _, tg := range rep.Targets {
		if tg.Status != outcome.NeedsApproval {
			t.Errorf("%+v", tg)
		}
	}
}

func TestRunRefusesForeignNextLink(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{}, Next: root + "/users?$select=id"}
	rep, err := w.run("r1")
	if err == nil || !strings.Contains(err.Error(), "leaves /security/alerts_v2") {
		t.Fatalf("err = %v", err)
	}
	if len(w.lister.links) != 2 || rep.Poll.Sources[0].Advanced {
		t.Errorf("links %v, %+v", w.lister.links, rep.Poll.Sources[0])
	}
}

// A newer alert shifts a $skip page: the alert listed twice is acted on once.
func TestRunShiftedPage(t *testing.T) {
	w := newWorld(t)
	next := root + Alerts.Path() + "?$skip=1"
	a1 := graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com")
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{a1}, Next: next}
	w.lister.pages[next] = Page{Items: []json.RawMessage{a1}}
	if _, err := w.run("r1"); err != nil || len(w.revoked) != 1 {
		t.Fatalf("%v %v", err, w.revoked)
	}
}

func TestRunBusyAndHeld(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com")}}
	w.store.busy = true
	rep, err := w.run("r1")
	if err != nil || len(w.lister.links) != 0 || !rep.Poll.Sources[0].Busy {
		t.Fatalf("%v %v %+v", err, w.lister.links, rep.Poll.Sources)
	}
	w.store.busy = false
	// Another poll (another name) is acting on the alert right now.
	w.store.marks[AlertKey(Alerts, false, "da1")] = &mark{Mark: Mark{State: MarkClaimed, Attempts: 1}, claimedAt: w.clock.Add(30 * time.Second)}
	rep, err = w.run("r2")
	if err != nil || statusesOf(rep)["da1"] != outcome.PollHeld || rep.Poll.Sources[0].Advanced || len(w.revoked) != 0 {
		t.Fatalf("%v %+v %v", err, rep.Poll, w.revoked)
	}
}

func TestRunDryRunMarksAreItsOwn(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com")}}
	w.policy.DryRun = true
	r := w.runner("r1")
	r.DryRun = true
	rep, err := r.Run(context.Background(), mustSpec(t))
	if err != nil || len(rep.Targets) != 1 || rep.Targets[0].Status != outcome.WouldRevoke || len(w.revoked) != 0 {
		t.Fatalf("%v %+v", err, rep.Targets)
	}
	w.policy.DryRun = false
	if _, err := w.run("r2"); err != nil || len(w.revoked) != 1 {
		t.Fatalf("the live run after a dry run: %v, revoked %v", err, w.revoked)
	}
}

func TestRunItemWithoutID(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{json.RawMessage(`{"title": "Impossible travel activity", "severity": "high", "status": "new"}`)}}
	if _, err := w.run("r1"); err == nil || !strings.Contains(err.Error(), "has no id") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunMarkNotSaved(t *testing.T) {
	w := newWorld(t)
	w.lister.pages[Alerts.Path()] = Page{Items: []json.RawMessage{graphAlert("da1", "Impossible travel activity", "high", "new", "AdeleV@contoso.onmicrosoft.com")}}
	w.store.failWrites = true
	if _, err := w.run("r1"); err == nil || !strings.Contains(err.Error(), "its mark was not saved") {
		t.Fatalf("err = %v", err)
	}
}

func TestTyped(t *testing.T) {
	for in, want := range map[string]string{
		`{"id": "x"}`: `{"@odata.type":"#t","id": "x"}`,
		`{ }`:         `{"@odata.type":"#t"}`,
		`{}`:          `{"@odata.type":"#t"}`,
	} {
		got := string(typed(json.RawMessage(in), "#t"))
		if got != want || !json.Valid([]byte(got)) {
			t.Errorf("%s: %s", in, got)
		}
	}
}
