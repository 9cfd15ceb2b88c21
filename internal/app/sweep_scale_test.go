package app_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/sweep"
	"github.com/session-revoker/session-revoker/internal/testenv/esm"
)

// Sweeps at tenant scale, end to end: a directory of 10,000 generated users in the
// emulator, the state table, the sweep queue (with the template's redrive to the failure
// queue), the result bus and the list bucket in moto, and two containers consuming the
// queue as the event source mapping does (MaximumConcurrency 2, one record a batch,
// partial batch responses). Invocations die on the way: one after doing its chunk but
// before answering, one at its deadline in the middle of a chunk; a user Graph never
// accepts makes a chunk poison. Every user must end with one outcome, and nobody may be
// revoked twice.

const debugTiming = false

const (
	scaleUsers  = 10000
	scaleGroup  = "7d0c2a55-5b1e-4c1a-9f0e-3a6b8c2d4e10"
	scaleGuests = 50 // every 50th generated user is a guest
	// visibility is the test queue's visibility timeout and the function's timeout: a
	// chunk that failed comes back after it. Short, so the retries fit in a test (the
	// template's are 360 s and 60 s; the benchmark uses those).
	visibility = 12 * time.Second
)

// scaleStack is one deployment around a large tenant.
type scaleStack struct {
	emu        *graphemu.Server
	containers []*container
	sqs        *sqs.Client
	queueURL   string
	queueARN   string
	failedURL  string
	resultsURL string
	bucket     string
	s3         *s3.Client
	vars       map[string]string // the containers' environment
	secretID   string
	timeout    time.Duration // the function's
}

// another is one more container of the deployment (as Lambda starts for an alert while
// the sweep's two run).
func (st *scaleStack) another(t testing.TB) *container {
	t.Helper()
	vars := maps.Clone(st.vars)
	vars["GRAPH_SECRET_ID"] = st.secretID
	return newContainerAt(t, st.emu, vars, func(*graphemu.Server) string { return "" })
}

func newScaleStack(t testing.TB, env map[string]string, opts ...graphemu.Option) *scaleStack {
	t.Helper()
	users := append(graphemu.DefaultUsers(), graphemu.GenerateUsers(graphemu.Generated{Count: scaleUsers, Group: scaleGroup, GuestEvery: scaleGuests})...)
	return newScaleStackOf(t, env, users, visibility, visibility, opts...)
}

