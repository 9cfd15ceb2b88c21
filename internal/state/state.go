package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/wait"
)

// ErrInProgress says another invocation is handling the same alert delivery right now.
var ErrInProgress = errors.New("alert is being handled by another invocation")

// MaxResultBytes is the largest result CompleteAlert stores as is; a larger one becomes the
// truncated marker. It leaves room under DynamoDB's 400 KB item limit for the key and the
// other attributes.
const MaxResultBytes = 384 << 10

const (
	// revokedPrefix holds revokes Graph accepted. (user# held claims taken before the
	// call, which could suppress a retry of a revoke that never happened; such items only
	// expire now.)
	revokedPrefix = "revoked#"
	alertPrefix   = "alert#"
	breakerPrefix = "breaker#"

	// maxKeyBytes is the longest key stored verbatim; longer ones are hashed.
	maxKeyBytes = 512

	// userSlack keeps a user item a little past its window, against clock skew between
	// Lambda and DynamoDB's TTL sweeper.
	userSlack = 5 * time.Minute
	// claimSlack keeps an unfinished alert claim past its lease: once the lease is over the
	// claim can be taken over anyway, so the item only needs to outlive it.
	claimSlack = time.Hour

	// claimAttempts bounds the loop that retries a conditional write when the item that
	// made it fail vanished or changed before it could be read.
	claimAttempts = 3

	statusClaimed = "claimed"
	statusDone    = "done"
)

// Store reads and writes the state table.
type Store struct {
	db    *dynamodb.Client
	table string
}

// New returns a Store over table. An empty table name makes every call fail with an error
// naming STATE_TABLE.
func New(client *dynamodb.Client, table string) *Store {
	return &Store{db: client, table: table}
}

// LastRevoke returns when this function last revoked userKey (an object id or UPN, any
// case) and for which alert; a zero time when it has no record of one. Only RecordRevoke
// writes the record, after Graph answered 2xx: an invocation that died before or during
// its call leaves nothing that could suppress the retry.
func (s *Store) LastRevoke(ctx context.Context, userKey string) (time.Time, string, error) {
	const op = "read revoke"
	pk, err := s.itemKey(op, revokedPrefix, strings.ToLower(strings.TrimSpace(userKey)))
	if err != nil {
		return time.Time{}, "", err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": str(pk)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return time.Time{}, "", s.describe(err, op, "GetItem", pk)
	}
	if out.Item == nil {
		return time.Time{}, "", nil
	}
	at, ok := number(out.Item, "revokedAt")
	if !ok {
		return time.Time{}, "", s.foreign(op, pk, "revokedAt")
	}
	var alertID string
	if id, ok := out.Item["alertId"].(*types.AttributeValueMemberS); ok {
		alertID = id.Value
	}
	return time.UnixMilli(at), alertID, nil
}

// LastRevokes is LastRevoke for many users at once, a hundred a BatchGetItem (strongly
// consistent, as LastRevoke is): a sweep's chunk reads its users' records in one call
// instead of one each. Users without a record are absent from the map.
func (s *Store) LastRevokes(ctx context.Context, userKeys []string) (map[string]revoke.Prior, error) {
	const op = "read revokes"
	out := make(map[string]revoke.Prior, len(userKeys))
	byPK := make(map[string]string, len(userKeys))
	var keys []map[string]types.AttributeValue
	for _, k := range userKeys {
		k = strings.ToLower(strings.TrimSpace(k))
		pk, err := s.key(op, revokedPrefix, k)
		if err != nil {
			return nil, err
		}
		if _, dup := byPK[pk]; dup {
			continue
		}
		byPK[pk] = k
		keys = append(keys, map[string]types.AttributeValue{"pk": str(pk)})
	}
	if len(keys) == 0 {
		return out, nil
	}
	if err := s.configured(op, revokedPrefix); err != nil {
		return nil, err
	}
	for start := 0; start < len(keys); start += 100 {
		pending := keys[start:min(start+100, len(keys))]
		// UnprocessedKeys (throttling, the 16 MB response limit) are asked again, a
		// bounded number of times with a short backoff.
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 5 {
				return nil, fmt.Errorf("%s in %s: %d keys still unprocessed after %d BatchGetItem calls", op, s.table, len(pending), attempt)
			}
			if attempt > 0 {
				if err := wait.For(ctx, time.Duration(25<<attempt)*time.Millisecond); err != nil {
					return nil, err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				s.table: {Keys: pending, ConsistentRead: aws.Bool(true)},
			}})
			if err != nil {
				return nil, s.describe(err, op, "BatchGetItem", revokedPrefix+"*")
			}
			for _, it := range res.Responses[s.table] {
				pk, _ := it["pk"].(*types.AttributeValueMemberS)
				if pk == nil {
					continue
				}
				at, ok := number(it, "revokedAt")
				if !ok {
					return nil, s.foreign(op, pk.Value, "revokedAt")
				}
				r := revoke.Prior{At: time.UnixMilli(at)}
				if id, ok := it["alertId"].(*types.AttributeValueMemberS); ok {
					r.AlertID = id.Value
				}
				if k, ok := byPK[pk.Value]; ok {
					out[k] = r
				}
			}
			pending = res.UnprocessedKeys[s.table].Keys
		}
	}
	return out, nil
}

