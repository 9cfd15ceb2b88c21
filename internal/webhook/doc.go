// Package webhook is the push path for SIEMs that cannot write to EventBridge: one HTTPS
// path per source (internal/sources), each product authenticated by the strongest method it
// supports, the body put on the alert bus as one entry with the detail-type the rules
// match. It answers 2xx only once EventBridge has accepted that entry, so a sender retries
// anything else.
//
// It is plain logic over two small interfaces it owns, the Bus and the Keyring; the AWS
// clients behind them live in internal/webhookaws. It must never hold or reach Graph
// credentials (it imports nothing of internal/graph or internal/app), never log or echo a
// body, a path (Splunk's carries its token), a header or a key, and never answer 2xx for an
// entry EventBridge did not accept.
package webhook