// newScaleStackOf is newScaleStack over a directory of the caller's, with the sweep
// queue's visibility timeout and the function's timeout.
func newScaleStackOf(t testing.TB, env map[string]string, users []graphemu.User, visibility, timeout time.Duration, opts ...graphemu.Option) *scaleStack {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := secret.Add(1)
	st := &scaleStack{sqs: sqs.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg), bucket: fmt.Sprintf("sweep-lists-%d", n), timeout: timeout}
	arnOf := func(url string) string {
		attrs, err := st.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		return attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	mk := func(name string, attrs map[string]string) string {
		out, err := st.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("%s-%d", name, n)), Attributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.QueueUrl)
	}
	// As template.yaml: poison work reaches the failure queue after 8 receives.
	st.failedURL = mk("failed-alerts", nil)
	st.queueURL = mk("sweep-work", map[string]string{
		"VisibilityTimeout": fmt.Sprint(int(visibility.Seconds())),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn": %q, "maxReceiveCount": "8"}`, arnOf(st.failedURL)),
	})
	st.queueARN = arnOf(st.queueURL)

	// The result bus, with a rule a SOAR would have, into a queue the test reads.
	eb := eventbridge.NewFromConfig(cfg)
	bus := fmt.Sprintf("results-%d", n)
	st.resultsURL = mk("results", nil)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("sweeps"), EventBusName: aws.String(bus),
		EventPattern: aws.String(`{"source": ["session-revoker"], "detail": {"sweep": {"status": ["complete", "stopped"]}}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("sweeps"), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(arnOf(st.resultsURL))}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(st.bucket)}); err != nil {
		t.Fatal(err)
	}

	st.emu = graphemu.NewServer(users, opts...)
	t.Cleanup(st.emu.Close)
	vars := map[string]string{
		"STATE_TABLE": stateTable(t), "SWEEP_QUEUE_URL": st.queueURL, "SWEEP_QUEUE_ARN": st.queueARN,
		"FAILURE_QUEUE_URL": st.failedURL, "RESULT_BUS": bus,
		"SWEEP_LIST_BUCKET": st.bucket, "SWEEP_LIST_PREFIX": "lists/",
		// Pacing is tested on its own and in the benchmark; here it would only make the
		// test take ten minutes.
		"GRAPH_WRITES_PER_SECOND": "1000",
	}
	for k, v := range env {
		vars[k] = v
	}
	st.vars = vars
	// One secret, two containers: each builds its own clients, as two Lambda containers do.
	first := newContainerAt(t, st.emu, vars, nil)
	vars["GRAPH_SECRET_ID"] = first.secretID
	st.secretID = first.secretID
	second := newContainerAt(t, st.emu, vars, func(*graphemu.Server) string { return "" })
	st.containers = []*container{first, second}
	for _, c := range st.containers {
		c.handler.Options.BaseDelay = 10 * time.Millisecond
		c.handler.Options.MaxDelay = 50 * time.Millisecond
	}
	return st
}

// start starts a sweep on a direct invocation, as an operator does.
func (st *scaleStack) start(t testing.TB, spec string) outcome.Result {
	t.Helper()
	res := decode(t, mustInvoke(t, st.containers[0], []byte(spec)))
	if res.Sweep.Status != "started" {
		t.Fatalf("not started: %+v %v", res.Sweep, res.Notes)
	}
	return res
}

// chaos is how invocations die in a run: the n-th chunk invocation does its work and then
// the container dies before answering (Lambda sees an error; the message comes back), the
// m-th is given so little time that its deadline falls in the middle of its chunk.
type chaos struct {
	dieAfter, deadlineAt int
	chunks               atomic.Int64
	mu                   sync.Mutex
	cut                  []string // user ids of the chunk cut at its deadline
}

// consume runs the event source mapping until the queue is empty.
func (st *scaleStack) consume(t testing.TB, ch *chaos) *esm.Report {
	t.Helper()
	var next atomic.Int64
	handler := func(ctx context.Context, ev json.RawMessage) (json.RawMessage, error) {
		c := st.containers[next.Add(1)%int64(len(st.containers))]
		var w struct {
			Records []struct{ Body string } `json:"Records"`
		}
		json.Unmarshal(ev, &w)
		var work sweep.Work
		if len(w.Records) == 1 {
			work, _ = sweep.Decode([]byte(w.Records[0].Body))
		}
		n := 0
		if work.Chunk != nil && ch != nil {
			n = int(ch.chunks.Add(1))
		}
		if ch != nil && n == ch.deadlineAt {
			// Room for a few calls past the margin revoke keeps before a deadline.
			dl, _ := ctx.Deadline()
			short, cancel := context.WithDeadline(ctx, time.Now().Add(3*time.Second+time.Second+300*time.Millisecond))
			defer cancel()
			if dl.Before(time.Now().Add(5 * time.Second)) {
				t.Errorf("the mapping's deadline %v is too short for this test", time.Until(dl))
			}
			ctx = short
			ch.mu.Lock()
			for _, u := range work.Chunk.Users {
				ch.cut = append(ch.cut, u.ID)
			}
			ch.mu.Unlock()
		}
		began := time.Now()
		out, err := c.h.Invoke(ctx, ev)
		if debugTiming {
			t.Logf("TIMING chunk=%v plan=%v %v", work.Chunk != nil, work.Plan != nil, time.Since(began).Round(time.Millisecond))
		}
		if ch != nil && n == ch.dieAfter {
			return nil, fmt.Errorf("the container died before answering (after its work)")
		}
		return out, err
	}
	return st.consumeWith(t, handler)
}

// consumeWith runs the event source mapping with a handler of the caller's.
func (st *scaleStack) consumeWith(t testing.TB, handler esm.Handler) *esm.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := esm.Mapping{SQS: st.sqs, QueueURL: st.queueURL, BatchSize: 1, Concurrency: 2,
		ReportBatchItemFailures: true, Timeout: st.timeout, IdleStop: 2 * time.Second}.Run(ctx, handler)
	if err != nil {
		t.Fatalf("the event source mapping: %v", err)
	}
	return rep
}

// revokesByUser counts the revokes Graph accepted, by user id.
func revokesByUser(emu *graphemu.Server) map[string]int {
	out := map[string]int{}
	for _, r := range emu.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/revokeSignInSessions") && r.Status/100 == 2 {
			id := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/v1.0/users/"), "/revokeSignInSessions")
			out[strings.ToLower(id)]++
		}
	}
	return out
}

// finals is each user's last audited outcome in the sweep, by lowercase user id (or UPN,
// for a guest known by its #EXT# name and never looked up): a chunk that was retried audits its users
// again, perhaps in the other container, and the last word in time is the one that counts.
func finals(t testing.TB, st *scaleStack) map[string]outcome.Outcome {
	t.Helper()
	type line struct {
		Time                                                                time.Time
		Msg, UserID, UserPrincipalName, Identifier, Status, Reason, AlertID string
	}
	var lines []line
	for _, c := range st.containers {
		for _, raw := range strings.Split(c.log.String(), "\n") {
			var l line
			if json.Unmarshal([]byte(raw), &l) == nil && l.Msg == "target" && l.AlertID != "" {
				lines = append(lines, l)
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time.Before(lines[j].Time) })
	out := map[string]outcome.Outcome{}
	for _, l := range lines {
		key := strings.ToLower(cmp.Or(l.UserID, l.UserPrincipalName, l.Identifier))
		out[key] = outcome.Outcome{UserID: l.UserID, UserPrincipalName: l.UserPrincipalName, Identifier: l.Identifier, Status: outcome.Status(l.Status), Reason: l.Reason, AlertID: l.AlertID}
	}
	return out
}

// summaries reads the sweep summaries that reached the SOAR's rule.
func (st *scaleStack) summaries(t testing.TB) []outcome.Result {
	t.Helper()
	var out []outcome.Result
	for range 5 {
		msgs, err := st.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.resultsURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			var ev struct {
				Detail outcome.Result `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.Detail)
		}
		if len(msgs.Messages) == 0 {
			break
		}
	}
	return out
}

