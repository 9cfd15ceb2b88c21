package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A scheduled poll of Graph's alert listings keeps two kinds of items (see the package
// doc for the others):
//
//	poll#<poll name>/<source>/<live|dry-run>/<digest of the source's rules>
//	    watermark   N  epoch ms: the lastUpdate time the next listing starts from (the
//	                   start of the last poll that read every page and handled every
//	                   matching alert, less the overlap; a first run's look-back until then)
//	    leaseUntil  N  epoch ms: a run holds the poll's source until then (absent when none does)
//	    savedAt     N  epoch ms: when watermark was saved
//	    expiresAt   N  epoch s: savedAt + 30 days
//
//	polled#<source>/<live|dry-run>/<alert id>
//	    status      S  "claimed" (a run is acting on it), "released" (a run could not
//	                   handle it; the next poll tries again), "done", "given-up"
//	    attempts    N  how many runs claimed it
//	    claimedAt   N  epoch ms: when the current or last claim was made
//	    requestId   S  given up: the Lambda request id of the invocation that gave up
//	    reason      S  given up: why (written by this function, never an alert's text)
//	    expiresAt   N  epoch s: claimedAt + lease + 1 h while claimed; claimedAt + 25 h
//	                   once released; 30 days after it was done or given up
//
// The prefixes cannot meet user#, alert# or sweep# keys. An alert's mark outlives every
// listing window (a poll reads back at most 24 h), so an alert listed again, or updated
// and listed again within a month, is recognised as handled.

const (
	pollPrefix   = "poll#"
	polledPrefix = "polled#"

	pollKeep      = 30 * 24 * time.Hour
	polledKeep    = 30 * 24 * time.Hour
	releasedKeep  = 25 * time.Hour
	maxReasonSize = 512

	polledClaimed  = "claimed"
	polledReleased = "released"
	polledDone     = "done"
	polledGivenUp  = "given-up"
)

// ErrPollBusy says another run of the poll holds the source.
var ErrPollBusy = errors.New("another run of this poll is in progress")

// ClaimPoll takes a poll's source for lease and returns its watermark (zero before the
// first run). It is one conditional UpdateItem, attribute_not_exists(pk) OR
// attribute_not_exists(leaseUntil) OR leaseUntil < :now, so of two runs only one gets it;
// the other gets ErrPollBusy.
func (s *Store) ClaimPoll(ctx context.Context, key string, now time.Time, lease time.Duration) (time.Time, error) {
	const op = "claim poll"
	pk, err := s.itemKey(op, pollPrefix, key)
	if err != nil {
		return time.Time{}, err
	}
	if lease <= 0 {
		return time.Time{}, s.invalid(op, pk, fmt.Sprintf("the lease must be positive, got %v", lease))
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression:    aws.String("SET leaseUntil = :until"),
		ConditionExpression: aws.String("attribute_not_exists(pk) OR attribute_not_exists(leaseUntil) OR leaseUntil < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until": num(now.Add(lease).UnixMilli()),
			":now":   num(now.UnixMilli()),
		},
		ReturnValues: types.ReturnValueAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return time.Time{}, ErrPollBusy
	case err != nil:
		return time.Time{}, s.describe(err, op, "UpdateItem", pk)
	}
	old := out.Attributes
	if exp, ok := number(old, "expiresAt"); ok && exp < now.Unix() {
		return time.Time{}, nil // expired, though DynamoDB has not removed it yet
	}
	if ms, ok := number(old, "watermark"); ok {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, nil
}

// SavePoll records the watermark and keeps the claim.
func (s *Store) SavePoll(ctx context.Context, key string, watermark, now time.Time) error {
	const op = "save poll"
	pk, err := s.itemKey(op, pollPrefix, key)
	if err != nil {
		return err
	}
	if watermark.IsZero() {
		return s.invalid(op, pk, "the watermark is zero")
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression: aws.String("SET watermark = :w, savedAt = :at, expiresAt = :exp"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":w":   num(watermark.UnixMilli()),
			":at":  num(now.UnixMilli()),
			":exp": num(now.Add(pollKeep).Unix()),
		},
	})
	if err != nil {
		return s.describe(err, op, "UpdateItem", pk)
	}
	return nil
}

// ReleasePoll ends the claim and keeps the watermark. Releasing a poll with no item does
// nothing.
func (s *Store) ReleasePoll(ctx context.Context, key string) error {
	const op = "release poll"
	pk, err := s.itemKey(op, pollPrefix, key)
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression:    aws.String("REMOVE leaseUntil"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	var failed *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &failed) {
		return nil
	}
	return s.describe(err, op, "UpdateItem", pk)
}

// PolledAlert is the mark of one polled alert.
type PolledAlert struct {
	Status    string // claimed, released, done or given-up
	Attempts  int
	ClaimedAt time.Time
	RequestID string
	Reason    string
}

// Polled alert statuses, as PolledAlert.Status holds them.
const (
	PolledClaimed = polledClaimed
	PolledDone    = polledDone
	PolledGivenUp = polledGivenUp
)

