package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/sweep"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

const table = "session-revoker-state-test"

// client talks to the moto_server TestMain started.
var client *dynamodb.Client

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := moto.Start(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "state tests need moto_server (the DynamoDB emulator): %v\n", err)
		return 1
	}
	defer srv.Stop()
	for k, v := range srv.Env() {
		os.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "AWS config: %v\n", err)
		return 1
	}
	client = dynamodb.NewFromConfig(cfg)
	if err := moto.CreateStateTable(ctx, client, table); err != nil {
		fmt.Fprintf(os.Stderr, "creating the state table in moto: %v\n", err)
		return 1
	}
	return m.Run()
}

// t0 is a fixed instant with a millisecond part, so rounding mistakes show.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

var seq atomic.Int64

// unique gives each test (and each repetition under -count) its own keys in the shared table.
func unique(t testing.TB, what string) string {
	return fmt.Sprintf("%s-%d-%s@contoso.example", strings.ReplaceAll(t.Name(), "/", "-"), seq.Add(1), what)
}

func mustLastRevoke(t *testing.T, s *Store, user string) (time.Time, string) {
	t.Helper()
	at, id, err := s.LastRevoke(context.Background(), user)
	if err != nil {
		t.Fatalf("LastRevoke(%s): %v", user, err)
	}
	return at, id
}

func TestRevokeRecords(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	user := unique(t, "Alice")
	const window = 30 * time.Minute

	if at, _ := mustLastRevoke(t, s, user); !at.IsZero() {
		t.Fatalf("a user never revoked has a record at %v", at)
	}
	if err := s.RecordRevoke(ctx, user, t0, window, "alert-1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{user, strings.ToUpper(user), "  " + user + " "} {
		if at, id := mustLastRevoke(t, s, k); !at.Equal(t0) || id != "alert-1" {
			t.Errorf("%q: %v %q, want %v alert-1", k, at, id, t0)
		}
	}
	// An older revoke, recorded late, never hides a newer one.
	t1 := t0.Add(time.Minute)
	if err := s.RecordRevoke(ctx, user, t1, window, "alert-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRevoke(ctx, user, t0, window, "alert-late"); err != nil {
		t.Fatal(err)
	}
	if at, id := mustLastRevoke(t, s, user); !at.Equal(t1) || id != "alert-2" {
		t.Errorf("after a late record: %v %q, want %v alert-2", at, id, t1)
	}
	// The item's TTL outlives the window.
	item := getItem(t, "revoked#"+strings.ToLower(user))
	if exp, _ := number(item, "expiresAt"); exp < t1.Add(window).Unix() {
		t.Errorf("expiresAt %d is before the window's end %d", exp, t1.Add(window).Unix())
	}
}