// failed reads the failure queue's poison chunks.
func (st *scaleStack) failed(t testing.TB) []sweep.Poison {
	t.Helper()
	var out []sweep.Poison
	for range 5 {
		msgs, err := st.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.failedURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			var p sweep.Poison
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &p); err != nil {
				t.Fatalf("failure queue message is not a poison chunk: %v", err)
			}
			out = append(out, p)
		}
		if len(msgs.Messages) == 0 {
			break
		}
	}
	return out
}

// checkRun holds what every large sweep must: each user one final outcome, as wanted;
// nobody revoked twice; the run complete with totals that add up to the users; one
// summary on the result bus.
// Outcomes that are no user's (a list's bad lines) are in extra.
func checkRun(t *testing.T, st *scaleStack, name string, want map[string]outcome.Status, extra map[outcome.Status]int, rep *esm.Report) {
	t.Helper()
	got := finals(t, st)
	revoked := revokesByUser(st.emu)
	lost, wrong, twice := 0, 0, 0
	for id, w := range want {
		o, ok := got[id]
		switch {
		case !ok:
			if lost++; lost <= 5 {
				t.Errorf("user %s has no outcome", id)
			}
		case o.Status != w:
			if wrong++; wrong <= 5 {
				t.Errorf("user %s: %s (%s), want %s", id, o.Status, o.Reason, w)
			}
		}
		if w == outcome.Revoked && revoked[id] != 1 || w != outcome.Revoked && revoked[id] != 0 {
			if twice++; twice <= 5 {
				t.Errorf("user %s: Graph accepted %d revokes, want %s", id, revoked[id], w)
			}
		}
	}
	for id := range revoked {
		if _, ok := want[id]; !ok {
			t.Errorf("revoked %s, who is not in the sweep", id)
		}
	}
	if lost+wrong+twice > 0 {
		t.Errorf("%d users without an outcome, %d with the wrong one, %d revoked a wrong number of times (of %d)", lost, wrong, twice, len(want))
	}

	status := decode(t, mustInvoke(t, st.containers[1], []byte(`{"sweepStatus": "`+name+`"}`)))
	if status.Sweep.Status != "complete" || status.Sweep.Done != status.Sweep.Chunks {
		t.Errorf("status %+v", status.Sweep)
	}
	counts := map[outcome.Status]int{}
	for _, w := range want {
		counts[w]++
	}
	for s, n := range extra {
		counts[s] += n
	}
	for s, n := range counts {
		if status.Summary[s] != n {
			t.Errorf("status summary %v, want %v", status.Summary, counts)
			break
		}
	}
	sums := st.summaries(t)
	if len(sums) != 1 || sums[0].Sweep == nil || sums[0].Sweep.Name != name || sums[0].Summary[outcome.Revoked] != counts[outcome.Revoked] {
		t.Errorf("summaries on the result bus: %+v, want one for %s with %d revoked", sums, name, counts[outcome.Revoked])
	}
	retried := 0
	for _, inv := range rep.Invocations {
		retried += len(inv.Retried)
	}
	t.Logf("%d users: %d invocations (%d retried messages), at most %d at once; Graph requests %d",
		len(want), len(rep.Invocations), retried, rep.MaxConcurrent, len(st.emu.Requests()))
}

