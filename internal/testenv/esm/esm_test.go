package esm

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

var client *sqs.Client

func TestMain(m *testing.M) {
	srv, err := moto.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range srv.Env() {
		os.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		srv.Stop()
		os.Exit(1)
	}
	client = sqs.NewFromConfig(cfg)
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

type testQueue struct {
	url, arn, dlqURL string
}

// newQueue makes a queue with a visibility timeout of so many seconds and, when
// maxReceives > 0, a dead-letter queue its RedrivePolicy sends messages to after that
// many receives. It marks the test parallel: each has its own queue.
func newQueue(t *testing.T, visibility, maxReceives int) testQueue {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	name := strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(t.Name())
	var q testQueue
	attrs := map[string]string{"VisibilityTimeout": strconv.Itoa(visibility)}
	if maxReceives > 0 {
		dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
		if err != nil {
			t.Fatal(err)
		}
		q.dlqURL = *dlq.QueueUrl
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn": %q, "maxReceiveCount": "%d"}`, queueARN(t, q.dlqURL), maxReceives)
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	q.url, q.arn = *out.QueueUrl, queueARN(t, *out.QueueUrl)
	return q
}

func queueARN(t *testing.T, url string) string {
	t.Helper()
	out, err := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes["QueueArn"]
}

// send queues bodies and returns their message ids, in order.
func send(t *testing.T, url string, bodies ...string) []string {
	t.Helper()
	var ids []string
	for _, b := range bodies {
		out, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.MessageId)
	}
	return ids
}

// drain receives whatever is visible in url (the dead-letter queue), body by message id.
func drain(t *testing.T, url string) map[string]string {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range out.Messages {
		got[*m.MessageId] = *m.Body
	}
	return got
}

func consume(t *testing.T, m Mapping, h Handler) *Report {
	t.Helper()
	m.SQS = client
	if m.Timeout == 0 {
		m.Timeout = time.Second
	}
	if m.IdleStop == 0 {
		m.IdleStop = 200 * time.Millisecond
	}
	// A bound on the test, not an assertion on timing: a run that never ends fails here.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := m.Run(ctx, h)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// sqsEvent reads the event as the function would.
func sqsEvent(t *testing.T, raw json.RawMessage) events.SQSEvent {
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Errorf("the event does not decode as aws-lambda-go's SQSEvent: %v", err)
	}
	return ev
}

func failures(ids ...string) json.RawMessage {
	type item struct {
		ItemIdentifier string `json:"itemIdentifier"`
	}
	resp := struct {
		BatchItemFailures []item `json:"batchItemFailures"`
	}{BatchItemFailures: []item{}}
	for _, id := range ids {
		resp.BatchItemFailures = append(resp.BatchItemFailures, item{id})
	}
	b, _ := json.Marshal(resp)
	return b
}

// The event is Lambda's: its members, the system attributes, message attributes in camel
// case with both lists, md5OfMessageAttributes null without attributes, a lambdacontext
// and a deadline.
func TestEventShape(t *testing.T) {
	q := newQueue(t, 30, 0)
	plain := send(t, q.url, `{"sweep":"offboarding","run":"r1"}`)[0]
	out, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String("with attributes"),
		MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("chunk")}}})
	if err != nil {
		t.Fatal(err)
	}
	withAttrs := *out.MessageId

	var raw json.RawMessage
	var requestID string
	var deadline bool
	rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1, ReportBatchItemFailures: true}, func(ctx context.Context, ev json.RawMessage) (json.RawMessage, error) {
		raw = ev
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			requestID = lc.AwsRequestID
		}
		_, deadline = ctx.Deadline()
		return nil, nil
	})
	if rep.Count(Succeeded) != 1 || len(rep.Invocations) != 1 || len(rep.Deleted()) != 2 {
		t.Fatalf("report %+v: want one invocation of both messages, both deleted", rep)
	}
	if requestID == "" || requestID != rep.Invocations[0].RequestID || !deadline {
		t.Errorf("lambdacontext request id %q (report %q), deadline %v", requestID, rep.Invocations[0].RequestID, deadline)
	}
	var doc struct {
		Records []map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Records) != 2 {
		t.Fatalf("event %s: %v", raw, err)
	}
	wantKeys := []string{"attributes", "awsRegion", "body", "eventSource", "eventSourceARN", "md5OfBody", "md5OfMessageAttributes", "messageAttributes", "messageId", "receiptHandle"}
	for _, r := range doc.Records {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("record members %v, want %v", keys, wantKeys)
		}
	}
	ev := sqsEvent(t, raw)
	for _, r := range ev.Records {
		sum := md5.Sum([]byte(r.Body))
		if r.EventSource != "aws:sqs" || r.EventSourceARN != q.arn || r.AWSRegion != "us-east-1" || r.ReceiptHandle == "" || r.Md5OfBody != hex.EncodeToString(sum[:]) {
			t.Errorf("record %+v", r)
		}
		for _, a := range []string{"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} {
			if r.Attributes[a] == "" {
				t.Errorf("%s: attribute %s missing: %v", r.MessageId, a, r.Attributes)
			}
		}
		if r.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("first delivery with ApproximateReceiveCount %q", r.Attributes["ApproximateReceiveCount"])
		}
	}
	byID := map[string]map[string]json.RawMessage{}
	for _, r := range doc.Records {
		var id string
		_ = json.Unmarshal(r["messageId"], &id)
		byID[id] = r
	}
	if got := string(byID[plain]["md5OfMessageAttributes"]); got != "null" || string(byID[plain]["messageAttributes"]) != "{}" {
		t.Errorf("without attributes: md5OfMessageAttributes %s, messageAttributes %s", got, byID[plain]["messageAttributes"])
	}
	if got := string(byID[withAttrs]["messageAttributes"]); got != `{"kind":{"stringValue":"chunk","stringListValues":[],"binaryListValues":[],"dataType":"String"}}` {
		t.Errorf("message attributes %s", got)
	}
}