// TestBreaker: the rolling window across containers, counted atomically.
func TestBreaker(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	// A window length of its own, so this test's counts are its own.
	window := time.Duration(60+seq.Add(1)) * time.Second
	base := time.Unix(0, 0).Add(window * 1000) // the start of a fixed window

	// Concurrent counters under a limit of 5: exactly 5 succeed.
	var wg sync.WaitGroup
	var won atomic.Int64
	for range 12 {
		wg.Go(func() {
			ok, err := s.CountRevoke(ctx, base.Add(time.Second), window, 5, false)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 5 {
		t.Fatalf("%d counted under a limit of 5", won.Load())
	}
	// Approved revokes are counted apart and always.
	if ok, err := s.CountRevoke(ctx, base.Add(2*time.Second), window, 5, true); !ok || err != nil {
		t.Fatalf("approved: %v %v", ok, err)
	}
	// ... and many at once, as a sweep's chunk counts them.
	if err := s.CountApproved(ctx, base.Add(2*time.Second), window, 24); err != nil {
		t.Fatalf("approved, 24 at once: %v", err)
	}
	b, err := s.ReadBreaker(ctx, base.Add(3*time.Second), window)
	if err != nil || b.Current != 5 || b.Approved != 25 || b.Count() != 5 {
		t.Fatalf("read: %+v %v", b, err)
	}
	// Three quarters into the next window, a quarter of the previous one still counts.
	next := base.Add(window + window*3/4)
	b, err = s.ReadBreaker(ctx, next, window)
	if err != nil || b.Previous != 5 || b.Current != 0 || b.Carried() != 2 {
		t.Fatalf("next window: %+v (carried %d) %v", b, b.Carried(), err)
	}
	// Tripped: read back until it ends; a reset clears it and the counts.
	until := next.Add(window)
	if err := s.TripBreaker(ctx, until); err != nil {
		t.Fatal(err)
	}
	if err := s.TripBreaker(ctx, until.Add(-time.Minute)); err != nil { // an earlier trip never shortens it
		t.Fatal(err)
	}
	if b, _ := s.ReadBreaker(ctx, next, window); !b.TrippedUntil.Equal(until) {
		t.Errorf("tripped until %v, want %v", b.TrippedUntil, until)
	}
	if b, _ := s.ReadBreaker(ctx, until.Add(time.Millisecond), window); !b.TrippedUntil.IsZero() {
		t.Errorf("still tripped after it ended: %v", b.TrippedUntil)
	}
	if err := s.ResetBreaker(ctx, base.Add(time.Second), window); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.ReadBreaker(ctx, base.Add(time.Second), window); b.Current != 0 || !b.TrippedUntil.IsZero() {
		t.Errorf("after a reset: %+v", b)
	}
}

func TestAlertRedelivery(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	key := unique(t, "evt")
	const lease = 5 * time.Minute

	if res, err := s.ClaimAlert(ctx, key, t0, lease); res != nil || err != nil {
		t.Fatalf("first claim: %q, %v; want nil, nil", res, err)
	}
	// A concurrent redelivery while the first invocation works.
	if res, err := s.ClaimAlert(ctx, key, t0.Add(time.Second), lease); res != nil || !errors.Is(err, ErrInProgress) {
		t.Fatalf("second claim: %q, %v; want ErrInProgress", res, err)
	}
	want := []byte(`{"outcomes":[{"user":"alice","status":"revoked"}]}`)
	if err := s.CompleteAlert(ctx, key, want, t0.Add(2*time.Second), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	// Redeliveries, even after the lease, get the stored result.
	for _, at := range []time.Time{t0.Add(3 * time.Second), t0.Add(23 * time.Hour)} {
		res, err := s.ClaimAlert(ctx, key, at, lease)
		if err != nil || !bytes.Equal(res, want) {
			t.Fatalf("redelivery at %v: %q, %v; want the stored result", at, res, err)
		}
	}
	// A release after completion keeps the result.
	if err := s.ReleaseAlert(ctx, key); err != nil {
		t.Fatal(err)
	}
	if res, err := s.ClaimAlert(ctx, key, t0.Add(time.Hour), lease); !bytes.Equal(res, want) || err != nil {
		t.Fatalf("after a release of a completed key: %q, %v", res, err)
	}
	// Once its TTL has passed the key counts as new, even though moto (like DynamoDB, for
	// a while) still holds the item.
	if res, err := s.ClaimAlert(ctx, key, t0.Add(25*time.Hour), lease); res != nil || err != nil {
		t.Fatalf("after the TTL: %q, %v; want nil, nil", res, err)
	}
}

func TestAlertEmptyResult(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	key := unique(t, "evt")
	if _, err := s.ClaimAlert(ctx, key, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteAlert(ctx, key, nil, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err := s.ClaimAlert(ctx, key, t0.Add(time.Second), time.Minute)
	if err != nil || res == nil || len(res) != 0 {
		t.Fatalf("got %q (nil: %v), %v; want an empty, non-nil result", res, res == nil, err)
	}
}

func TestAlertStaleClaimTakenOver(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	key := unique(t, "evt")
	const lease = 15 * time.Minute

	if _, err := s.ClaimAlert(ctx, key, t0, lease); err != nil {
		t.Fatal(err)
	}
	// The first invocation crashed without releasing.
	if _, err := s.ClaimAlert(ctx, key, t0.Add(lease), lease); !errors.Is(err, ErrInProgress) {
		t.Fatalf("at exactly the lease: %v, want ErrInProgress", err)
	}
	t1 := t0.Add(lease + time.Millisecond)
	if res, err := s.ClaimAlert(ctx, key, t1, lease); res != nil || err != nil {
		t.Fatalf("after the lease: %q, %v; want the claim taken over", res, err)
	}
	// The takeover is a fresh claim: a third claimer waits for it.
	if _, err := s.ClaimAlert(ctx, key, t1.Add(time.Second), lease); !errors.Is(err, ErrInProgress) {
		t.Fatalf("after the takeover: %v, want ErrInProgress", err)
	}
}

func TestReleaseAlert(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	key := unique(t, "evt")

	if _, err := s.ClaimAlert(ctx, key, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseAlert(ctx, key); err != nil {
		t.Fatal(err)
	}
	// Lambda's retry, a minute later, runs again.
	if res, err := s.ClaimAlert(ctx, key, t0.Add(time.Minute), time.Hour); res != nil || err != nil {
		t.Fatalf("after a release: %q, %v; want nil, nil", res, err)
	}
	if err := s.ReleaseAlert(ctx, unique(t, "never-claimed")); err != nil {
		t.Fatalf("releasing an unknown key: %v", err)
	}
}

func TestLargeResult(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()

	// ~100 KB, the largest result expected, is stored as is.
	big := bytes.Repeat([]byte(`{"user":"someone@contoso.example","status":"revoked"},`), 100_000/52)
	key := unique(t, "100k")
	if err := s.CompleteAlert(ctx, key, big, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if res, err := s.ClaimAlert(ctx, key, t0.Add(time.Second), time.Minute); err != nil || !bytes.Equal(res, big) {
		t.Fatalf("100 KB result: %d bytes back, %v", len(res), err)
	}

	// The largest result stored as is, under the longest key stored as is, fits in an item
	// (moto enforces DynamoDB's 400 KB).
	edge := bytes.Repeat([]byte("y"), MaxResultBytes)
	key = unique(t, "edge")
	key += strings.Repeat("k", maxKeyBytes-len(key))
	if err := s.CompleteAlert(ctx, key, edge, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if res, err := s.ClaimAlert(ctx, key, t0.Add(time.Second), time.Minute); err != nil || !bytes.Equal(res, edge) {
		t.Fatalf("%d-byte result: %d bytes back, %v", len(edge), len(res), err)
	}

	// Over the item limit: the marker, not a failure.
	huge := bytes.Repeat([]byte("x"), 500_000)
	key = unique(t, "500k")
	if err := s.CompleteAlert(ctx, key, huge, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err := s.ClaimAlert(ctx, key, t0.Add(time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var marker struct {
		Truncated bool   `json:"truncated"`
		Bytes     int    `json:"bytes"`
		SHA256    string `json:"sha256"`
	}
	if err := json.Unmarshal(res, &marker); err != nil || !marker.Truncated || marker.Bytes != len(huge) || len(marker.SHA256) != 64 {
		t.Fatalf("marker %s (%v)", res, err)
	}
	if item := getItem(t, "alert#"+key); item["truncated"] == nil {
		t.Error("the item is not flagged truncated")
	}
}

func TestLongKeys(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()

	long := strings.Repeat("Ü", 3000) + unique(t, "user") // 6000+ bytes, over DynamoDB's 2048
	if err := s.RecordRevoke(ctx, long, t0, time.Hour, "a"); err != nil {
		t.Fatal(err)
	}
	if at, _ := mustLastRevoke(t, s, strings.ToUpper(long)); !at.Equal(t0) {
		t.Fatal("the same long key in another case has no record")
	}

	// A key at the limit is kept; one byte more is hashed.
	atLimit := unique(t, "")
	atLimit += strings.Repeat("k", maxKeyBytes-len(atLimit))
	for _, k := range []string{atLimit, atLimit + "k", "not utf-8 \xff\xfe"} {
		if _, err := s.ClaimAlert(ctx, k, t0, time.Minute); err != nil {
			t.Fatalf("key of %d bytes: %v", len(k), err)
		}
		if err := s.CompleteAlert(ctx, k, []byte("done"), t0, time.Hour); err != nil {
			t.Fatalf("key of %d bytes: %v", len(k), err)
		}
		if res, err := s.ClaimAlert(ctx, k, t0.Add(time.Second), time.Minute); string(res) != "done" || err != nil {
			t.Fatalf("key of %d bytes: %q, %v", len(k), res, err)
		}
	}
	if getItem(t, "alert#"+atLimit) == nil {
		t.Errorf("a %d-byte key was not stored verbatim", len(atLimit))
	}
	pk, _ := s.key("test", alertPrefix, atLimit+"k")
	if !strings.HasPrefix(pk, "alert#sha256:") || len(pk) != len("alert#sha256:")+64 || getItem(t, pk) == nil {
		t.Errorf("a %d-byte key was not stored as its hash (%q)", len(atLimit)+1, pk)
	}

	for _, err := range []error{
		func() error { _, _, err := s.LastRevoke(ctx, " "); return err }(),
		func() error { _, err := s.ClaimAlert(ctx, "", t0, time.Minute); return err }(),
	} {
		var e *Error
		if !errors.As(err, &e) || e.Kind != Invalid || !strings.Contains(err.Error(), "the key is empty") {
			t.Errorf("empty key: %v", err)
		}
	}
}

func TestMissingTable(t *testing.T) {
	ctx := context.Background()
	s := New(client, "no-such-table")
	const alertID = "alert-value-never-in-errors"
	result := []byte("result-value-never-in-errors")
	user := "dave@contoso.example"
	calls := map[string]error{}
	_, _, calls["LastRevoke"] = s.LastRevoke(ctx, user)
	calls["RecordRevoke"] = s.RecordRevoke(ctx, user, t0, time.Hour, alertID)
	_, calls["ReadBreaker"] = s.ReadBreaker(ctx, t0, time.Minute)
	_, calls["CountRevoke"] = s.CountRevoke(ctx, t0, time.Minute, 3, false)
	_, calls["ClaimAlert"] = s.ClaimAlert(ctx, "evt-1", t0, time.Minute)
	calls["CompleteAlert"] = s.CompleteAlert(ctx, "evt-1", result, t0, time.Hour)
	calls["ReleaseAlert"] = s.ReleaseAlert(ctx, "evt-1")
	for name, err := range calls {
		var e *Error
		if !errors.As(err, &e) || e.Kind != Config || e.Code != "ResourceNotFoundException" || e.Retryable() {
			t.Errorf("%s: %#v, want a Config error", name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "state table no-such-table does not exist (check STATE_TABLE and the region)") {
			t.Errorf("%s: %q does not name the table and the fix", name, msg)
		}
		if strings.Contains(msg, alertID) || strings.Contains(msg, string(result)) {
			t.Errorf("%s: %q repeats a stored value", name, msg)
		}
	}
	if !strings.Contains(calls["RecordRevoke"].Error(), "record revoke revoked#dave@contoso.example:") {
		t.Errorf("RecordRevoke error does not name the operation and key: %q", calls["RecordRevoke"])
	}

	_, _, err := New(client, "").LastRevoke(ctx, user)
	if err == nil || !strings.Contains(err.Error(), "STATE_TABLE is not set") {
		t.Errorf("empty table name: %v", err)
	}
}

func TestForeignItem(t *testing.T) {
	s := New(client, table)
	user := unique(t, "eve")
	if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      map[string]types.AttributeValue{"pk": str("revoked#" + strings.ToLower(user)), "note": str("someone else's")},
	}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.LastRevoke(context.Background(), user)
	var e *Error
	if !errors.As(err, &e) || e.Kind != Config || !strings.Contains(err.Error(), "lacks revokedAt") || strings.Contains(err.Error(), "someone else") {
		t.Errorf("got %v", err)
	}
}

// Real DynamoDB returns the item that failed a condition when asked; the code reads it
// with GetItem when it does not come back. This client never asks.
func TestConditionFailureWithoutItem(t *testing.T) {
	strip := middleware.InitializeMiddlewareFunc("stripReturnValues", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if p, ok := in.Parameters.(*dynamodb.PutItemInput); ok {
			p.ReturnValuesOnConditionCheckFailure = ""
		}
		return next.HandleInitialize(ctx, in)
	})
	c := dynamodb.New(client.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return st.Initialize.Add(strip, middleware.After) })
	})
	s := New(c, table)
	ctx := context.Background()

	key := unique(t, "evt")
	if _, err := s.ClaimAlert(ctx, key, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimAlert(ctx, key, t0, time.Minute); !errors.Is(err, ErrInProgress) {
		t.Errorf("in progress: %v", err)
	}
	if err := s.CompleteAlert(ctx, key, []byte("r"), t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if res, err := s.ClaimAlert(ctx, key, t0, time.Minute); string(res) != "r" || err != nil {
		t.Errorf("redelivery: %q %v", res, err)
	}
}

func TestDescribe(t *testing.T) {
	s := New(client, "revoker-state")
	for _, c := range []struct {
		err       error
		kind      Kind
		retryable bool
		want      string
	}{
		{&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:sts::1:assumed-role/r is not authorized"}, Config, false,
			"no permission on state table revoker-state: the function's role needs dynamodb:PutItem on it"},
		{&smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}, Throttled, true, "DynamoDB throttled PutItem on state table revoker-state"},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, Throttled, true, "throttled"},
		{&smithy.GenericAPIError{Code: "InternalServerError"}, Unavailable, true, "retry later"},
		{&smithy.GenericAPIError{Code: "ValidationException", Message: "The provided key element does not match the schema"}, Config, false,
			"does not match the schema (the table's key must be pk, a String, with no sort key)"},
		{&smithy.GenericAPIError{Code: "UnrecognizedClientException"}, Config, false, "refused the function's AWS credentials"},
		{fmt.Errorf("operation error: %w", context.DeadlineExceeded), Unavailable, true, "did not finish before the invocation's deadline"},
		{errors.New("dial tcp 127.0.0.1:1: connection refused"), Unavailable, true, "connection refused"},
		{&smithy.GenericAPIError{Code: "SomethingNew"}, Other, false, "DynamoDB PutItem on state table revoker-state: SomethingNew"},
	} {
		err := s.describe(c.err, "claim user", "PutItem", "user#x")
		var e *Error
		if !errors.As(err, &e) || e.Kind != c.kind || e.Retryable() != c.retryable || !strings.Contains(err.Error(), c.want) ||
			!strings.HasPrefix(err.Error(), "claim user user#x: ") || !errors.Is(err, c.err) {
			t.Errorf("%v: got %q (kind %v)", c.err, err, e.Kind)
		}
	}
}

func getItem(t testing.TB, pk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func BenchmarkRevokeRecord(b *testing.B) {
	s := New(client, table)
	ctx := context.Background()
	prefix := unique(b, "")
	i := 0
	for b.Loop() {
		// What a revoke costs the state table: the suppression read, then the record.
		user := fmt.Sprint(prefix, i)
		if _, _, err := s.LastRevoke(ctx, user); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordRevoke(ctx, user, t0, time.Hour, "bench"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestPaceBucket: the state table's bucket, taken by several containers at once, never
// hands out the same tokens twice.
func TestPaceBucket(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	bucket := unique(t, "graph-writes")
	now := t0
	// 8 takers of 2 tokens each from a full bucket of 10, all at one instant: exactly 5 win.
	var wg sync.WaitGroup
	var won atomic.Int64
	for range 8 {
		wg.Go(func() {
			ok, _, err := s.Take(ctx, bucket, now, 20, 10, 2, 0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 5 {
		t.Fatalf("%d takes of 2 from a bucket of 10", won.Load())
	}
	// Half a second later 10 tokens have come back (20 a second), at most the burst.
	ok, left, err := s.Take(ctx, bucket, now.Add(500*time.Millisecond), 20, 10, 1, 0)
	if err != nil || !ok || left != 9 {
		t.Errorf("after a refill: %v %v %v", ok, left, err)
	}
	// An alert borrows below zero; a sweep with a reserve of 4 then waits.
	for range 12 {
		if ok, _, err := s.Take(ctx, bucket, now.Add(500*time.Millisecond), 20, 10, 1, math.Inf(-1)); !ok || err != nil {
			t.Fatalf("an alert's take refused: %v", err)
		}
	}
	if ok, left, _ := s.Take(ctx, bucket, now.Add(500*time.Millisecond), 20, 10, 5, 4); ok || left != -3 {
		t.Errorf("a sweep took from a bucket in debt: %v, %v left", ok, left)
	}
}

// TestSweepRuns: a sweep run's steps and chunks are recorded once each, whatever SQS
// redelivers, and a second run starts only when the first is done or stale.
func TestSweepRuns(t *testing.T) {
	s := SweepRuns{New(client, table)}
	ctx := context.Background()
	name := strings.ReplaceAll(unique(t, "sweep"), "@", "-")
	spec := sweep.Spec{Name: name, Group: "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15", Approved: true}
	run := sweep.Run{ID: "run-1", Name: name, Spec: spec, StartedAt: t0, UpdatedAt: t0}
	if ok, _, err := s.Start(ctx, run, time.Hour); !ok || err != nil {
		t.Fatalf("start: %v %v", ok, err)
	}
	second := run
	second.ID, second.StartedAt = "run-2", t0.Add(time.Minute)
	if ok, active, err := s.Start(ctx, second, time.Hour); ok || err != nil || active.ID != "run-1" || active.Spec.Group != spec.Group {
		t.Fatalf("a second start while the first runs: %v %+v %v", ok, active, err)
	}
	// Step 0 twice: applied once.
	for range 2 {
		if _, _, err := s.Planned(ctx, name, "run-1", 0, 250, 3, false, map[outcome.Status]int{outcome.Failed: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.Planned(ctx, name, "run-other", 1, 1, 1, true, nil); ok {
		t.Error("another run's step was applied")
	}
	if _, ok, _ := s.Planned(ctx, name, "run-1", 1, 0, 0, true, nil); !ok {
		t.Error("step 1 not applied")
	}
	// Three chunks, one delivered twice.
	var r sweep.Run
	for _, seq := range []int{0, 1, 1, 65536} {
		var err error
		r, _, err = s.ChunkDone(ctx, name, "run-1", seq, map[outcome.Status]int{outcome.Revoked: 100, outcome.NeedsApproval: 1})
		if err != nil {
			t.Fatal(err)
		}
	}
	if r.Done != 3 || r.Planned != 3 || r.Listed != 250 || !r.Complete() || r.Counts[outcome.Revoked] != 300 || r.Counts[outcome.Failed] != 2 || r.Counts[outcome.NeedsApproval] != 3 {
		t.Fatalf("run %+v", r)
	}
	if first, _ := s.Summarized(ctx, name, "run-1"); !first {
		t.Error("summary not marked")
	}
	if first, _ := s.Summarized(ctx, name, "run-1"); first {
		t.Error("summary marked twice")
	}
	// Done: a new run may start, and replaces it.
	if ok, _, err := s.Start(ctx, second, time.Hour); !ok || err != nil {
		t.Fatalf("a new run after the first: %v %v", ok, err)
	}
	got, ok, err := s.Get(ctx, name)
	if err != nil || !ok || got.ID != "run-2" || got.Done != 0 || len(got.Counts) != 0 {
		t.Fatalf("the new run %+v %v", got, err)
	}
	// Stopped, with its reason; a stale run is replaced.
	if r, ok, err := s.Stop(ctx, name, "wrong group"); !ok || err != nil || !r.Stopped || r.StopReason != "wrong group" {
		t.Fatalf("stop: %+v %v %v", r, ok, err)
	}
	third := run
	third.ID, third.StartedAt = "run-3", time.Now().Add(2*time.Hour)
	if ok, _, err := s.Start(ctx, third, time.Hour); !ok || err != nil {
		t.Errorf("a stale run was not replaced: %v %v", ok, err)
	}
}

// TestLastRevokes: the batch read answers as LastRevoke does for each user, across
// BatchGetItem's hundred-key pages, with duplicates and keys too long to store verbatim.
func TestLastRevokes(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	var keys []string
	for i := range 250 {
		user := unique(t, fmt.Sprintf("u%03d", i))
		if i == 7 {
			user = strings.Repeat("x", maxKeyBytes+1) + user
		}
		keys = append(keys, user)
		if i%3 == 0 {
			if err := s.RecordRevoke(ctx, user, t0.Add(time.Duration(i)*time.Second), time.Hour, fmt.Sprintf("alert-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.LastRevokes(ctx, append(keys, strings.ToUpper(keys[3]), keys[3]))
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for i, k := range keys {
		at, id := mustLastRevoke(t, s, k)
		p, ok := got[strings.ToLower(k)]
		if ok != !at.IsZero() || !p.At.Equal(at) || p.AlertID != id {
			t.Errorf("user %d: batch %+v (%v), single %v %q", i, p, ok, at, id)
		}
		if ok {
			recorded++
		}
	}
	if recorded != 84 || len(got) != 84 {
		t.Errorf("%d recorded users read, %d in the map; want 84", recorded, len(got))
	}
	if got, err := s.LastRevokes(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no keys: %v %v", got, err)
	}
	if _, err := New(client, "").LastRevokes(ctx, keys[:1]); err == nil || !strings.Contains(err.Error(), "STATE_TABLE") {
		t.Errorf("no table: %v", err)
	}
}