// checkChaos: the chunk cut at its deadline was cut in the middle (some of its users
// revoked in the attempt that died, not all), and both faults were retried.
func checkChaos(t *testing.T, rep *esm.Report, ch *chaos) {
	t.Helper()
	var died, cut bool
	for _, inv := range rep.Invocations {
		if inv.Result == esm.FunctionError && inv.Err != nil && strings.Contains(inv.Err.Error(), "died before answering") {
			died = len(inv.Retried) == 1
		}
		if inv.Result == esm.Partial || inv.Result == esm.FunctionError && !strings.Contains(fmt.Sprint(inv.Err), "died") {
			cut = true
		}
	}
	if !died || !cut || len(ch.cut) == 0 {
		t.Errorf("the faults did not happen as planned: died %v, cut %v (%d users)", died, cut, len(ch.cut))
	}
}

// A 10,000-member group (every 50th a guest, one member protected): each member revoked
// once, each guest skipped without a lookup.
func TestSweepTenThousandMemberGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 users")
	}
	protected := graphemu.GeneratedUPN(4321, false)
	st := newScaleStack(t, map[string]string{"PROTECTED_USERS": protected})
	want := map[string]outcome.Status{}
	for n := 1; n <= scaleUsers; n++ {
		switch {
		case n%scaleGuests == 0:
			want[graphemu.GeneratedID(n)] = outcome.Skipped
		case n == 4321:
			want[graphemu.GeneratedID(n)] = outcome.Skipped
		default:
			want[graphemu.GeneratedID(n)] = outcome.Revoked
		}
	}
	st.start(t, `{"sweep": {"name": "contractor-offboarding", "group": "`+scaleGroup+`", "approved": true, "reason": "INC-4711"}}`)
	ch := &chaos{dieAfter: 7, deadlineAt: 23}
	rep := st.consume(t, ch)
	checkRun(t, st, "contractor-offboarding", want, nil, rep)
	checkChaos(t, rep, ch)
	for _, r := range st.emu.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1.0/users/") && !strings.EqualFold(r.Path, "/v1.0/users/"+protected) {
			t.Fatalf("looked up %s: the listing's userType is enough", r.Path)
		}
		if strings.HasSuffix(r.Path, "/revokeSignInSessions") && r.ThrottlePriority != graphemu.PriorityLow {
			t.Fatalf("a sweep's revoke sent x-ms-throttle-priority %q, want Low", r.ThrottlePriority)
		}
	}
	// Connections reused: each container keeps as many as it runs calls at once (four
	// workers, a listing, a token), not one per request (the issue measured 1,342 for
	// 11,523 requests when Go kept two idle per host).
	if n := st.emu.Connections(); n > 30 {
		t.Errorf("%d connections for %d requests", n, len(st.emu.Requests()))
	} else {
		t.Logf("%d connections for %d requests", n, len(st.emu.Requests()))
	}
	if got := finals(t, st)[graphemu.GeneratedID(4321)]; !strings.Contains(got.Reason, "protected") {
		t.Errorf("the protected member: %+v", got)
	}
}

