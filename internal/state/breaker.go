package state

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The circuit breaker across invocations: how many revokes this deployment sent in the
// rolling window, and whether it tripped. The window is two fixed windows, the previous
// one weighted by how much of it still falls inside the rolling window (the estimate
// AWS WAF and most rate limiters use): exact at the window's edges, within a window's
// worth of the truth in between, and one conditional write per revoke.
//
//	breaker#window#<n>  the count of window n (n = unix time / window)
//	breaker#trip        trippedUntil: no unapproved revoke before it

// Breaker is the state of the rolling window at one moment.
type Breaker struct {
	TrippedUntil time.Time // zero when not tripped
	Previous     int       // revokes in the previous fixed window
	Current      int       // revokes in the current fixed window so far
	Approved     int       // approved revokes in the current fixed window: reported, not limited
	Weight       float64   // share of the previous window still inside the rolling window
}

// Count is the estimated number of revokes in the rolling window.
func (b Breaker) Count() int { return b.Current + b.Carried() }

// Carried is the previous window's share of the rolling window.
func (b Breaker) Carried() int { return int(math.Ceil(float64(b.Previous) * b.Weight)) }

// ReadBreaker reads the breaker at now for a window.
func (s *Store) ReadBreaker(ctx context.Context, now time.Time, window time.Duration) (Breaker, error) {
	const op = "read breaker"
	if err := s.configured(op, breakerPrefix); err != nil {
		return Breaker{}, err
	}
	if window <= 0 {
		return Breaker{}, s.invalid(op, breakerPrefix, "the window must be positive")
	}
	n, frac := windowOf(now, window)
	b := Breaker{Weight: 1 - frac}
	for _, read := range []struct {
		pk   string
		into func(map[string]types.AttributeValue)
	}{
		{breakerPrefix + "trip", func(it map[string]types.AttributeValue) {
			if ms, ok := number(it, "trippedUntil"); ok && ms > now.UnixMilli() {
				b.TrippedUntil = time.UnixMilli(ms)
			}
		}},
		{windowKey(window, n-1), func(it map[string]types.AttributeValue) { v, _ := number(it, "n"); b.Previous = int(v) }},
		{windowKey(window, n), func(it map[string]types.AttributeValue) {
			v, _ := number(it, "n")
			a, _ := number(it, "approved")
			b.Current, b.Approved = int(v), int(a)
		}},
	} {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"pk": str(read.pk)}, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return Breaker{}, s.describe(err, op, "GetItem", read.pk)
		}
		if out.Item != nil {
			read.into(out.Item)
		}
	}
	return b, nil
}

// CountRevoke counts one revoke in the current fixed window. An unapproved one succeeds
// only while the current window holds fewer than below unapproved revokes (the limit less
// the previous window's weighted share), atomically across containers; ok false means the
// limit was reached and nothing was counted. An approved one (an operator's sweep or
// request) is counted apart, unconditionally: it is reported, and it never uses up what
// alerts may revoke.
func (s *Store) CountRevoke(ctx context.Context, now time.Time, window time.Duration, below int, approved bool) (ok bool, err error) {
	return s.count(ctx, now, window, below, approved, 1)
}

// CountApproved counts n approved revokes at once: a sweep's chunk reports its approved
// revokes in one write instead of one each (they are reported, never limited).
func (s *Store) CountApproved(ctx context.Context, now time.Time, window time.Duration, n int) error {
	if n <= 0 {
		return nil
	}
	_, err := s.count(ctx, now, window, 0, true, int64(n))
	return err
}