// A partial batch response deletes the others; the failed records come back after the
// visibility timeout with their receive count raised.
func TestPartialBatchFailure(t *testing.T) {
	q := newQueue(t, 1, 5)
	ids := send(t, q.url, "0", "1", "2", "3", "4", "5")
	rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1, ReportBatchItemFailures: true}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var failed []string
		for _, r := range sqsEvent(t, raw).Records {
			n, _ := strconv.Atoi(r.Body)
			if n%2 == 1 && r.Attributes["ApproximateReceiveCount"] == "1" {
				failed = append(failed, r.MessageId)
			}
		}
		return failures(failed...), nil
	})
	odd := []string{ids[1], ids[3], ids[5]}
	if len(rep.Invocations) != 2 || rep.Invocations[0].Result != Partial || rep.Invocations[1].Result != Succeeded {
		t.Fatalf("invocations %+v: want a partial one, then one of the failed records", rep.Invocations)
	}
	first, second := rep.Invocations[0], rep.Invocations[1]
	if len(first.Records) != 6 || !sameSet(first.Retried, odd) || !sameSet(first.Deleted, []string{ids[0], ids[2], ids[4]}) {
		t.Errorf("first: %d records, retried %v, deleted %v", len(first.Records), first.Retried, first.Deleted)
	}
	for _, d := range second.Records {
		if !slices.Contains(odd, d.MessageID) || d.ReceiveCount != 2 {
			t.Errorf("second delivery %+v: want the odd ones, received twice", d)
		}
	}
	if len(second.Records) != 3 || !sameSet(rep.Deleted(), ids) {
		t.Errorf("deleted %v, want each of %v once", rep.Deleted(), ids)
	}
	if dlq := drain(t, q.dlqURL); len(dlq) != 0 {
		t.Errorf("dead-letter queue %v", dlq)
	}
}

// A function error returns the whole batch, records handled before the error included.
func TestFunctionErrorReturnsTheBatch(t *testing.T) {
	q := newQueue(t, 1, 0)
	ids := send(t, q.url, "a", "b", "c")
	rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1, ReportBatchItemFailures: true}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		if sqsEvent(t, raw).Records[0].Attributes["ApproximateReceiveCount"] == "1" {
			return failures(), errors.New("state table unavailable")
		}
		return nil, nil
	})
	if len(rep.Invocations) != 2 || rep.Invocations[0].Result != FunctionError || rep.Invocations[0].Err.Error() != "state table unavailable" {
		t.Fatalf("invocations %+v", rep.Invocations)
	}
	if got := rep.Invocations[0].Deleted; len(got) != 0 || !sameSet(rep.Invocations[0].Retried, ids) {
		t.Errorf("first: deleted %v, retried %v", got, rep.Invocations[0].Retried)
	}
	for _, d := range rep.Invocations[1].Records {
		if d.ReceiveCount != 2 {
			t.Errorf("%+v", d)
		}
	}
	if !sameSet(rep.Invocations[1].Deleted, ids) {
		t.Errorf("second: deleted %v", rep.Invocations[1].Deleted)
	}
}

