package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/testenv/esm"
)

// The sweep benchmark (make bench-sweep): the figures, from one run, against the
// emulator with 40 ms a request and Graph's documented write quota (3,000 writes per
// 150 s for the app in the tenant, Low priority refused first):
//
//   - a 10,000-member group swept as deployed (the queue, two consumers, the shared pace in
//     the state table, default GRAPH_WRITES_PER_SECOND and SWEEP_RESERVE): seconds from
//     the start request to the last chunk, users revoked a second over the 20/s ceiling,
//     the share of revoke calls answered 429, peak memory;
//   - alerts arriving during the sweep, one every few seconds on a third container:
//     latency p50 and p99;
//   - the same 10,000 users as a naive loop, one POST after another, waiting Retry-After
//     on a 429 as the SDK's retry handler does, against a tenant of its own (its own
//     quota), at the same time;
//   - a 100,000-user list in S3: the plan step's time and memory measured, the sweep's
//     time extrapolated from the measured rate.
//
// Its last line is the summary a script reads; SWEEP_BENCH_OUT names a file to write it to.

const (
	benchLatency    = 40 * time.Millisecond
	benchQuota      = 3000
	benchWindow     = 150 * time.Second
	benchAlertEvery = 5 * time.Second
	benchAlertUsers = 400 // alert targets, outside the swept group
)