// A 10,000-line list in S3, as an incident team writes one: UPNs, object ids and JSON
// lines mixed, with a duplicate, a crafted value and a line that is no identifier among
// them, and a user Graph keeps failing. The bad lines are reported with their numbers;
// the failing user's chunk reaches the failure queue with the reason; everyone else is
// revoked once.
func TestSweepTenThousandUserList(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 users")
	}
	st := newScaleStack(t, nil)
	const failing = 777
	st.emu.Inject(graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: graphemu.GeneratedID(failing), Status: http.StatusInternalServerError, Times: 1000})
	var list bytes.Buffer
	want := map[string]outcome.Status{}
	line, badLines := 0, map[int]string{}
	add := func(s string) { line++; list.WriteString(s + "\n") }
	for n := 1; n <= scaleUsers; n++ {
		id := graphemu.GeneratedID(n)
		guest := n%scaleGuests == 0
		switch n % 3 {
		case 0:
			add(graphemu.GeneratedUPN(n, guest))
		case 1:
			add(id)
		default:
			add(fmt.Sprintf(`{"userPrincipalName": %q, "userId": %q}`, graphemu.GeneratedUPN(n, guest), id))
		}
		switch {
		case guest && n%3 == 0:
			// Named by its #EXT# UPN: skipped as a guest without a lookup, so the
			// outcome has the UPN and no id.
			want[strings.ToLower(graphemu.GeneratedUPN(n, true))] = outcome.Skipped
		case guest:
			want[id] = outcome.Skipped
		case n == failing:
			want[id] = outcome.Failed
		default:
			want[id] = outcome.Revoked
		}
		switch n {
		case 2500:
			add(id) // the same user again
			badLines[line] = "duplicate"
		case 5000:
			add(`../../users/` + graphemu.GeneratedID(1) + `/revokeSignInSessions`)
			badLines[line] = "crafted"
		case 7500:
			add("Adele Vance (Finance)")
			badLines[line] = "not an identifier"
		}
	}
	if _, err := st.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(st.bucket), Key: aws.String("lists/inc-4711.txt"), Body: bytes.NewReader(list.Bytes())}); err != nil {
		t.Fatal(err)
	}
	started := st.start(t, `{"sweep": {"name": "inc-4711", "list": {"bucket": "`+st.bucket+`", "key": "lists/inc-4711.txt"}, "approved": true, "reason": "INC-4711 breach"}}`)
	if started.Sweep.Listed != 0 && started.Sweep.Listed != scaleUsers {
		t.Errorf("started %+v", started.Sweep)
	}
	ch := &chaos{dieAfter: 11, deadlineAt: 40}
	rep := st.consume(t, ch)

	// The bad lines are failed outcomes of their own, each naming its line.
	var reported []string
	for _, c := range st.containers {
		for _, o := range audited(t, c.log.String()) {
			if o.Status == outcome.Failed && strings.Contains(o.Reason, "line ") {
				reported = append(reported, o.Reason)
			}
		}
	}
	for n, why := range badLines {
		found := false
		for _, r := range reported {
			found = found || strings.Contains(r, fmt.Sprintf("line %d", n))
		}
		if !found {
			t.Errorf("line %d (%s) not reported: %q", n, why, reported)
		}
	}
	if len(reported) != len(badLines) {
		t.Errorf("reported %q, want %d bad lines", reported, len(badLines))
	}
	poison := st.failed(t)
	if len(poison) != 1 || poison[0].Sweep != "inc-4711" || poison[0].Attempts < 5 {
		t.Fatalf("failure queue: %+v, want the failing user's chunk after 5 attempts", poison)
	}
	var why string
	for _, o := range poison[0].Outcomes {
		if strings.EqualFold(o.UserID, graphemu.GeneratedID(failing)) {
			why = o.Reason
		}
	}
	if !strings.Contains(why, "500") {
		t.Errorf("the poison chunk's reason for the failing user: %q", why)
	}
	checkRun(t, st, "inc-4711", want, map[outcome.Status]int{outcome.Failed: len(badLines)}, rep)
	checkChaos(t, rep, ch)
}