// An invocation that reaches its deadline has its context cancelled and fails its batch;
// one that answers after the deadline anyway has its answer discarded.
func TestTimeout(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]func(ctx context.Context) (json.RawMessage, error){
		"stuck": func(ctx context.Context) (json.RawMessage, error) { // waits on Graph until its context ends, as the SDKs do
			<-ctx.Done()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Errorf("the context ended with %v", ctx.Err())
			}
			return nil, ctx.Err()
		},
		"late": func(ctx context.Context) (json.RawMessage, error) { // ignores its context: done, it says, too late
			d, _ := ctx.Deadline()
			time.Sleep(time.Until(d) + 50*time.Millisecond)
			return failures(), nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			q := newQueue(t, 1, 0)
			ids := send(t, q.url, name)
			rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1, ReportBatchItemFailures: true, Timeout: time.Second}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
				if sqsEvent(t, raw).Records[0].Attributes["ApproximateReceiveCount"] != "1" {
					return nil, nil
				}
				return h(ctx)
			})
			if len(rep.Invocations) != 2 || rep.Invocations[0].Result != TimedOut || rep.Invocations[1].Result != Succeeded {
				t.Fatalf("invocations %+v: want one timed out, then the redelivery", rep.Invocations)
			}
			if inv := rep.Invocations[0]; len(inv.Deleted) != 0 || inv.Err.Error() != "Task timed out after 1.00 seconds" {
				t.Errorf("timed out: %+v", inv)
			}
			if d := rep.Invocations[1].Records[0]; d.MessageID != ids[0] || d.ReceiveCount != 2 || !slices.Equal(rep.Deleted(), ids) {
				t.Errorf("redelivery %+v, deleted %v", d, rep.Deleted())
			}
		})
	}
}

// A message that keeps failing is delivered maxReceiveCount times, then moto's redrive
// moves it, intact, to the dead-letter queue; the others are unaffected.
func TestPoisonReachesTheDeadLetterQueue(t *testing.T) {
	q := newQueue(t, 1, 2)
	ids := send(t, q.url, "poison", "fine")
	rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1, ReportBatchItemFailures: true}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var failed []string
		for _, r := range sqsEvent(t, raw).Records {
			if r.Body == "poison" {
				failed = append(failed, r.MessageId)
			}
		}
		return failures(failed...), nil
	})
	if d := rep.Deliveries(); d[ids[0]] != 2 || d[ids[1]] != 1 {
		t.Errorf("deliveries %v: want the poison twice (maxReceiveCount), the other once", d)
	}
	if got := rep.Deleted(); !slices.Equal(got, ids[1:]) {
		t.Errorf("deleted %v", got)
	}
	if dlq := drain(t, q.dlqURL); len(dlq) != 1 || dlq[ids[0]] != "poison" {
		t.Errorf("dead-letter queue %v, want the poison message", dlq)
	}
}

// A response Lambda cannot read fails the whole batch; without ReportBatchItemFailures
// the response is ignored and the batch deleted.
func TestResponses(t *testing.T) {
	t.Parallel()
	t.Run("unreadable", func(t *testing.T) {
		q := newQueue(t, 1, 0)
		ids := send(t, q.url, "x")
		rep := consume(t, Mapping{QueueURL: q.url, ReportBatchItemFailures: true}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
			if sqsEvent(t, raw).Records[0].Attributes["ApproximateReceiveCount"] == "1" {
				return failures("not-a-message-of-the-batch"), nil
			}
			return json.RawMessage(`{"batchItemFailures": []}`), nil
		})
		if len(rep.Invocations) != 2 || rep.Invocations[0].Result != BadResponse || !errors.Is(rep.Invocations[0].Err, errResponse) || !slices.Equal(rep.Deleted(), ids) {
			t.Errorf("invocations %+v", rep.Invocations)
		}
	})
	t.Run("not reported", func(t *testing.T) {
		q := newQueue(t, 30, 0)
		ids := send(t, q.url, "x", "y")
		rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
			return failures(sqsEvent(t, raw).Records[0].MessageId), nil
		})
		if len(rep.Invocations) != 1 || rep.Invocations[0].Result != Succeeded || !sameSet(rep.Deleted(), ids) {
			t.Errorf("invocations %+v: without ReportBatchItemFailures Lambda ignores batchItemFailures", rep.Invocations)
		}
	})
}

