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

// emitMetrics writes one CloudWatch embedded metric format record per alert format in
// the result: counts per status, throttled calls and the Graph latency of each user. It
// goes through the logger, so it carries the request and alert ids like every other
// line; CloudWatch reads the "_aws" member wherever the line has it at the top level.
func emitMetrics(log *slog.Logger, res *outcome.Result) {
	fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	if fn == "" {
		fn = "local"
	}
	byFormat := map[string][]outcome.Outcome{}
	var order []string
	for _, t := range res.Targets {
		if _, seen := byFormat[t.Format]; !seen {
			order = append(order, t.Format)
		}
		byFormat[t.Format] = append(byFormat[t.Format], t)
	}
	for _, format := range order {
		targets := byFormat[format]
		counts := map[string]int{}
		var latency []int64
		throttled := 0
		for _, t := range targets {
			counts[metricNames[t.Status]]++
			throttled += t.Throttled
			if t.Attempts > 0 {
				latency = append(latency, t.DurationMS)
			}
		}
		metrics := []map[string]string{{"Name": "Throttled", "Unit": "Count"}}
		attrs := []slog.Attr{slog.String("FunctionName", fn), slog.String("Format", format), slog.Int("Throttled", throttled)}
		for _, s := range outcome.Statuses {
			name := metricNames[s]
			metrics = append(metrics, map[string]string{"Name": name, "Unit": "Count"})
			attrs = append(attrs, slog.Int(name, counts[name]))
		}
		if len(latency) > 0 {
			if len(latency) > 100 { // EMF takes at most 100 values per metric
				latency = latency[:100]
			}
			metrics = append(metrics, map[string]string{"Name": "GraphLatency", "Unit": "Milliseconds"})
			attrs = append(attrs, slog.Any("GraphLatency", latency))
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
