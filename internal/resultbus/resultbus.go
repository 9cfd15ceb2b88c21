// Package resultbus puts each delivery's result on an EventBridge bus as one
// "Session Revocation Completed" event, so that a SOAR rule matches one shape whether the
// function was invoked asynchronously, from SQS, directly or by a schedule.
//
// It puts nothing but the result, which holds only what a log line may (identifiers,
// statuses, reasons, request ids): never a payload, a secret or a token.
package resultbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/session-revoker/session-revoker/internal/outcome"
)

// The event's source and detail-type, which a SOAR rule matches.
const (
	Source     = "session-revoker"
	DetailType = "Session Revocation Completed"
)

// MaxDetailBytes bounds the detail: EventBridge takes at most 256 KB per entry, detail,
// detail-type, source and resources together.
const MaxDetailBytes = 250 << 10

// API is the part of the EventBridge client the bus uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Bus puts results on one event bus.
type Bus struct {
	api  API
	name string
}

// New returns a Bus putting on the bus name (a name or an ARN).
func New(api API, name string) *Bus { return &Bus{api: api, name: name} }

// Publish puts one event whose detail is res (Detail), failing when EventBridge refuses it.
func (b *Bus) Publish(ctx context.Context, res *outcome.Result) error {
	detail, err := Detail(res, MaxDetailBytes)
	if err != nil {
		return err
	}
	out, err := b.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(b.name),
		Source:       aws.String(Source),
		DetailType:   aws.String(DetailType),
		Detail:       aws.String(string(detail)),
	}}})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
			return fmt.Errorf("no permission to put the result on event bus %s: the function's role needs events:PutEvents on it (RESULT_BUS)", b.name)
		}
		return fmt.Errorf("putting the result on event bus %s: %w", b.name, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e := out.Entries[0]
		return fmt.Errorf("event bus %s refused the result: %s: %s", b.name, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return nil
}

// detail is the event's detail: the result, and how much of it was cut to fit.
type detail struct {
	*outcome.Result
	// TargetsOmitted and AlertsOmitted count what was cut to fit EventBridge's entry
	// limit; each target has its audit line in CloudWatch.
	TargetsOmitted int `json:"targetsOmitted,omitempty"`
	AlertsOmitted  int `json:"alertsOmitted,omitempty"`
}

// Detail is res as the event's JSON detail, at most max bytes. A result that does not
// fit keeps everything but its targets, then as many targets as fit, those not handled
// (failed, deferred, needs-approval) first, and says in targetsOmitted how many it cut.
// Should the alerts alone not fit (a page of thousands), it keeps no target and the
// first alerts that fit, saying so in alertsOmitted.
func Detail(res *outcome.Result, max int) ([]byte, error) {
	b, err := json.Marshal(detail{Result: res})
	if err != nil || len(b) <= max {
		return b, err
	}
	ordered := make([]outcome.Outcome, 0, len(res.Targets))
	for _, t := range res.Targets {
		if t.Status.Unhandled() {
			ordered = append(ordered, t)
		}
	}
	for _, t := range res.Targets {
		if !t.Status.Unhandled() {
			ordered = append(ordered, t)
		}
	}
	cut := *res
	withTargets := func(n int) []byte {
		cut.Targets = ordered[:n]
		b, _ := json.Marshal(detail{Result: &cut, TargetsOmitted: len(ordered) - n})
		return b
	}
	if n := largest(len(ordered), func(n int) bool { return len(withTargets(n)) <= max }); n >= 0 {
		return withTargets(n), nil
	}
	cut.Targets = []outcome.Outcome{}
	withAlerts := func(n int) []byte {
		cut.Alerts = res.Alerts[:n]
		b, _ := json.Marshal(detail{Result: &cut, TargetsOmitted: len(ordered), AlertsOmitted: len(res.Alerts) - n})
		return b
	}
	if n := largest(len(res.Alerts), func(n int) bool { return len(withAlerts(n)) <= max }); n >= 0 {
		return withAlerts(n), nil
	}
	return nil, fmt.Errorf("the result does not fit an EventBridge event even without its targets and alerts")
}

// largest is the largest n in [0, most] for which fits holds, fits being true up to some
// n and false after; -1 when not even 0 fits.
func largest(most int, fits func(int) bool) int {
	if !fits(0) {
		return -1
	}
	lo, hi := 0, most
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