func (s *Store) count(ctx context.Context, now time.Time, window time.Duration, below int, approved bool, by int64) (ok bool, err error) {
	const op = "count revoke"
	n, _ := windowOf(now, window)
	pk := windowKey(window, n)
	if err := s.configured(op, pk); err != nil {
		return false, err
	}
	if !approved && below <= 0 {
		return false, nil
	}
	// Kept through the next window, whose count weighs this one.
	exp := num(time.Unix(0, 0).Add(time.Duration(n+2)*window + time.Hour).Unix())
	counter := "n"
	if approved {
		counter = "approved"
	}
	for range claimAttempts {
		// The window's item exists: one conditional ADD, atomic across containers.
		in := &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{"pk": str(pk)},
			UpdateExpression:          aws.String("ADD " + counter + " :one SET expiresAt = :exp"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(by), ":exp": exp},
		}
		if !approved {
			in.ConditionExpression = aws.String("attribute_exists(pk) AND (attribute_not_exists(n) OR n < :below)")
			in.ExpressionAttributeValues[":below"] = num(int64(below))
		}
		_, err = s.db.UpdateItem(ctx, in)
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return true, nil
		case !errors.As(err, &failed):
			return false, s.describe(err, op, "UpdateItem", pk)
		}
		// Refused: the limit is reached, or the window has no item yet. A new window's
		// item is created with a conditional PutItem (one write, atomic even where an
		// upserting UpdateItem is not); if another container created it first, count again.
		item := map[string]types.AttributeValue{"pk": str(pk), "n": num(0), "approved": num(0), "expiresAt": exp}
		item[counter] = num(by)
		_, won, perr := s.put(ctx, op, pk, &dynamodb.PutItemInput{Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")})
		switch {
		case perr != nil:
			return false, perr
		case won:
			return true, nil
		}
		// The item exists: the refusal was the limit, unless it was created in between.
		if cur, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true)}); err == nil && cur.Item != nil {
			if v, _ := number(cur.Item, "n"); !approved && int(v) >= below {
				return false, nil
			}
		}
	}
	return false, s.contended(op, pk)
}

// TripBreaker stops unapproved revokes until until (kept if a later trip is recorded).
func (s *Store) TripBreaker(ctx context.Context, until time.Time) error {
	const op = "trip breaker"
	pk := breakerPrefix + "trip"
	if err := s.configured(op, pk); err != nil {
		return err
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression:    aws.String("SET trippedUntil = :until, expiresAt = :exp"),
		ConditionExpression: aws.String("attribute_not_exists(trippedUntil) OR trippedUntil < :until"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until": num(until.UnixMilli()),
			":exp":   num(until.Add(time.Hour).Unix()),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &failed) {
		return nil
	}
	return s.describe(err, op, "UpdateItem", pk)
}

// ResetBreaker clears the trip and the counts of the rolling window at now: an operator's
// decision that the storm is understood.
func (s *Store) ResetBreaker(ctx context.Context, now time.Time, window time.Duration) error {
	const op = "reset breaker"
	n, _ := windowOf(now, window)
	for _, pk := range []string{breakerPrefix + "trip", windowKey(window, n-1), windowKey(window, n)} {
		if err := s.configured(op, pk); err != nil {
			return err
		}
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"pk": str(pk)}}); err != nil {
			return s.describe(err, op, "DeleteItem", pk)
		}
	}
	return nil
}

// windowOf is the fixed window now falls in, and how far into it now is (0 to 1).
func windowOf(now time.Time, window time.Duration) (int64, float64) {
	ns := now.UnixNano()
	n := ns / int64(window)
	return n, float64(ns-n*int64(window)) / float64(window)
}

// windowKey names the window's item; the window's length is part of it, so that a changed
// REVOKE_WINDOW_MINUTES never reads another length's counts.
func windowKey(window time.Duration, n int64) string {
	return breakerPrefix + "window#" + strconv.FormatInt(int64(window/time.Second), 10) + "s#" + strconv.FormatInt(n, 10)
}

// String is for logs.
func (b Breaker) String() string {
	if !b.TrippedUntil.IsZero() {
		return fmt.Sprintf("tripped until %s (%d revokes in the window)", b.TrippedUntil.UTC().Format(time.RFC3339), b.Count())
	}
	return fmt.Sprintf("%d revokes in the window", b.Count())
}
