package webhook_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/sources"
	"github.com/session-revoker/session-revoker/internal/webhook"
	"github.com/session-revoker/session-revoker/internal/webhook/webhooktest"
)

// nopBus accepts everything at once: the benchmark is the endpoint's own cost
// (routing, the secret's parsed keys, authentication, validation, the entry, the log
// line), EventBridge's call excluded.
type nopBus struct{}

func (nopBus) Put(context.Context, webhook.Entry) (string, error) {
	return "4f5e6d7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f", nil
}

// BenchmarkServe reports each request's latency as p50 and p99 (target p99 < 5 ms), for
// each authentication scheme on its product's fixture, and for the largest entry
// EventBridge takes.
func BenchmarkServe(b *testing.B) {
	largest := func(r webhook.Route) []byte {
		n := webhook.MaxEntrySize - 1 - len(sources.WebhookSource) - len(r.Source.DetailType)
		out := []byte(`{"SystemAlertId":"1","AlertName":"x","pad":"`)
		out = append(out, bytes.Repeat([]byte("0123456789abcdef"), n/16)...)
		out = out[:n-2]
		return append(out, `"}`...)
	}
	for _, c := range []struct {
		name  string
		route string
		body  func(webhook.Route) []byte
	}{
		{"bearer/sentinel-alert", "sentinel-alert", nil},
		{"bearer/graph-security-incident", "graph-security-incident", nil},
		{"path-token/splunk", "splunk", nil},
		{"crowdstrike-hmac/crowdstrike", "crowdstrike", nil},
		{"bearer/largest-entry-256KB", "sentinel-alert", largest},
		{"crowdstrike-hmac/largest-entry-256KB", "crowdstrike", largest},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := routeOf(b, c.route)
			payload := body(b, r)
			if c.body != nil {
				payload = c.body(r)
			}
			ep := webhook.New(nopBus{}, keyring(b, webhooktest.Secret()), slog.New(slog.NewJSONHandler(io.Discard, nil)), func() time.Time { return clock })
			req := webhooktest.Request(r, payload, sentAt())
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp := ep.Serve(ctx, req)
				lat = append(lat, time.Since(start))
				if resp.Status != 200 {
					b.Fatalf("status %d %s", resp.Status, resp.Body)
				}
				ep.ForgetReplays() // the same signed delivery, sent again
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}
