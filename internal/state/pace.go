package state

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/session-revoker/session-revoker/internal/pace"
)

// pacePrefix holds the token buckets that pace Graph calls across containers
// (package pace): pace#<bucket> with the tokens left at a time, and a version for the
// compare-and-set.
const pacePrefix = "pace#"

// paceAttempts bounds the compare-and-set loop when containers take at the same moment.
const paceAttempts = 10

// Take implements pace.Store: a read, then a write conditional on the version read, so
// two containers never spend the same tokens.
func (s *Store) Take(ctx context.Context, bucket string, now time.Time, rate, burst, n, floor float64) (bool, float64, error) {
	const op = "take tokens"
	pk, err := s.key(op, pacePrefix, bucket)
	if err != nil {
		return false, 0, err
	}
	if err := s.configured(op, pk); err != nil {
		return false, 0, err
	}
	for attempt := 0; attempt < paceAttempts; attempt++ {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return false, 0, s.describe(err, op, "GetItem", pk)
		}
		tokens, at, ver := burst, now, int64(0)
		if it := out.Item; it != nil {
			t, okT := float(it, "tokens")
			ms, okAt := number(it, "at")
			v, okV := number(it, "ver")
			if !okT || !okAt || !okV {
				return false, 0, s.foreign(op, pk, "tokens, at and ver")
			}
			tokens, at, ver = t, time.UnixMilli(ms), v
		}
		tokens = pace.Refill(tokens, at, now, rate, burst)
		if tokens-n < floor {
			return false, tokens, nil
		}
		in := &dynamodb.UpdateItemInput{
			TableName:        aws.String(s.table),
			Key:              map[string]types.AttributeValue{"pk": str(pk)},
			UpdateExpression: aws.String("SET tokens = :t, #at = :at, ver = :next, expiresAt = :exp"),
			// "at" is not reserved today; the placeholder keeps it safe if it becomes so.
			ExpressionAttributeNames: map[string]string{"#at": "at"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t":    &types.AttributeValueMemberN{Value: strconv.FormatFloat(tokens-n, 'f', 3, 64)},
				":at":   num(now.UnixMilli()),
				":next": num(ver + 1),
				":exp":  num(now.Add(24 * time.Hour).Unix()),
			},
		}
		if ver == 0 {
			in.ConditionExpression = aws.String("attribute_not_exists(ver)")
		} else {
			in.ConditionExpression = aws.String("ver = :ver")
			in.ExpressionAttributeValues[":ver"] = num(ver)
		}
		_, err = s.db.UpdateItem(ctx, in)
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return true, tokens - n, nil
		case !errors.As(err, &failed):
			return false, 0, s.describe(err, op, "UpdateItem", pk)
		}
		// Another container took in between: read again, after a moment's jitter.
		t := time.NewTimer(time.Duration(rand.N(5)+1) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, 0, s.describe(ctx.Err(), op, "UpdateItem", pk)
		}
	}
	return false, 0, s.contended(op, pk)
}

// float reads a Number attribute with a fraction.
func float(item map[string]types.AttributeValue, name string) (float64, bool) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	return v, err == nil && !math.IsNaN(v)
}

var _ pace.Store = (*Store)(nil)
