package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// Kind says what a failed state call means for the caller.
type Kind uint8

const (
	Other       Kind = iota // unclassified
	Config                  // the table is missing, misnamed, mis-shaped or not permitted: fix the deployment
	Throttled               // DynamoDB throttled the call (after the SDK's own retries)
	Unavailable             // DynamoDB answered 5xx, did not answer, or the context ended
	Invalid                 // the caller's arguments (an empty key, a non-positive window)
)

var kindNames = [...]string{"other", "config", "throttled", "unavailable", "invalid"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Error is a failed state-table call, classified. Its message names the operation, the
// table, the item's key and what to do; never a stored value.
type Error struct {
	Op    string // "claim user", "complete alert", ...
	Table string
	Key   string // the item's pk
	Kind  Kind
	Code  string // DynamoDB's error code, when it answered
	msg   string
	err   error
}

func (e *Error) Error() string { return e.msg }

// Unwrap gives the SDK's error, for errors.Is(err, context.DeadlineExceeded) and the like.
func (e *Error) Unwrap() error { return e.err }

// Retryable reports whether the same call may succeed later.
func (e *Error) Retryable() bool { return e.Kind == Throttled || e.Kind == Unavailable }

// describe turns an SDK error from action (PutItem, GetItem, DeleteItem) into an Error
// naming the table and the fix.
func (s *Store) describe(err error, op, action, pk string) error {
	e := &Error{Op: op, Table: s.table, Key: pk, err: err}
	at := op + " " + pk + ": "
	var api smithy.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Kind = Unavailable
		e.msg = fmt.Sprintf("%sDynamoDB %s on state table %s did not finish before the invocation's deadline: %v", at, action, s.table, err)
		return e
	case !errors.As(err, &api):
		e.Kind = Unavailable
		e.msg = fmt.Sprintf("%sDynamoDB %s on state table %s: %v", at, action, s.table, err)
		return e
	}
	e.Code = api.ErrorCode()
	switch e.Code {
	case "ResourceNotFoundException":
		e.Kind = Config
		e.msg = fmt.Sprintf("%sstate table %s does not exist (check STATE_TABLE and the region)", at, s.table)
	case "AccessDeniedException":
		e.Kind = Config
		e.msg = fmt.Sprintf("%sno permission on state table %s: the function's role needs dynamodb:%s on it", at, s.table, action)
	case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "MissingAuthenticationTokenException":
		e.Kind = Config
		e.msg = fmt.Sprintf("%sDynamoDB refused the function's AWS credentials for %s on state table %s (%s)", at, action, s.table, e.Code)
	case "ValidationException":
		// DynamoDB's validation messages name attributes and types, not values.
		e.Kind = Config
		e.msg = fmt.Sprintf("%sstate table %s rejected %s: %s (the table's key must be pk, a String, with no sort key)", at, s.table, action, api.ErrorMessage())
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
		e.Kind = Throttled
		e.msg = fmt.Sprintf("%sDynamoDB throttled %s on state table %s (%s): retry later, or give the table on-demand capacity", at, action, s.table, e.Code)
	case "InternalServerError", "ServiceUnavailable":
		e.Kind = Unavailable
		e.msg = fmt.Sprintf("%sDynamoDB failed %s on state table %s (%s): retry later", at, action, s.table, e.Code)
	default:
		e.msg = fmt.Sprintf("%sDynamoDB %s on state table %s: %s", at, action, s.table, e.Code)
	}
	return e
}
