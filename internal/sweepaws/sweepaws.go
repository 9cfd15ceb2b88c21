// Package sweepaws is the AWS side of the sweep engine (package sweep): its work queue in
// SQS, explicit lists read from S3, and poison chunks sent to the failure queue. It holds
// no logic of its own; every error names the resource and what the function's role needs.
package sweepaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// Queue is the sweep work queue (sweep.Queue).
type Queue struct {
	SQS *sqs.Client
	URL string
}

// Send queues work ten messages at a time (SendMessageBatch's most); an entry SQS refuses
// fails the whole send, so the step that queued it is retried.
func (q Queue) Send(ctx context.Context, work []sweep.Work) error {
	for start := 0; start < len(work); start += 10 {
		batch := work[start:min(start+10, len(work))]
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
		for i, w := range batch {
			body, err := sweep.Encode(w)
			if err != nil {
				return err
			}
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))}
		}
		out, err := q.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			return describe(err, "sqs:SendMessage", "the sweep queue")
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return fmt.Errorf("the sweep queue refused %d of %d messages (%s: %s)", len(out.Failed), len(entries), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return nil
}

// Objects reads explicit lists from one bucket, under one prefix: the function may read
// nothing else, and says so before it asks S3.
type Objects struct {
	S3     *s3.Client
	Bucket string
	Prefix string // "" for the whole bucket
}

// Read implements sweep.Objects.
func (o Objects) Read(ctx context.Context, obj sweep.Object) ([]byte, error) {
	if o.Bucket == "" {
		return nil, errors.New("no bucket is configured for sweep lists (SweepListBucket)")
	}
	if obj.Bucket != o.Bucket || !strings.HasPrefix(obj.Key, o.Prefix) {
		return nil, fmt.Errorf("outside s3://%s/%s, where this deployment reads sweep lists", o.Bucket, o.Prefix)
	}
	head, err := o.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)})
	if err != nil {
		return nil, describe(err, "s3:GetObject", "the object")
	}
	if n := aws.ToInt64(head.ContentLength); n > sweep.MaxListBytes {
		return nil, fmt.Errorf("%d bytes, more than the %d a list may hold", n, sweep.MaxListBytes)
	}
	get, err := o.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key), IfMatch: head.ETag})
	if err != nil {
		return nil, describe(err, "s3:GetObject", "the object")
	}
	defer get.Body.Close()
	b, err := io.ReadAll(io.LimitReader(get.Body, sweep.MaxListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading it: %w", err)
	}
	if len(b) > sweep.MaxListBytes {
		return nil, fmt.Errorf("more than the %d bytes a list may hold", sweep.MaxListBytes)
	}
	return b, nil
}

// Failures sends poison chunks to the failure queue, as Lambda's OnFailure destination
// sends failed events: the reason beside what failed, so an operator can act on it.
type Failures struct {
	SQS *sqs.Client
	URL string
}

// Poison is what the failure queue receives for a chunk given up on.
type Poison struct {
	Kind     string            `json:"kind"` // "sweep-chunk"
	Sweep    string            `json:"sweep"`
	Run      string            `json:"run"`
	Seq      int               `json:"seq"`
	Attempts int               `json:"attempts"`
	Reason   string            `json:"reason"`
	Outcomes []outcome.Outcome `json:"outcomes"`
}

// Fail implements the engine's Fail.
func (f Failures) Fail(ctx context.Context, p sweep.Poison) error {
	var unhandled []string
	for _, o := range p.Outcomes {
		if o.Status.Unhandled() {
			unhandled = append(unhandled, string(o.Status)+": "+o.Reason)
		}
	}
	reason := fmt.Sprintf("%d of %d users not handled after %d attempts", len(unhandled), len(p.Outcomes), p.Attempts)
	if len(unhandled) > 0 {
		reason += "; first: " + unhandled[0]
	}
	body, err := json.Marshal(Poison{Kind: "sweep-chunk", Sweep: p.Sweep, Run: p.Run, Seq: p.Seq, Attempts: p.Attempts, Reason: reason, Outcomes: p.Outcomes})
	if err != nil {
		return err
	}
	if _, err := f.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.URL), MessageBody: aws.String(string(body))}); err != nil {
		return describe(err, "sqs:SendMessage", "the failure queue")
	}
	return nil
}

// describe names an AWS failure by its code and, when it is a denial, the action.
func describe(err error, action, what string) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "AccessDenied.Exception", "Forbidden":
			return fmt.Errorf("no permission on %s: the function's role needs %s on it", what, action)
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s does not exist", what)
		case "PreconditionFailed":
			return fmt.Errorf("%s changed while it was read: try again", what)
		}
		return fmt.Errorf("%s: %s", what, api.ErrorCode())
	}
	return fmt.Errorf("%s: %w", what, err)
}