func BenchmarkSweep(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement")
	}
	// SWEEP_BENCH_USERS makes a smaller run, to try the benchmark out.
	members := scaleUsers
	if n, err := strconv.Atoi(os.Getenv("SWEEP_BENCH_USERS")); err == nil && n > 0 {
		members = n
	}
	users := append(graphemu.DefaultUsers(), graphemu.GenerateUsers(graphemu.Generated{Count: members, Group: scaleGroup})...)
	users = append(users, graphemu.GenerateUsers(graphemu.Generated{Count: benchAlertUsers, First: members + 1})...)
	// The template's visibility timeout and function timeout.
	// The breaker's default (50 unapproved revokes in 10 minutes) would hold the alerts
	// after the 50th (the run sends about 110): the guardrail doing its job, but not what
	// is measured here. The approved sweep is never counted against it.
	st := newScaleStackOf(b, map[string]string{"GRAPH_WRITES_PER_SECOND": "", "AWS_LAMBDA_LOG_LEVEL": "INFO", "MAX_REVOKES_PER_WINDOW": "1000"}, users, 360*time.Second, 60*time.Second,
		graphemu.WithLatency(benchLatency), graphemu.WithWriteQuota(benchQuota, benchWindow))

	// The naive loop, on a tenant of its own, at the same time.
	var naive naiveRun
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		naive = runNaive(b, users[:len(graphemu.DefaultUsers())+members], members)
	}()

	start := time.Now()
	st.start(b, `{"sweep": {"name": "bench", "group": "`+scaleGroup+`", "approved": true, "reason": "benchmark"}}`)

	// Alerts on a third container while the sweep runs.
	alerts := st.another(b)
	done := make(chan struct{})
	var latencies []time.Duration
	var alertFailures atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; n <= benchAlertUsers; n++ {
			select {
			case <-done:
				return
			case <-time.After(benchAlertEvery):
			}
			payload := fmt.Sprintf(`{"userId": %q, "reason": "bench alert %d"}`, graphemu.GeneratedUPN(members+n, false), n)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("alert-%d", n)})
			began := time.Now()
			out, err := alerts.h.Invoke(ctx, []byte(payload))
			latencies = append(latencies, time.Since(began))
			cancel()
			var res outcome.Result
			if err != nil || json.Unmarshal(out, &res) != nil || len(res.Targets) != 1 || res.Targets[0].Status != outcome.Revoked {
				alertFailures.Add(1)
				b.Logf("alert %d: %v %s", n, err, out)
			}
		}
	}()

	var last atomic.Int64 // when the last chunk finished, unix nanoseconds
	var next atomic.Int64
	rep := st.consumeWith(b, func(ctx context.Context, ev json.RawMessage) (json.RawMessage, error) {
		out, err := st.containers[next.Add(1)%2].h.Invoke(ctx, ev)
		last.Store(time.Now().UnixNano())
		return out, err
	})
	close(done)
	seconds := time.Unix(0, last.Load()).Sub(start).Seconds()
	wg.Wait()
	for _, inv := range rep.Invocations {
		if inv.Result != esm.Succeeded {
			fmt.Printf("invocation %d: %s: %v\n", inv.Seq, inv.Result, inv.Err)
		}
	}

	status := decode(b, mustInvoke(b, st.containers[0], []byte(`{"sweepStatus": "bench"}`)))
	revoked := status.Summary[outcome.Revoked]
	if status.Sweep.Status != "complete" || revoked != members {
		b.Fatalf("the sweep: %+v %v", status.Sweep, status.Summary)
	}
	th := st.emu.Throttling()
	sweepCalls, sweepThrottled := 0, 0
	for _, r := range st.emu.Requests() {
		if strings.HasSuffix(r.Path, "/revokeSignInSessions") && r.ThrottlePriority == graphemu.PriorityLow {
			sweepCalls++
			if r.Status == http.StatusTooManyRequests {
				sweepThrottled++
			}
		}
	}
	ratio := float64(revoked) / seconds / 20
	throttled := 100 * float64(th.ThrottledWrites()) / float64(th.AcceptedWrites()+th.ThrottledWrites())
	slices.Sort(latencies)
	p50, p99 := percentile(latencies, 50), percentile(latencies, 99)

	plan := planHundredThousand(b, st)
	rss := peakRSS()

	b.ReportMetric(seconds, "sweep-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(throttled, "throttled-%")
	b.ReportMetric(float64(p99.Milliseconds()), "alert-p99-ms")
	b.ReportMetric(rss, "peak-rss-MB")
	fmt.Printf("sweep of %d members: %.1f s from the start request to the last chunk, %.2f users/s (ratio %.3f of 20/s); revoke calls %d (Low %d, of them 429: %d); throttled %.2f%% of all writes (Low %d, Normal %d); peak window %d writes, limit percentage up to %.2f; %d invocations\n",
		revoked, seconds, float64(revoked)/seconds, ratio, th.AcceptedWrites()+th.ThrottledWrites(), sweepCalls, sweepThrottled, throttled,
		th.Throttled[graphemu.PriorityLow], th.Throttled[graphemu.PriorityNormal], th.PeakWrites, th.PeakPercent, len(rep.Invocations))
	fmt.Printf("connections opened to the emulator: %d for %d requests\n", st.emu.Connections(), len(st.emu.Requests()))
	fmt.Printf("alerts during the sweep: %d, p50 %d ms, p99 %d ms, max %d ms, %d not revoked\n",
		len(latencies), p50.Milliseconds(), p99.Milliseconds(), percentile(latencies, 100).Milliseconds(), alertFailures.Load())
	fmt.Printf("naive loop (one POST after another, Retry-After waited): %d revoked in %.1f s, %.2f users/s (ratio %.3f), %d answered 429 (%.1f%%); alerts on its tenant meanwhile: %d, p50 %d ms, p99 %d ms, max %d ms\n",
		naive.revoked, naive.seconds, float64(naive.revoked)/naive.seconds, naive.ratio(), naive.throttled, 100*float64(naive.throttled)/float64(max(naive.calls, 1)),
		len(naive.alertLatencies), percentile(naive.alertLatencies, 50).Milliseconds(), percentile(naive.alertLatencies, 99).Milliseconds(), percentile(naive.alertLatencies, 100).Milliseconds())
	fmt.Printf("100,000-user list: plan step %.1f s (read, parse, %d chunk messages queued), peak heap during it %.1f MB; the sweep extrapolated at the measured rate: %.0f s (%.1f h)\n",
		plan.seconds, plan.queued, plan.peakHeapMB, 100000/(float64(revoked)/seconds), 100000/(float64(revoked)/seconds)/3600)
	line := fmt.Sprintf("sweep users=%d seconds=%.0f ratio=%.2f throttled=%.2f%% alert_p99_ms=%d peak_rss_mb=%.0f naive_ratio=%.2f",
		revoked, seconds, ratio, throttled, p99.Milliseconds(), rss, naive.ratio())
	fmt.Println(line)
	if out := os.Getenv("SWEEP_BENCH_OUT"); out != "" {
		os.WriteFile(out, []byte(line+"\n"), 0o644)
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(d)))) - 1
	return d[max(0, min(i, len(d)-1))]
}

// peakRSS is the process's peak resident set in MB: the kernel's high-water mark (VmHWM),
// or what the Go runtime took from the OS where /proc cannot be read. It holds the whole
// benchmark: the function's containers, the emulator's directories, the log buffers.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.Sys) / (1 << 20)
}

type naiveRun struct {
	revoked, calls, throttled int
	seconds                   float64
	alertLatencies            []time.Duration // alerts on the same tenant meanwhile, sorted
}

func (n naiveRun) ratio() float64 {
	if n.seconds == 0 {
		return 0
	}
	return float64(n.revoked) / n.seconds / 20
}

