package handler

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/session-revoker/session-revoker/internal/outcome"
)

// namespace is the CloudWatch namespace of the function's metrics.
const namespace = "SessionRevoker"

// metricNames maps statuses to metric names; every status has one, so a dashboard can
// alarm on Failed or Deferred without parsing logs.
var metricNames = map[outcome.Status]string{
	outcome.Revoked:       "Revoked",
	outcome.Verified:      "Verified",
	outcome.WouldRevoke:   "WouldRevoke",
	outcome.Skipped:       "Skipped",
	outcome.NotFound:      "NotFound",
	outcome.Failed:        "Failed",
	outcome.Deferred:      "Deferred",
	outcome.NeedsApproval: "NeedsApproval",
	outcome.Suppressed:    "Suppressed",
}

// tally is what the metrics count, per alert format, built as outcomes arrive so that a
// sweep of any size counts every user while keeping none of them.
type tally struct {
	order   []string
	formats map[string]*formatTally
}

type formatTally struct {
	counts    map[string]int
	throttled int
	latency   []int64 // at most maxLatencies: EMF takes at most 100 values per metric
}

const maxLatencies = 100

func (t *tally) add(ts []outcome.Outcome) {
	if t.formats == nil {
		t.formats = map[string]*formatTally{}
	}
	for _, o := range ts {
		f := t.formats[o.Format]
		if f == nil {
			f = &formatTally{counts: map[string]int{}}
			t.formats[o.Format] = f
			t.order = append(t.order, o.Format)
		}
		f.counts[metricNames[o.Status]]++
		f.throttled += o.Throttled
		if o.Attempts > 0 && len(f.latency) < maxLatencies {
			f.latency = append(f.latency, o.DurationMS)
		}
	}
}

func tallyOf(ts []outcome.Outcome) *tally {
	t := &tally{}
	t.add(ts)
	return t
}

// emitMetrics writes one CloudWatch embedded metric format record per alert format:
// counts per status, throttled calls and the Graph latency of each user. It goes through
// the logger, so it carries the request and alert ids like every other line; CloudWatch
// reads the "_aws" member wherever the line has it at the top level.
func emitMetrics(log *slog.Logger, t *tally) {
	fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	if fn == "" {
		fn = "local"
	}
	for _, format := range t.order {
		f := t.formats[format]
		metrics := []map[string]string{{"Name": "Throttled", "Unit": "Count"}}
		attrs := []slog.Attr{slog.String("FunctionName", fn), slog.String("Format", format), slog.Int("Throttled", f.throttled)}
		for _, s := range outcome.Statuses {
			name := metricNames[s]
			metrics = append(metrics, map[string]string{"Name": name, "Unit": "Count"})
			attrs = append(attrs, slog.Int(name, f.counts[name]))
		}
		if len(f.latency) > 0 {
			metrics = append(metrics, map[string]string{"Name": "GraphLatency", "Unit": "Milliseconds"})
			attrs = append(attrs, slog.Any("GraphLatency", f.latency))
		}
		attrs = append(attrs, slog.Any("_aws", map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": namespace,
				// Per format, and per function across formats: one alarm watches every format.
				"Dimensions": [][]string{{"FunctionName", "Format"}, {"FunctionName"}},
				"Metrics":    metrics,
			}},
		}))
		log.LogAttrs(context.Background(), slog.LevelInfo, "metrics", attrs...)
	}
}
