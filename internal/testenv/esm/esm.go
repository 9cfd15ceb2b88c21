// Package esm is a stand-in for Lambda's SQS event source mapping, for tests against
// moto: it polls a queue and invokes a handler in-process with the event Lambda sends, and
// deletes or leaves each message as Lambda would. moto runs SQS but not Lambda (that needs
// Docker), so a test of a queue-driven function runs it here instead.
//
// It follows Lambda's documented behaviour ("Using Lambda with Amazon SQS", "Handling
// errors for an SQS event source in Lambda", "Configuring scaling behavior for SQS event
// source mappings", CreateEventSourceMapping):
//
//   - Batches of up to BatchSize records, gathered for up to MaximumBatchingWindow (a
//     BatchSize over 10 requires a window of at least a second, as Lambda does), in the
//     event shape {"Records": [{"messageId", "receiptHandle", "body", "attributes",
//     "messageAttributes", "md5OfMessageAttributes", "md5OfBody", "eventSource": "aws:sqs",
//     "eventSourceARN", "awsRegion"}]}, with a lambdacontext (a new AwsRequestID each
//     invocation) and a deadline of the function's Timeout.
//   - At most Concurrency invocations at once (the mapping's MaximumConcurrency).
//   - A batch the function handled is deleted. A function error, a panic, or an invocation
//     that outlives its Timeout leaves the whole batch in flight: it comes back after the
//     queue's visibility timeout. With ReportBatchItemFailures the response's
//     batchItemFailures come back that way and the others are deleted; a response Lambda
//     cannot read as one fails the whole batch (see retries). Without it the response is
//     ignored, as Lambda ignores it.
//   - Poison messages reach the dead-letter queue through the queue's own RedrivePolicy:
//     moto 5.2.1 moves a message whose receive count has reached maxReceiveCount to the
//     target queue on the next receive, as SQS does, so the harness does nothing for it.
//   - The Timeout must not exceed the queue's visibility timeout (Lambda refuses such a
//     mapping); FIFO queues are not modelled and are refused.
//
// What it does not model: Lambda's scaling ramp (it runs Concurrency pollers at once), the
// back-off after function errors, throttling of the function, event filtering, and
// Lambda's long polls of 20 s (it short-polls every 100 ms, to notice an empty queue sooner).
// A handler that ignores its context keeps running after its deadline, which Lambda would
// not allow; the invocation is recorded timed out and its response discarded, and its
// consumer waits for it before taking another batch.
//
// It must never be used in production or pointed at a real queue: it deletes messages.
package esm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/wait"
)

// Handler is a function as Lambda invokes it: the event's JSON in, the response's JSON out.
type Handler func(ctx context.Context, event json.RawMessage) (json.RawMessage, error)

// Mapping is an SQS event source mapping.
type Mapping struct {
	SQS      *sqs.Client
	QueueURL string
	// BatchSize is the most records per invocation, 1 to 10,000 (default 10, Lambda's).
	BatchSize int
	// MaximumBatchingWindow is how long to gather records before invoking with fewer than
	// BatchSize (at most 5 minutes; required to be at least 1 s when BatchSize > 10).
	MaximumBatchingWindow time.Duration
	// Concurrency is how many invocations run at once: the mapping's MaximumConcurrency
	// (Lambda accepts 2 to 1,000), or 1 to model a function with reserved concurrency 1.
	// Default 5, the invocations Lambda starts with.
	Concurrency int
	// ReportBatchItemFailures is FunctionResponseTypes: [ReportBatchItemFailures]. Without
	// it, as in Lambda, a response's batchItemFailures are ignored and the batch deleted.
	ReportBatchItemFailures bool
	// Timeout is the function's timeout: each invocation's deadline. Required; at most the
	// queue's visibility timeout.
	Timeout time.Duration
	// IdleStop ends Run once the queue has held no message (visible, in flight or delayed)
	// and no invocation has run for this long (default 1 s).
	IdleStop time.Duration
	// FunctionARN is the lambdacontext's InvokedFunctionArn (default a made-up one in the
	// queue's region and account).
	FunctionARN string
}

// Result is how an invocation ended, as Lambda sees it.
type Result string