// runNaive revokes every member of the group one POST after another, on a tenant of its
// own with the same latency and quota: what a script calling Revoke-MgUserSignInSession in
// a loop does, the SDK's retry handler waiting Retry-After up to three times.
func runNaive(tb testing.TB, users []graphemu.User, members int) (run naiveRun) {
	emu := graphemu.NewServer(users, graphemu.WithLatency(benchLatency), graphemu.WithWriteQuota(benchQuota, benchWindow))
	defer emu.Close()
	client := emu.Client()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {emu.ClientID}, "client_secret": {emu.ClientSecret}, "scope": {"https://graph.microsoft.com/.default"}}
	resp, err := client.PostForm(emu.AuthorityHost()+emu.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		tb.Errorf("naive: token: %v", err)
		return run
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	// Alerts on the naive loop's tenant, as often as on the sweep's: each a POST sent at
	// once, its latency counted until Graph accepted it (Retry-After waited).
	stop := make(chan struct{})
	var alerts sync.WaitGroup
	alerts.Add(1)
	go func() {
		defer alerts.Done()
		for n := 1; n <= benchAlertUsers; n++ {
			select {
			case <-stop:
				return
			case <-time.After(benchAlertEvery):
			}
			began := time.Now()
			for attempt := 0; attempt < 4; attempt++ {
				status, wait := naivePost(tb, client, emu, tok.AccessToken, graphemu.GeneratedID(members+n))
				if status != http.StatusTooManyRequests {
					break
				}
				time.Sleep(wait)
			}
			run.alertLatencies = append(run.alertLatencies, time.Since(began))
		}
	}()
	defer func() {
		close(stop)
		alerts.Wait()
		slices.Sort(run.alertLatencies)
	}()
	start := time.Now()
	for n := 1; n <= members; n++ {
		for attempt := 0; attempt < 4; attempt++ {
			status, wait := naivePost(tb, client, emu, tok.AccessToken, graphemu.GeneratedID(n))
			if status == 0 {
				return run
			}
			run.calls++
			if status/100 == 2 {
				run.revoked++
				break
			}
			if status != http.StatusTooManyRequests {
				break
			}
			run.throttled++
			time.Sleep(wait)
		}
	}
	run.seconds = time.Since(start).Seconds()
	return run
}

// naivePost is one revoke call: its status (0: no answer) and the Retry-After to wait.
func naivePost(tb testing.TB, client *http.Client, emu *graphemu.Server, token, id string) (int, time.Duration) {
	req, _ := http.NewRequest(http.MethodPost, emu.GraphRoot()+"/v1.0/users/"+id+"/revokeSignInSessions", bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		tb.Errorf("naive: %v", err)
		return 0, 0
	}
	resp.Body.Close()
	wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, time.Duration(max(wait, 1)) * time.Second
}

type planFigures struct {
	seconds    float64
	queued     int
	peakHeapMB float64
}

// planHundredThousand starts a sweep of a 100,000-line list and runs its plan step (the
// list read from S3, parsed and split into chunk messages), measuring its time and the
// heap at its peak; the chunks are left unswept.
func planHundredThousand(tb testing.TB, st *scaleStack) planFigures {
	ctx := context.Background()
	var list bytes.Buffer
	for n := 1; n <= 100000; n++ {
		if n%2 == 0 {
			fmt.Fprintf(&list, "%s\n", graphemu.GeneratedID(n))
		} else {
			fmt.Fprintf(&list, "{\"userPrincipalName\": %q}\n", graphemu.GeneratedUPN(n, false))
		}
	}
	if _, err := st.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.bucket), Key: aws.String("lists/100k.txt"), Body: bytes.NewReader(list.Bytes())}); err != nil {
		tb.Fatal(err)
	}
	list = bytes.Buffer{}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	var peak uint64
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	began := time.Now()
	st.start(tb, `{"sweep": {"name": "list-100k", "list": {"bucket": "`+st.bucket+`", "key": "lists/100k.txt"}, "approved": true, "reason": "benchmark"}}`)
	msgs, err := st.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.queueURL), MaxNumberOfMessages: 1,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(msgs.Messages) != 1 {
		tb.Fatalf("the plan message: %v", err)
	}
	m := msgs.Messages[0]
	body, _ := json.Marshal(aws.ToString(m.Body))
	event := fmt.Sprintf(`{"Records": [{"messageId": %q, "receiptHandle": "h", "eventSource": "aws:sqs", "eventSourceARN": %q, "attributes": {"ApproximateReceiveCount": "1"}, "body": %s}]}`,
		aws.ToString(m.MessageId), st.queueARN, body)
	if _, err := st.containers[0].invoke(tb, []byte(event)); err != nil {
		tb.Fatalf("the plan step: %v", err)
	}
	seconds := time.Since(began).Seconds()
	close(stop)
	sampled.Wait()
	attrs, _ := st.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(st.queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	queued, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	return planFigures{seconds: seconds, queued: queued, peakHeapMB: float64(peak-min(peak, base.HeapInuse)) / (1 << 20)}
}
