package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// A sweep run (package sweep's engine) is one item, sweeprun#<name>: the run's id and
// spec, how far its listing got, the chunks it queued and those done (a number set, so a
// chunk is counted once however often it is delivered), and its totals per status. Every
// write is conditional on the run's id, so a previous run's late work never counts in a
// new one.
const (
	sweepRunPrefix = "sweeprun#"
	// sweepRunKeep keeps a finished run readable (its status, its totals) for a month.
	sweepRunKeep = 30 * 24 * time.Hour
	countPrefix  = "c_"
)

// SweepRuns is the state table as the sweep engine sees it (sweep.Progress).
type SweepRuns struct{ *Store }

var _ sweep.Progress = SweepRuns{}

func (s SweepRuns) pk(op, name string) (string, error) { return s.itemKey(op, sweepRunPrefix, name) }

// Start implements sweep.Progress.
func (s SweepRuns) Start(ctx context.Context, run sweep.Run, stale time.Duration) (bool, sweep.Run, error) {
	const op = "start sweep"
	pk, err := s.pk(op, run.Name)
	if err != nil {
		return false, sweep.Run{}, err
	}
	spec, err := json.Marshal(run.Spec)
	if err != nil {
		return false, sweep.Run{}, s.invalid(op, pk, "the spec does not encode: "+err.Error())
	}
	now := run.StartedAt
	old, won, err := s.put(ctx, op, pk, &dynamodb.PutItemInput{
		Item: map[string]types.AttributeValue{
			"pk": str(pk), "run": str(run.ID), "spec": str(string(spec)), "dryRun": boolean(run.DryRun),
			"startedAt": num(now.UnixMilli()), "updatedAt": num(now.UnixMilli()), "step": num(0),
			"listed": num(0), "planned": num(0), "done": num(0),
			"listingDone": boolean(false), "stopped": boolean(false), "summarized": boolean(false),
			"expiresAt": num(now.Add(sweepRunKeep).Unix()), "listSha": str(run.ListSHA),
		},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR summarized = :true OR updatedAt < :stale"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": boolean(true), ":stale": num(now.Add(-stale).UnixMilli())},
	})
	if err != nil || won {
		return won, sweep.Run{}, err
	}
	if old == nil {
		return false, sweep.Run{}, s.contended(op, pk)
	}
	active, err := s.decodeRun(op, pk, run.Name, old)
	return false, active, err
}

// Get implements sweep.Progress.
func (s SweepRuns) Get(ctx context.Context, name string) (sweep.Run, bool, error) {
	const op = "read sweep"
	pk, err := s.pk(op, name)
	if err != nil {
		return sweep.Run{}, false, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return sweep.Run{}, false, s.describe(err, op, "GetItem", pk)
	}
	if out.Item == nil {
		return sweep.Run{}, false, nil
	}
	r, err := s.decodeRun(op, pk, name, out.Item)
	return r, err == nil, err
}

// Planned implements sweep.Progress.
func (s SweepRuns) Planned(ctx context.Context, name, run string, step, listed, chunks int, done bool, counts map[outcome.Status]int) (sweep.Run, bool, error) {
	const op = "record sweep step"
	set := "SET step = :next, updatedAt = :now, listingDone = :done"
	add := "ADD listed :listed, planned :chunks"
	values := map[string]types.AttributeValue{
		":run": str(run), ":step": num(int64(step)), ":next": num(int64(step + 1)), ":now": num(time.Now().UnixMilli()),
		":done": boolean(done), ":listed": num(int64(listed)), ":chunks": num(int64(chunks)),
	}
	add += addCounts(counts, values)
	return s.update(ctx, op, name, set+" "+add, "run = :run AND step = :step", values)
}

// ChunkDone implements sweep.Progress.
func (s SweepRuns) ChunkDone(ctx context.Context, name, run string, seq int, counts map[outcome.Status]int) (sweep.Run, bool, error) {
	const op = "record sweep chunk"
	values := map[string]types.AttributeValue{
		":run": str(run), ":seq": num(int64(seq)), ":seqs": &types.AttributeValueMemberNS{Value: []string{strconv.Itoa(seq)}},
		":one": num(1), ":now": num(time.Now().UnixMilli()),
	}
	expr := "SET updatedAt = :now ADD doneChunks :seqs, done :one" + addCounts(counts, values)
	return s.update(ctx, op, name, expr, "run = :run AND NOT contains(doneChunks, :seq)", values)
}