const (
	Succeeded     Result = "succeeded"      // returned; every record deleted
	Partial       Result = "partial"        // returned batchItemFailures; only those come back
	FunctionError Result = "function-error" // returned an error or panicked: the batch comes back
	TimedOut      Result = "timed-out"      // outlived its Timeout: the batch comes back
	BadResponse   Result = "bad-response"   // a response Lambda cannot read: the batch comes back
)

// Delivery is one record of an invocation.
type Delivery struct {
	MessageID    string
	Body         string
	ReceiveCount int // ApproximateReceiveCount: 1 the first time
}

// Invocation is one call of the handler.
type Invocation struct {
	Seq       int // 1, 2, ... in the order invocations started
	RequestID string
	Records   []Delivery
	Result    Result
	Err       error    // the function's error, the timeout, or what was wrong with the response
	Retried   []string // message ids left to come back after the visibility timeout
	Deleted   []string // message ids deleted
}

// Report is what a Run did.
type Report struct {
	Invocations []Invocation // in the order they started
	// MaxConcurrent is the most invocations that were running at once.
	MaxConcurrent int
}

// Count is the number of invocations that ended with r.
func (rep *Report) Count(r Result) int {
	n := 0
	for _, inv := range rep.Invocations {
		if inv.Result == r {
			n++
		}
	}
	return n
}

// Deliveries is how many times each message was delivered, by message id.
func (rep *Report) Deliveries() map[string]int {
	out := map[string]int{}
	for _, inv := range rep.Invocations {
		for _, d := range inv.Records {
			out[d.MessageID]++
		}
	}
	return out
}

// Deleted is every message id the mapping deleted, in the order deleted.
func (rep *Report) Deleted() []string {
	var out []string
	for _, inv := range rep.Invocations {
		out = append(out, inv.Deleted...)
	}
	return out
}

const (
	// pollInterval is the pause after a receive that found nothing. Lambda long-polls for
	// 20 s; short polls find an empty queue sooner, which keeps tests short.
	pollInterval = 100 * time.Millisecond
	// maxPayload is where gathering stops: Lambda's synchronous invocation payload is
	// 6 MB, and one more receive could add ten messages.
	maxPayload = 5 << 20
)

// queue is what Run learns of the queue before it starts.
type queue struct {
	arn, region, account string
	visibility           time.Duration
}

// run is one Run's shared state.
type run struct {
	m     Mapping
	q     queue
	h     Handler
	mu    sync.Mutex
	rep   Report
	busy  int       // invocations running
	idle  time.Time // when the queue was first seen empty with nothing running; zero: not idle
	stop  bool
	fatal error
}

// Run consumes the queue with h until the queue has stayed empty for IdleStop, or ctx
// ends (then the error is ctx's). Invocations running when ctx ends run to their own
// deadline, as disabling a mapping leaves them. An SQS call that fails stops the run with
// its error; the report says what happened until then.
func (m Mapping) Run(ctx context.Context, h Handler) (*Report, error) {
	q, err := m.check(ctx)
	if err != nil {
		return nil, err
	}
	if m.BatchSize == 0 {
		m.BatchSize = 10
	}
	if m.Concurrency == 0 {
		m.Concurrency = 5
	}
	if m.IdleStop == 0 {
		m.IdleStop = time.Second
	}
	if m.FunctionARN == "" {
		m.FunctionARN = fmt.Sprintf("arn:aws:lambda:%s:%s:function:esm", q.region, q.account)
	}
	r := &run{m: m, q: q, h: h}
	var wg sync.WaitGroup
	for range m.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.consume(ctx)
		}()
	}
	wg.Wait()
	if r.fatal != nil {
		return &r.rep, r.fatal
	}
	return &r.rep, ctx.Err()
}