// RecordRevoke records that Graph accepted a revoke of userKey at at, for alertID, kept
// for window (and a little more, against clock skew with DynamoDB's TTL sweeper). An older
// revoke never overwrites a newer one.
func (s *Store) RecordRevoke(ctx context.Context, userKey string, at time.Time, window time.Duration, alertID string) error {
	const op = "record revoke"
	pk, err := s.itemKey(op, revokedPrefix, strings.ToLower(strings.TrimSpace(userKey)))
	if err != nil {
		return err
	}
	if window <= 0 {
		return s.invalid(op, pk, fmt.Sprintf("the suppression window must be positive, got %v", window))
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression:    aws.String("SET revokedAt = :at, alertId = :alert, expiresAt = :exp"),
		ConditionExpression: aws.String("attribute_not_exists(revokedAt) OR revokedAt < :at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at":    num(at.UnixMilli()),
			":alert": str(alertID),
			":exp":   num(at.Add(window + userSlack).Unix()),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &failed) {
		return nil
	}
	return s.describe(err, op, "UpdateItem", pk)
}

// ClaimAlert starts handling the alert delivery key (an EventBridge id, an SQS messageId or
// an alert id). It returns:
//   - (result, nil) with the stored result (never nil, possibly empty) when the key was
//     completed before: a redelivery, for which the caller returns result and does nothing
//     else;
//   - (nil, ErrInProgress) when another invocation claimed it less than lease ago;
//   - (nil, nil) when the caller now owns it: the key was new, its record had expired, or
//     its claim was older than lease (a crashed invocation) and was taken over.
//
// lease should be at least the function's timeout. The claim is one conditional PutItem:
// attribute_not_exists(pk) OR expiresAt < :nowSec OR (status = "claimed" AND
// claimedAt < :staleBefore).
func (s *Store) ClaimAlert(ctx context.Context, key string, now time.Time, lease time.Duration) (result []byte, err error) {
	const op = "claim alert"
	pk, err := s.key(op, alertPrefix, key)
	if err != nil {
		return nil, err
	}
	if lease <= 0 {
		return nil, s.invalid(op, pk, fmt.Sprintf("the lease must be positive, got %v", lease))
	}
	nowSec, staleBefore := now.Unix(), now.Add(-lease).UnixMilli()
	for range claimAttempts {
		old, won, err := s.put(ctx, op, pk, &dynamodb.PutItemInput{
			Item: map[string]types.AttributeValue{
				"pk":        str(pk),
				"status":    str(statusClaimed),
				"claimedAt": num(now.UnixMilli()),
				"expiresAt": num(now.Add(lease + claimSlack).Unix()),
			},
			ConditionExpression: aws.String("attribute_not_exists(pk) OR expiresAt < :nowSec OR (#status = :claimed AND claimedAt < :staleBefore)"),
			// status is a DynamoDB reserved word.
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":nowSec":      num(nowSec),
				":claimed":     str(statusClaimed),
				":staleBefore": num(staleBefore),
			},
		})
		if err != nil || won {
			return nil, err
		}
		if exp, ok := number(old, "expiresAt"); old == nil || (ok && exp < nowSec) {
			continue // released or expired between the write and the read: try again
		}
		st, _ := old["status"].(*types.AttributeValueMemberS)
		at, okAt := number(old, "claimedAt")
		switch {
		case st != nil && st.Value == statusDone:
			if b, ok := old["result"].(*types.AttributeValueMemberB); ok && b.Value != nil {
				return b.Value, nil
			}
			return []byte{}, nil
		case st == nil || st.Value != statusClaimed || !okAt:
			return nil, s.foreign(op, pk, "status and claimedAt")
		case at >= staleBefore:
			return nil, ErrInProgress
		}
		// A stale claim that failed the condition was replaced in between: try again.
	}
	return nil, s.contended(op, pk)
}