// An S3 list written by an adversary (or a careless export): a line pairing the
// break-glass account's object id with another user's UPN, the account again by its id in
// capitals and by its UPN in capitals, and one ordinary user. Graph's facts decide: the
// break-glass account is never revoked however it is named, each line ends with an
// outcome, and the same list swept again within SUPPRESS_MINUTES revokes nobody twice.
func TestSweepListCannotReachTheProtectedAccount(t *testing.T) {
	const bgID, bgUPN = "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42", "breakglass01@contoso.onmicrosoft.com"
	st := newScaleStackOf(t, map[string]string{"PROTECTED_USERS": bgUPN}, graphemu.DefaultUsers(), visibility, visibility)
	list := `{"userId": "` + bgID + `", "userPrincipalName": "AdeleV@contoso.onmicrosoft.com"}
` + strings.ToUpper(bgID) + `
` + strings.ToUpper(bgUPN) + `
AlexW@contoso.onmicrosoft.com
`
	if _, err := st.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(st.bucket), Key: aws.String("lists/hostile.txt"), Body: strings.NewReader(list)}); err != nil {
		t.Fatal(err)
	}
	spec := `{"sweep": {"name": "hostile", "list": {"bucket": "` + st.bucket + `", "key": "lists/hostile.txt"}, "reason": "test"}}`
	for run := 1; run <= 2; run++ {
		st.start(t, spec)
		st.consume(t, nil)
	}
	for _, r := range st.emu.Requests() {
		if r.Method == http.MethodPost && (strings.EqualFold(r.Path, "/v1.0/users/"+bgID+"/revokeSignInSessions") || strings.Contains(strings.ToLower(r.Path), "breakglass")) {
			t.Fatalf("a revoke was sent for the break-glass account: %s", r.Path)
		}
	}
	revoked := revokesByUser(st.emu)
	u, ok := st.emu.User("AlexW@contoso.onmicrosoft.com")
	if !ok {
		t.Fatal("the emulator has no AlexW")
	}
	if revoked[strings.ToLower(u.ID)] != 1 || len(revoked) != 1 {
		t.Errorf("Graph accepted revokes %v, want Alex once over both runs", revoked)
	}
	// Every line of each run has an outcome: run 1 revoked Alex, run 2 suppressed him.
	var statuses []string
	for _, c := range st.containers {
		for _, o := range audited(t, c.log.String()) {
			if strings.HasPrefix(o.AlertID, "hostile/") {
				statuses = append(statuses, string(o.Status)+" "+cmp.Or(o.UserPrincipalName, o.UserID, o.Identifier)+": "+o.Reason)
			}
		}
	}
	joined := strings.Join(statuses, "\n")
	if !strings.Contains(joined, "revoked AlexW") || !strings.Contains(joined, "suppressed AlexW") {
		t.Errorf("Alex: %s", joined)
	}
	for _, s := range statuses {
		if strings.HasPrefix(s, "revoked") && !strings.HasPrefix(s, "revoked AlexW") {
			t.Errorf("revoked someone else: %s", s)
		}
	}
	// Per run three outcomes: the break-glass account once (line 1 by its object id, line 3
	// by its UPN folded into it once Graph resolved both to one user), line 2 a repeat of
	// line 1's id, and Alex.
	if len(statuses) != 6 || strings.Count(joined, "skipped breakglass01@contoso.onmicrosoft.com: protected") != 2 || strings.Count(joined, "line 2: a repeat of line 1") != 2 {
		t.Errorf("outcomes over two runs:\n%s", joined)
	}
	t.Logf("outcomes:\n%s", joined)
}