// check validates the mapping as CreateEventSourceMapping does, and reads the queue.
func (m Mapping) check(ctx context.Context) (queue, error) {
	switch {
	case m.SQS == nil || m.QueueURL == "":
		return queue{}, errors.New("esm: SQS and QueueURL are required")
	case m.BatchSize < 0 || m.BatchSize > 10000:
		return queue{}, fmt.Errorf("esm: BatchSize %d: want 1 to 10000", m.BatchSize)
	case m.BatchSize > 10 && m.MaximumBatchingWindow < time.Second:
		return queue{}, fmt.Errorf("esm: BatchSize %d needs a MaximumBatchingWindow of at least 1 s, as Lambda requires above 10", m.BatchSize)
	case m.MaximumBatchingWindow < 0 || m.MaximumBatchingWindow > 5*time.Minute:
		return queue{}, fmt.Errorf("esm: MaximumBatchingWindow %v: want 0 to 5 min", m.MaximumBatchingWindow)
	case m.Concurrency < 0:
		return queue{}, fmt.Errorf("esm: Concurrency %d", m.Concurrency)
	case m.Timeout <= 0 || m.Timeout > 15*time.Minute:
		return queue{}, fmt.Errorf("esm: Timeout %v: want the function's timeout, up to 15 min", m.Timeout)
	}
	out, err := m.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(m.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameFifoQueue}})
	if err != nil {
		return queue{}, fmt.Errorf("esm: reading the queue %s: %w", m.QueueURL, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if out.Attributes[string(types.QueueAttributeNameFifoQueue)] == "true" {
		return queue{}, fmt.Errorf("esm: %s is a FIFO queue: not modelled", arn)
	}
	vis, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	if err != nil {
		return queue{}, fmt.Errorf("esm: the queue's VisibilityTimeout %q", out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	}
	q := queue{arn: arn, region: regionOf(arn), visibility: time.Duration(vis) * time.Second}
	if parts := strings.Split(arn, ":"); len(parts) == 6 {
		q.account = parts[4]
	}
	if m.Timeout > q.visibility {
		// Lambda's own check: the batch would come back to another poller while this
		// invocation still works on it.
		return queue{}, fmt.Errorf("esm: the queue's visibility timeout (%v) is less than the function's timeout (%v)", q.visibility, m.Timeout)
	}
	return q, nil
}

// consume is one poller: gather a batch, invoke, settle, until the run stops.
func (r *run) consume(ctx context.Context) {
	for !r.stopped() && ctx.Err() == nil {
		batch, err := r.gather(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.fail(err)
			}
			return
		}
		if len(batch) == 0 {
			if err := r.checkIdle(ctx); err != nil && ctx.Err() == nil {
				r.fail(err)
				return
			}
			if wait.For(ctx, pollInterval) != nil {
				return
			}
			continue
		}
		if err := r.invoke(ctx, batch); err != nil {
			r.fail(err)
			return
		}
	}
}

func (r *run) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stop
}

func (r *run) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.stop = true
}

// gather receives up to BatchSize messages: one receive without a batching window,
// receives until the batch is full or the window has passed with one.
func (r *run) gather(ctx context.Context) ([]types.Message, error) {
	var batch []types.Message
	size := 0
	end := time.Now().Add(r.m.MaximumBatchingWindow)
	for len(batch) < r.m.BatchSize && size < maxPayload {
		out, err := r.m.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.m.QueueURL),
			MaxNumberOfMessages:         int32(min(10, r.m.BatchSize-len(batch))),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			return nil, fmt.Errorf("esm: receiving from %s: %w", r.q.arn, err)
		}
		for _, msg := range out.Messages {
			size += len(deref(msg.Body))
		}
		batch = append(batch, out.Messages...)
		if r.m.MaximumBatchingWindow == 0 || !time.Now().Before(end) || len(batch) == 0 {
			break
		}
		if len(out.Messages) == 0 {
			if err := wait.For(ctx, min(pollInterval, time.Until(end))); err != nil {
				return nil, err
			}
		}
	}
	return batch, nil
}

