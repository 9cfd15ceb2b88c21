package webhookaws

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/session-revoker/session-revoker/internal/webhook"
)

// PutEventsAPI is the one EventBridge call the bus makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge is the alert bus.
type EventBridge struct {
	api PutEventsAPI
	bus string
	// timeout bounds one Put, the SDK's retries included, well inside the function's
	// timeout, so a slow EventBridge answers 503 rather than a Lambda timeout.
	timeout time.Duration
}

// NewEventBridge puts entries on bus (a name or an ARN).
func NewEventBridge(api PutEventsAPI, bus string) *EventBridge {
	return &EventBridge{api: api, bus: bus, timeout: 6 * time.Second}
}

// Put sends one entry and succeeds only when EventBridge accepted it: the call returned no
// error, FailedEntryCount is 0 and the one result entry has an event id and no ErrorCode.
// PutEvents answers 200 with a failed entry inside, so the call's error alone proves
// nothing.
func (b *EventBridge) Put(ctx context.Context, e webhook.Entry) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out, err := b.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(b.bus),
		Source:       aws.String(e.Source),
		DetailType:   aws.String(e.DetailType),
		Detail:       aws.String(string(e.Detail)),
	}}})
	if err != nil {
		return "", callError(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != 1 {
		code := "FailedEntry"
		if len(out.Entries) == 1 && out.Entries[0].ErrorCode != nil {
			code = *out.Entries[0].ErrorCode
		}
		return "", entryError(code)
	}
	r := out.Entries[0]
	if r.ErrorCode != nil {
		return "", entryError(*r.ErrorCode)
	}
	if r.EventId == nil || *r.EventId == "" {
		return "", entryError("NoEventId")
	}
	return *r.EventId, nil
}

// entryError classifies an entry's ErrorCode. The entry's ErrorMessage is not kept: it is
// EventBridge's text about the detail, and nothing of the detail may reach a log.
func entryError(code string) error {
	switch code {
	case "ThrottlingException", "InternalFailure", "InternalException", "FailedEntry":
		return &webhook.PutError{Code: code, Temporary: true}
	}
	return &webhook.PutError{Code: code}
}

// callError classifies a failed call: throttling, EventBridge's own faults and transport
// failures are temporary; a refused permission, a bus that does not exist or a rejected
// request are configuration errors an operator must fix.
func callError(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		temporary := api.ErrorFault() == smithy.FaultServer
		switch api.ErrorCode() {
		case "ThrottlingException", "LimitExceededException", "ServiceUnavailable", "InternalException":
			temporary = true
		}
		return &webhook.PutError{Code: api.ErrorCode(), Temporary: temporary}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &webhook.PutError{Code: "Timeout", Temporary: true}
	case errors.Is(err, context.Canceled):
		return &webhook.PutError{Code: "Canceled", Temporary: true}
	}
	return &webhook.PutError{Code: "Unreachable", Temporary: true}
}