func TestRetries(t *testing.T) {
	batch := map[string]bool{"m1": true, "m2": true}
	for resp, want := range map[string][]string{
		``: nil, `null`: nil, `{}`: nil, `{"batchItemFailures": null}`: nil, `{"batchItemFailures": []}`: nil,
		`{"statusCode": 200}`: nil, // an object without the member: a null list
		`{"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m2"}]}`: {"m2"},
		`{"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m1"}]}`: {"m2", "m1"},
	} {
		got, err := retries(json.RawMessage(resp), batch)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", resp, got, err, want)
		}
	}
	for _, resp := range []string{
		`not json`, `"ok"`, `[]`, `{"batchItemFailures": {}}`, `{"batchItemFailures": [{"itemIdentifier": ""}]}`,
		`{"batchItemFailures": [{"itemIdentifier": null}]}`, `{"batchItemFailures": [{"itemId": "m1"}]}`,
		`{"batchItemFailures": [{"itemIdentifier": "m3"}]}`, `{"batchItemFailures": [{"itemIdentifier": 1}]}`,
		`{"batchItemFailures": ["m1"]}`,
	} {
		if got, err := retries(json.RawMessage(resp), batch); !errors.Is(err, errResponse) {
			t.Errorf("%s: %v, %v; want a complete failure", resp, got, err)
		}
	}
}

// At most Concurrency invocations run at once, and that many do when there is work.
func TestConcurrency(t *testing.T) {
	q := newQueue(t, 30, 0)
	ids := send(t, q.url, "1", "2", "3", "4", "5", "6", "7")
	var mu sync.Mutex
	inside, entered, most := 0, 0, 0
	all := make(chan struct{})
	rep := consume(t, Mapping{QueueURL: q.url, BatchSize: 1, Concurrency: 3, Timeout: 30 * time.Second}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		inside++
		entered++
		most = max(most, inside)
		if entered == 3 {
			close(all)
		}
		mu.Unlock()
		defer func() { mu.Lock(); inside--; mu.Unlock() }()
		select { // the first three wait for each other: three consumers must be polling
		case <-all:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	// Compacted: moto's receive takes no lock, so two pollers can (rarely) both get a
	// message, as SQS's at-least-once delivery allows.
	if most != 3 || rep.MaxConcurrent != 3 || rep.Count(TimedOut) != 0 || !sameSet(slices.Compact(slices.Sorted(slices.Values(rep.Deleted()))), ids) {
		t.Errorf("at most %d inside (report %d), %d timed out, deleted %v", most, rep.MaxConcurrent, rep.Count(TimedOut), rep.Deleted())
	}
}

// Work the function queues (a plan step queueing its chunks) is consumed before the run
// stops: the queue is not empty while it is in flight.
func TestWorkQueuedByTheFunction(t *testing.T) {
	q := newQueue(t, 30, 0)
	send(t, q.url, "plan")
	var bodies []string
	var mu sync.Mutex
	rep := consume(t, Mapping{QueueURL: q.url, Concurrency: 1, ReportBatchItemFailures: true}, func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		for _, r := range sqsEvent(t, raw).Records {
			mu.Lock()
			bodies = append(bodies, r.Body)
			mu.Unlock()
			if r.Body == "plan" {
				for i := range 3 {
					if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String("chunk " + strconv.Itoa(i))}); err != nil {
						return nil, err
					}
				}
			}
		}
		return nil, nil
	})
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"chunk 0", "chunk 1", "chunk 2", "plan"}) || len(rep.Deleted()) != 4 {
		t.Errorf("handled %v, deleted %d", bodies, len(rep.Deleted()))
	}
}

// A mapping Lambda would refuse is refused.
func TestCheck(t *testing.T) {
	q := newQueue(t, 1, 0)
	fifo, err := client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("esm-check.fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Mapping{
		"timeout over the visibility timeout": {QueueURL: q.url, Timeout: 2 * time.Second},
		"no timeout":                          {QueueURL: q.url},
		"batch over 10 without a window":      {QueueURL: q.url, Timeout: time.Second, BatchSize: 11},
		"batch over 10,000":                   {QueueURL: q.url, Timeout: time.Second, BatchSize: 10001, MaximumBatchingWindow: time.Second},
		"FIFO":                                {QueueURL: *fifo.QueueUrl, Timeout: time.Second},
	} {
		m.SQS = client
		if _, err := m.Run(context.Background(), func(context.Context, json.RawMessage) (json.RawMessage, error) {
			t.Errorf("%s: invoked", name)
			return nil, nil
		}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Cancelling the run's context stops polling; the invocation running finishes and is settled.
func TestContextStopsTheRun(t *testing.T) {
	q := newQueue(t, 30, 0)
	ids := send(t, q.url, "only")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := Mapping{SQS: client, QueueURL: q.url, Timeout: time.Second}.Run(ctx, func(ictx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		cancel()
		if ictx.Err() != nil {
			return nil, errors.New("the invocation's context ended with the run's")
		}
		return nil, nil
	})
	if !errors.Is(err, context.Canceled) || rep == nil || len(rep.Invocations) != 1 || rep.Invocations[0].Result != Succeeded || !slices.Equal(rep.Deleted(), ids) {
		t.Errorf("err %v, report %+v", err, rep)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
