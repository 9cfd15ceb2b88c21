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
	"github.com/session-revoker/session-revoker/internal/wait"
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
	pk, err := s.itemKey(op, pacePrefix, bucket)
	if err != nil {
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
		left := strconv.FormatFloat(tokens-n, 'f', 3, 64)
		if ver == 0 {
			// A new bucket is created with a conditional PutItem: one write, atomic even
			// where an upserting UpdateItem is not (moto applies one in steps).
			_, won, perr := s.put(ctx, op, pk, &dynamodb.PutItemInput{
				Item: map[string]types.AttributeValue{
					"pk": str(pk), "tokens": &types.AttributeValueMemberN{Value: left}, "at": num(now.UnixMilli()),
					"ver": num(1), "expiresAt": num(now.Add(24 * time.Hour).Unix()),
				},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			if perr != nil {
				return false, 0, perr
			}
			if won {
				return true, tokens - n, nil
			}
		} else {
			_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:           aws.String(s.table),
				Key:                 map[string]types.AttributeValue{"pk": str(pk)},
				UpdateExpression:    aws.String("SET tokens = :t, #at = :at, ver = :next, expiresAt = :exp"),
				ConditionExpression: aws.String("ver = :ver"),
				// "at" is not reserved today; the placeholder keeps it safe if it becomes so.
				ExpressionAttributeNames: map[string]string{"#at": "at"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":t": &types.AttributeValueMemberN{Value: left}, ":at": num(now.UnixMilli()),
					":next": num(ver + 1), ":ver": num(ver), ":exp": num(now.Add(24 * time.Hour).Unix()),
				},
			})
			var failed *types.ConditionalCheckFailedException
			switch {
			case err == nil:
				return true, tokens - n, nil
			case !errors.As(err, &failed):
				return false, 0, s.describe(err, op, "UpdateItem", pk)
			}
		}
		// Another container took in between: read again, after a moment's jitter.
		if err := wait.For(ctx, time.Duration(rand.N(5)+1)*time.Millisecond); err != nil {
			return false, 0, s.describe(err, op, "UpdateItem", pk)
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