// checkIdle stops the run once the queue has been empty, with nothing running, for IdleStop.
func (r *run) checkIdle(ctx context.Context) error {
	r.mu.Lock()
	busy := r.busy
	r.mu.Unlock()
	empty := false
	if busy == 0 {
		out, err := r.m.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(r.m.QueueURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
		if err != nil {
			return fmt.Errorf("esm: reading %s: %w", r.q.arn, err)
		}
		empty = true
		for _, v := range out.Attributes {
			if v != "0" {
				empty = false
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !empty || r.busy > 0:
		r.idle = time.Time{}
	case r.idle.IsZero():
		r.idle = time.Now()
	case time.Since(r.idle) >= r.m.IdleStop:
		r.stop = true
	}
	return nil
}

// invoke calls the handler with batch and settles it: deletes what Lambda would delete.
func (r *run) invoke(ctx context.Context, batch []types.Message) error {
	ev := event{Records: make([]record, len(batch))}
	inv := Invocation{RequestID: newRequestID(), Records: make([]Delivery, len(batch))}
	inBatch := make(map[string]bool, len(batch))
	for i, msg := range batch {
		ev.Records[i] = toRecord(msg, r.q.arn, r.q.region)
		n, _ := strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		inv.Records[i] = Delivery{MessageID: deref(msg.MessageId), Body: deref(msg.Body), ReceiveCount: n}
		inBatch[deref(msg.MessageId)] = true
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("esm: encoding the event: %w", err)
	}

	r.mu.Lock()
	r.busy++
	r.idle = time.Time{}
	r.rep.MaxConcurrent = max(r.rep.MaxConcurrent, r.busy)
	inv.Seq = len(r.rep.Invocations) + 1
	r.rep.Invocations = append(r.rep.Invocations, inv)
	r.mu.Unlock()

	resp, callErr, timedOut := r.call(ctx, inv.RequestID, payload)
	retry := make([]string, 0, len(batch))
	switch {
	case timedOut:
		inv.Result, inv.Err = TimedOut, fmt.Errorf("Task timed out after %.2f seconds", r.m.Timeout.Seconds())
	case callErr != nil:
		inv.Result, inv.Err = FunctionError, callErr
	case !r.m.ReportBatchItemFailures:
		inv.Result = Succeeded
	default:
		ids, err := retries(resp, inBatch)
		switch {
		case err != nil:
			inv.Result, inv.Err = BadResponse, err
		case len(ids) > 0:
			inv.Result, retry = Partial, ids
		default:
			inv.Result = Succeeded
		}
	}
	if inv.Result != Succeeded && inv.Result != Partial {
		for _, d := range inv.Records {
			retry = append(retry, d.MessageID)
		}
	}
	inv.Retried = retry
	var del []types.Message
	for _, msg := range batch {
		if !slices.Contains(retry, deref(msg.MessageId)) {
			del = append(del, msg)
		}
	}
	deleted, err := r.delete(ctx, del)
	inv.Deleted = deleted

	r.mu.Lock()
	r.rep.Invocations[inv.Seq-1] = inv
	r.busy--
	r.mu.Unlock()
	return err
}

// call runs the handler with Lambda's context: a deadline of Timeout, not cancelled when
// the run's context ends (disabling a mapping does not stop a running invocation), and a
// lambdacontext. A panic is a function error, as the Go runtime reports it.
func (r *run) call(ctx context.Context, requestID string, payload []byte) (resp json.RawMessage, err error, timedOut bool) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.m.Timeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{AwsRequestID: requestID, InvokedFunctionArn: r.m.FunctionARN})
	type answer struct {
		resp json.RawMessage
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- answer{err: fmt.Errorf("panic: %v", p)}
			}
		}()
		out, err := r.h(ictx, json.RawMessage(payload))
		done <- answer{out, err}
	}()
	// The consumer waits for the handler, which must notice its context. An answer that
	// comes once the deadline has passed is a timeout, whatever it says: Lambda would have
	// ended the invocation.
	a := <-done
	if ictx.Err() != nil {
		return nil, nil, true
	}
	return a.resp, a.err, false
}

// delete removes msgs from the queue, ten at a time, and returns the ids deleted.
func (r *run) delete(ctx context.Context, msgs []types.Message) ([]string, error) {
	var deleted []string
	for start := 0; start < len(msgs); start += 10 {
		group := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(group))
		for i, msg := range group {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle}
		}
		// The run's context may have ended; a settled batch is still deleted, as Lambda
		// finishes the invocations it started.
		out, err := r.m.SQS.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.m.QueueURL), Entries: entries})
		if err != nil {
			return deleted, fmt.Errorf("esm: deleting from %s: %w", r.q.arn, err)
		}
		if len(out.Failed) > 0 {
			return deleted, fmt.Errorf("esm: deleting from %s: %s: %s", r.q.arn, deref(out.Failed[0].Code), deref(out.Failed[0].Message))
		}
		for _, msg := range group {
			deleted = append(deleted, deref(msg.MessageId))
		}
	}
	return deleted, nil
}

// newRequestID is a Lambda request id: a random GUID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