// CompleteAlert stores the final result for key, kept for ttl (EventBridge redelivers for
// up to 24 h), so that redeliveries get it back from ClaimAlert. It overwrites whatever the
// item held. A result over MaxResultBytes is replaced by the truncated marker (see the
// package doc) rather than failing.
func (s *Store) CompleteAlert(ctx context.Context, key string, result []byte, now time.Time, ttl time.Duration) error {
	const op = "complete alert"
	pk, err := s.key(op, alertPrefix, key)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		return s.invalid(op, pk, fmt.Sprintf("the ttl must be positive, got %v", ttl))
	}
	item := map[string]types.AttributeValue{
		"pk":        str(pk),
		"status":    str(statusDone),
		"claimedAt": num(now.UnixMilli()),
		"doneAt":    num(now.UnixMilli()),
		"expiresAt": num(now.Add(ttl).Unix()),
	}
	if len(result) > MaxResultBytes {
		result = truncatedMarker(result)
		item["truncated"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	if len(result) > 0 {
		item["result"] = &types.AttributeValueMemberB{Value: result}
	}
	_, _, err = s.put(ctx, op, pk, &dynamodb.PutItemInput{Item: item})
	return err
}

// ReleaseAlert drops an unfinished claim on key, so that Lambda's retry of a failed
// invocation handles the alert again. A completed result is never dropped (condition
// status = "claimed"); releasing a key that has no claim does nothing.
func (s *Store) ReleaseAlert(ctx context.Context, key string) error {
	const op = "release alert"
	pk, err := s.key(op, alertPrefix, key)
	if err != nil {
		return err
	}
	return s.delete(ctx, op, pk, "#status = :claimed", map[string]types.AttributeValue{
		":claimed": str(statusClaimed),
	}, "#status", "status")
}

// put runs a PutItem; a failed condition is not an error: won is false and old is the item
// that failed it (nil if it could not be read).
func (s *Store) put(ctx context.Context, op, pk string, in *dynamodb.PutItemInput) (old map[string]types.AttributeValue, won bool, err error) {
	if err := s.configured(op, pk); err != nil {
		return nil, false, err
	}
	in.TableName = aws.String(s.table)
	if in.ConditionExpression != nil {
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	_, err = s.db.PutItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil, true, nil
	case !errors.As(err, &failed):
		return nil, false, s.describe(err, op, "PutItem", pk)
	case failed.Item != nil:
		return failed.Item, false, nil
	}
	// The item was not sent back with the failure: read it.
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": str(pk)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, false, s.describe(err, op, "GetItem", pk)
	}
	return out.Item, false, nil
}

// delete runs a conditional DeleteItem; a failed condition means there was nothing of ours
// to delete, which is not an error. names are pairs of placeholder and attribute name.
func (s *Store) delete(ctx context.Context, op, pk, cond string, values map[string]types.AttributeValue, names ...string) error {
	if err := s.configured(op, pk); err != nil {
		return err
	}
	in := &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": str(pk)},
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	}
	if len(names) > 0 {
		in.ExpressionAttributeNames = map[string]string{}
		for i := 0; i+1 < len(names); i += 2 {
			in.ExpressionAttributeNames[names[i]] = names[i+1]
		}
	}
	_, err := s.db.DeleteItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &failed) {
		return nil
	}
	return s.describe(err, op, "DeleteItem", pk)
}

// key builds an item's partition key, hashing a key too long (or not UTF-8) to store as is.
func (s *Store) key(op, prefix, k string) (string, error) {
	if k == "" {
		return "", s.invalid(op, strings.TrimSuffix(prefix, "#"), "the key is empty")
	}
	if len(k) > maxKeyBytes || !utf8.ValidString(k) {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return prefix + k, nil
}

// itemKey is key for an item the caller reads or writes now: it also fails when no table
// is configured.
func (s *Store) itemKey(op, prefix, k string) (string, error) {
	pk, err := s.key(op, prefix, k)
	if err != nil {
		return "", err
	}
	return pk, s.configured(op, pk)
}

func (s *Store) configured(op, pk string) error {
	if s.table == "" {
		return &Error{Op: op, Key: pk, Kind: Config, msg: op + " " + pk + ": STATE_TABLE is not set: name the DynamoDB table holding the suppression and idempotency state"}
	}
	return nil
}

func (s *Store) invalid(op, pk, why string) error {
	return &Error{Op: op, Table: s.table, Key: pk, Kind: Invalid, msg: op + " " + pk + ": " + why}
}

// foreign reports an item this package did not write (its attributes are not named, let
// alone its values).
func (s *Store) foreign(op, pk, lacks string) error {
	return &Error{Op: op, Table: s.table, Key: pk, Kind: Config,
		msg: fmt.Sprintf("%s %s: the item in state table %s lacks %s: the table holds items this function did not write; give it a table of its own", op, pk, s.table, lacks)}
}

func (s *Store) contended(op, pk string) error {
	return &Error{Op: op, Table: s.table, Key: pk, Kind: Unavailable,
		msg: fmt.Sprintf("%s %s: the item in state table %s kept changing under %d conditional writes: retry later", op, pk, s.table, claimAttempts)}
}

// truncatedMarker is what CompleteAlert stores instead of a result too large for an item.
func truncatedMarker(result []byte) []byte {
	sum := sha256.Sum256(result)
	b, _ := json.Marshal(struct {
		Truncated bool   `json:"truncated"`
		Bytes     int    `json:"bytes"`
		SHA256    string `json:"sha256"`
		Reason    string `json:"reason"`
	}{true, len(result), hex.EncodeToString(sum[:]), fmt.Sprintf("the result was larger than %d bytes, more than a DynamoDB item holds; see the first invocation's logs", MaxResultBytes)})
	return b
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// number reads an integer Number attribute.
func number(item map[string]types.AttributeValue, name string) (int64, bool) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	return v, err == nil
}