// ClaimPolledAlert takes an alert for this run. won is false when it was done, given up,
// or claimed by a run still going: mark says which. When won, mark.Attempts counts this
// claim.
//
// A new alert (the usual case) is one conditional PutItem, attribute_not_exists(pk).
// An alert released by an earlier run, claimed by a run that died (its claim older than
// lease), or whose mark expired, is taken with a compare-and-set UpdateItem on the status
// and claim time just read, so of two runs only one wins either way.
func (s *Store) ClaimPolledAlert(ctx context.Context, key string, now time.Time, lease time.Duration) (mark PolledAlert, won bool, err error) {
	const op = "claim polled alert"
	pk, err := s.itemKey(op, polledPrefix, key)
	if err != nil {
		return PolledAlert{}, false, err
	}
	if lease <= 0 {
		return PolledAlert{}, false, s.invalid(op, pk, fmt.Sprintf("the lease must be positive, got %v", lease))
	}
	claimed := PolledAlert{Status: polledClaimed, Attempts: 1, ClaimedAt: time.UnixMilli(now.UnixMilli()).UTC()}
	exp := num(now.Add(lease + claimSlack).Unix())
	for range claimAttempts {
		old, won, err := s.put(ctx, op, pk, &dynamodb.PutItemInput{
			Item: map[string]types.AttributeValue{
				"pk": str(pk), "status": str(polledClaimed), "attempts": num(1), "claimedAt": num(now.UnixMilli()), "expiresAt": exp,
			},
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if err != nil || won {
			return claimed, won, err
		}
		if old == nil {
			continue // deleted between the write and the read: try again
		}
		m := polledOf(old)
		expired := false
		if e, ok := number(old, "expiresAt"); ok && e < now.Unix() {
			expired, m.Attempts = true, 0 // DynamoDB has not removed it yet: a new alert
		}
		_, hasClaim := number(old, "claimedAt")
		switch {
		case !hasClaim || m.Status != polledClaimed && m.Status != polledReleased && m.Status != polledDone && m.Status != polledGivenUp:
			return PolledAlert{}, false, s.foreign(op, pk, "status and claimedAt")
		case expired, m.Status == polledReleased:
		case m.Status == polledClaimed && m.ClaimedAt.Before(now.Add(-lease)):
		default:
			return m, false, nil // done, given up, or held by a run still going
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.table),
			Key:                      map[string]types.AttributeValue{"pk": str(pk)},
			UpdateExpression:         aws.String("SET #status = :claimed, claimedAt = :now, attempts = :n, expiresAt = :exp REMOVE requestId, reason"),
			ConditionExpression:      aws.String("#status = :was AND claimedAt = :wasAt"),
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":claimed": str(polledClaimed), ":now": num(now.UnixMilli()), ":n": num(int64(m.Attempts + 1)), ":exp": exp,
				":was": str(m.Status), ":wasAt": old["claimedAt"],
			},
		})
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			claimed.Attempts = m.Attempts + 1
			return claimed, true, nil
		case !errors.As(err, &failed):
			return PolledAlert{}, false, s.describe(err, op, "UpdateItem", pk)
		}
		// Another run changed it between the read and the write: look again.
	}
	return PolledAlert{}, false, s.contended(op, pk)
}

func polledOf(item map[string]types.AttributeValue) PolledAlert {
	var m PolledAlert
	if v, ok := item["status"].(*types.AttributeValueMemberS); ok {
		m.Status = v.Value
	}
	if n, ok := number(item, "attempts"); ok {
		m.Attempts = int(n)
	}
	if ms, ok := number(item, "claimedAt"); ok {
		m.ClaimedAt = time.UnixMilli(ms).UTC()
	}
	if v, ok := item["requestId"].(*types.AttributeValueMemberS); ok {
		m.RequestID = v.Value
	}
	if v, ok := item["reason"].(*types.AttributeValueMemberS); ok {
		m.Reason = v.Value
	}
	return m
}

// CompletePolledAlert marks an alert handled, for 30 days.
func (s *Store) CompletePolledAlert(ctx context.Context, key string, now time.Time) error {
	const op = "complete polled alert"
	return s.settlePolled(ctx, op, key, now, map[string]types.AttributeValue{"status": str(polledDone)})
}

// GiveUpPolledAlert marks an alert no retry can handle, naming the invocation that gave
// up and why, for 30 days.
func (s *Store) GiveUpPolledAlert(ctx context.Context, key, requestID, reason string, now time.Time) error {
	const op = "give up polled alert"
	if len(reason) > maxReasonSize {
		reason = reason[:maxReasonSize]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	attrs := map[string]types.AttributeValue{"status": str(polledGivenUp), "reason": str(reason)}
	if requestID != "" {
		attrs["requestId"] = str(requestID)
	}
	return s.settlePolled(ctx, op, key, now, attrs)
}

// settlePolled sets a final status, keeping the attempts count.
func (s *Store) settlePolled(ctx context.Context, op, key string, now time.Time, attrs map[string]types.AttributeValue) error {
	pk, err := s.itemKey(op, polledPrefix, key)
	if err != nil {
		return err
	}
	expr := "SET settledAt = :at, expiresAt = :exp"
	names := map[string]string{}
	values := map[string]types.AttributeValue{":at": num(now.UnixMilli()), ":exp": num(now.Add(polledKeep).Unix())}
	i := 0
	for name, v := range attrs {
		i++
		p := "#a" + strconv.Itoa(i)
		names[p] = name
		values[":v"+strconv.Itoa(i)] = v
		expr += ", " + p + " = :v" + strconv.Itoa(i)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return s.describe(err, op, "UpdateItem", pk)
	}
	return nil
}

// ReleasePolledAlert gives back the claim made at claimedAt, so that the next poll tries
// the alert again (its attempts are kept). A newer claim, or a final status, is left as
// it is.
func (s *Store) ReleasePolledAlert(ctx context.Context, key string, claimedAt time.Time) error {
	const op = "release polled alert"
	pk, err := s.itemKey(op, polledPrefix, key)
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression:         aws.String("SET #status = :released, expiresAt = :exp"),
		ConditionExpression:      aws.String("#status = :claimed AND claimedAt = :claimedAt"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":released":  str(polledReleased),
			":claimed":   str(polledClaimed),
			":claimedAt": num(claimedAt.UnixMilli()),
			":exp":       num(claimedAt.Add(releasedKeep).Unix()),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &failed) {
		return nil
	}
	return s.describe(err, op, "UpdateItem", pk)
}