// Summarized implements sweep.Progress.
func (s SweepRuns) Summarized(ctx context.Context, name, run string) (bool, error) {
	_, first, err := s.update(ctx, "record sweep summary", name, "SET summarized = :true, updatedAt = :now",
		"run = :run AND summarized <> :true", map[string]types.AttributeValue{":run": str(run), ":true": boolean(true), ":now": num(time.Now().UnixMilli())})
	return first, err
}

// Stop implements sweep.Progress.
func (s SweepRuns) Stop(ctx context.Context, name, reason string) (sweep.Run, bool, error) {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	return s.update(ctx, "stop sweep", name, "SET stopped = :true, stopReason = :reason, updatedAt = :now",
		"attribute_exists(pk) AND summarized <> :true", map[string]types.AttributeValue{":true": boolean(true), ":reason": str(reason), ":now": num(time.Now().UnixMilli())})
}

// update runs a conditional UpdateItem and returns the run after it; applied is false
// when the condition failed (the run is then read as it stands, or zero if there is none).
func (s SweepRuns) update(ctx context.Context, op, name, expr, cond string, values map[string]types.AttributeValue) (sweep.Run, bool, error) {
	pk, err := s.pk(op, name)
	if err != nil {
		return sweep.Run{}, false, err
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"pk": str(pk)},
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String(cond),
		ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllNew,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		r, err := s.decodeRun(op, pk, name, out.Attributes)
		return r, true, err
	case errors.As(err, &failed):
		r, _, err := s.Get(ctx, name)
		return r, false, err
	}
	return sweep.Run{}, false, s.describe(err, op, "UpdateItem", pk)
}

// addCounts adds an ADD clause's counters per status to values.
func addCounts(counts map[outcome.Status]int, values map[string]types.AttributeValue) string {
	var b strings.Builder
	for _, st := range outcome.Statuses {
		if n := counts[st]; n > 0 {
			ph := ":" + countAttr(st)
			fmt.Fprintf(&b, ", %s %s", countAttr(st), ph)
			values[ph] = num(int64(n))
		}
	}
	return b.String()
}

// countAttr is the attribute counting a status: c_needs_approval, c_would_revoke, ...
func countAttr(st outcome.Status) string {
	return countPrefix + strings.ReplaceAll(string(st), "-", "_")
}

func (s SweepRuns) decodeRun(op, pk, name string, it map[string]types.AttributeValue) (sweep.Run, error) {
	r := sweep.Run{Name: name, Counts: map[outcome.Status]int{}}
	id, _ := it["run"].(*types.AttributeValueMemberS)
	spec, _ := it["spec"].(*types.AttributeValueMemberS)
	if id == nil || spec == nil {
		return sweep.Run{}, s.foreign(op, pk, "run and spec")
	}
	r.ID = id.Value
	if err := json.Unmarshal([]byte(spec.Value), &r.Spec); err != nil {
		return sweep.Run{}, s.foreign(op, pk, "a readable spec")
	}
	ints := map[string]*int{"step": &r.Step, "listed": &r.Listed, "planned": &r.Planned, "done": &r.Done}
	for name, into := range ints {
		v, _ := number(it, name)
		*into = int(v)
	}
	if ms, ok := number(it, "startedAt"); ok {
		r.StartedAt = time.UnixMilli(ms).UTC()
	}
	if ms, ok := number(it, "updatedAt"); ok {
		r.UpdatedAt = time.UnixMilli(ms).UTC()
	}
	r.DryRun, r.ListingDone, r.Stopped, r.Summarized = flag(it, "dryRun"), flag(it, "listingDone"), flag(it, "stopped"), flag(it, "summarized")
	if reason, ok := it["stopReason"].(*types.AttributeValueMemberS); ok {
		r.StopReason = reason.Value
	}
	if sha, ok := it["listSha"].(*types.AttributeValueMemberS); ok {
		r.ListSHA = sha.Value
	}
	for _, st := range outcome.Statuses {
		if v, ok := number(it, countAttr(st)); ok && v > 0 {
			r.Counts[st] = int(v)
		}
	}
	return r, nil
}

func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

func flag(it map[string]types.AttributeValue, name string) bool {
	b, ok := it[name].(*types.AttributeValueMemberBOOL)
	return ok && b.Value
}
