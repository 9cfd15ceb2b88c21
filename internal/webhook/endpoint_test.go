package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/sources"
	"github.com/session-revoker/session-revoker/internal/webhook"
	"github.com/session-revoker/session-revoker/internal/webhook/webhooktest"
)

type staticKeyring struct {
	keys webhook.Keys
	err  error
}

func (k staticKeyring) Keys(context.Context) (webhook.Keys, error) { return k.keys, k.err }

func keyring(t testing.TB, raw string) staticKeyring {
	t.Helper()
	k, unknown, err := webhook.ParseKeys(raw)
	if err != nil || len(unknown) > 0 {
		t.Fatalf("ParseKeys: %v, unknown %v", err, unknown)
	}
	return staticKeyring{keys: k}
}

// recordingBus keeps what it is given and answers err when set.
type recordingBus struct {
	mu      sync.Mutex
	entries []webhook.Entry
	err     error
}

func (b *recordingBus) Put(_ context.Context, e webhook.Entry) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return "", b.err
	}
	e.Detail = bytes.Clone(e.Detail)
	b.entries = append(b.entries, e)
	return "4f5e6d7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f", nil
}

func (b *recordingBus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

// clock is the endpoint's "now"; requests are signed two seconds before it.
var clock = time.Date(2026, 11, 23, 5, 47, 31, 0, time.UTC)

func sentAt() time.Time { return clock.Add(-2 * time.Second) }

func newEndpoint(t testing.TB, bus webhook.Bus, kr webhook.Keyring, logs io.Writer) *webhook.Endpoint {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	return webhook.New(bus, kr, slog.New(slog.NewJSONHandler(logs, nil)), func() time.Time { return clock })
}

func routeOf(t testing.TB, name string) webhook.Route {
	t.Helper()
	for _, r := range webhook.Routes() {
		if r.Source.Name == name {
			return r
		}
	}
	t.Fatalf("no route %s", name)
	return webhook.Route{}
}

func body(t testing.TB, r webhook.Route) []byte {
	t.Helper()
	b, err := webhooktest.Body(r.Source)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEverySource: each source's alert, authenticated as its product sends it, is put on
// the bus verbatim with the webhook source and the detail-type its rule matches, and the
// answer is 200 with EventBridge's event id.
func TestEverySource(t *testing.T) {
	routes := webhook.Routes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, r := range routes {
		t.Run(r.Source.Name, func(t *testing.T) {
			bus := &recordingBus{}
			var logs bytes.Buffer
			ep := newEndpoint(t, bus, keyring(t, webhooktest.Secret()), &logs)
			b := body(t, r)
			resp := ep.Serve(context.Background(), webhooktest.Request(r, b, sentAt()))
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d %s; log %s", resp.Status, resp.Body, logs.String())
			}
			if resp.Body != `{"accepted":true,"eventId":"4f5e6d7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}` {
				t.Errorf("body %s", resp.Body)
			}
			if len(bus.entries) != 1 {
				t.Fatalf("%d entries", len(bus.entries))
			}
			e := bus.entries[0]
			if e.Source != sources.WebhookSource || e.DetailType != r.Source.DetailType || !bytes.Equal(e.Detail, b) {
				t.Errorf("entry %s / %s / %d bytes, want %s / %s / the %d bytes sent", e.Source, e.DetailType, len(e.Detail), sources.WebhookSource, r.Source.DetailType, len(b))
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("log line: %v: %s", err, logs.String())
			}
			if line["requestId"] != "b7c1e0d2-5a4f-4c3e-9d8b-7a6f5e4d3c2b" || line["source"] != r.Source.Name || line["status"] != 200.0 || line["eventId"] == nil {
				t.Errorf("log line %v", line)
			}
		})
	}
}

// TestRoutesFollowSources: every detail-type source has a path; partner and AWS sources,
// which EventBridge delivers from the product itself, have none.
func TestRoutesFollowSources(t *testing.T) {
	served := map[string]webhook.Scheme{}
	for _, r := range webhook.Routes() {
		served[r.Source.Name] = r.Scheme
	}
	for _, s := range sources.All {
		_, ok := served[s.Name]
		if want := s.SourcePrefix == "" && s.DetailType != ""; ok != want {
			t.Errorf("%s: served %v, want %v", s.Name, ok, want)
		}
	}
	for name, want := range map[string]webhook.Scheme{"splunk": webhook.PathToken, "crowdstrike": webhook.CrowdStrikeSignature, "elastic": webhook.Bearer, "sumologic": webhook.Bearer, "sentinel-alert": webhook.Bearer, "google-secops": webhook.Bearer} {
		if served[name] != want {
			t.Errorf("%s: scheme %v, want %v", name, served[name], want)
		}
	}
}

// signTimestampFirst is the construction PagerTree's CrowdStrike integration verifies:
// HMAC-SHA256 over the timestamp followed by the body.
func signTimestampFirst(key string, body []byte, timestamp string, encode func([]byte) string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(timestamp))
	mac.Write(body)
	return encode(mac.Sum(nil))
}

// TestCrowdStrikeSignatureConstructions: public receivers disagree on what Falcon signs, so
// each construction one of them verifies is accepted, and the log line says which matched;
// a replay is refused whichever way the same MAC is written.
func TestCrowdStrikeSignatureConstructions(t *testing.T) {
	cs := routeOf(t, "crowdstrike")
	b := body(t, cs)
	ts := sentAt().UTC().Format(time.RFC3339)
	bodyFirst, _ := base64.StdEncoding.DecodeString(webhooktest.SignCrowdStrike(webhooktest.CrowdStrikeKey, b, ts))
	for _, c := range []struct {
		name, sig, as string
	}{
		{"base64, body then timestamp (alertchain, a Teams relay)", webhooktest.SignCrowdStrike(webhooktest.CrowdStrikeKey, b, ts), "body+timestamp"},
		{"hex, body then timestamp", hex.EncodeToString(bodyFirst), "body+timestamp"},
		{"hex, timestamp then body (PagerTree)", signTimestampFirst(webhooktest.CrowdStrikeKey, b, ts, hex.EncodeToString), "timestamp+body"},
		{"base64, timestamp then body", signTimestampFirst(webhooktest.CrowdStrikeKey, b, ts, base64.StdEncoding.EncodeToString), "timestamp+body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			bus := &recordingBus{}
			ep := newEndpoint(t, bus, keyring(t, webhooktest.Secret()), &logs)
			req := with(webhooktest.Request(cs, b, sentAt()), func(r *webhook.Request) { r.Headers["x-cs-primary-signature"] = c.sig })
			if resp := ep.Serve(context.Background(), req); resp.Status != http.StatusOK {
				t.Fatalf("status %d; log %s", resp.Status, logs.String())
			}
			if !strings.Contains(logs.String(), `"signedAs":"`+c.as+`"`) {
				t.Errorf("the log does not say the signature was %s: %s", c.as, logs.String())
			}
			// The same MAC in the other encoding is the same delivery.
			other := req
			other.Headers = map[string]string{}
			for k, v := range req.Headers {
				other.Headers[k] = v
			}
			if mac, err := hex.DecodeString(c.sig); err == nil {
				other.Headers["x-cs-primary-signature"] = base64.StdEncoding.EncodeToString(mac)
			} else {
				mac, _ := base64.StdEncoding.DecodeString(c.sig)
				other.Headers["x-cs-primary-signature"] = hex.EncodeToString(mac)
			}
			if resp := ep.Serve(context.Background(), other); resp.Status != http.StatusUnauthorized || bus.count() != 1 {
				t.Errorf("the same MAC re-encoded: status %d, %d entries", resp.Status, bus.count())
			}
		})
	}
}

func TestRotationBothKeysAccepted(t *testing.T) {
	r := routeOf(t, "elastic")
	for _, token := range []string{webhooktest.BearerToken, webhooktest.NextToken} {
		bus := &recordingBus{}
		req := webhooktest.Request(r, body(t, r), sentAt())
		req.Headers["authorization"] = "bearer  " + token // scheme in any case, extra space
		if resp := newEndpoint(t, bus, keyring(t, webhooktest.Secret()), nil).Serve(context.Background(), req); resp.Status != http.StatusOK {
			t.Errorf("status %d %s", resp.Status, resp.Body)
		}
	}
}

// TestRefused: each way a request can be wrong gets its status, the bus sees nothing,
// and neither the answer nor the log says more than the status.
func TestRefused(t *testing.T) {
	sentinel, splunk, cs := routeOf(t, "sentinel-alert"), routeOf(t, "splunk"), routeOf(t, "crowdstrike")
	csBody := body(t, cs)
	signedAt := func(at time.Time, b []byte) webhook.Request { return webhooktest.Request(cs, b, at) }
	for _, c := range []struct {
		name   string
		req    webhook.Request
		status int
		reason string
	}{
		{"unknown source", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Path = "/qradar" }), 404, "no route"},
		{"partner source has no path", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Path = "/datadog" }), 404, "no route"},
		{"root", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Path = "/" }), 404, "no route"},
		{"extra segment", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Path = "/sentinel-alert/x" }), 404, "no route"},
		{"GET", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Method = "GET" }), 405, "method GET"},
		{"no Authorization", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { delete(r.Headers, "authorization") }), 401, "no bearer token"},
		{"wrong bearer token", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Headers["authorization"] = "Bearer " + webhooktest.NextToken }), 401, "bearer token does not match"},
		{"another source's token", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Headers["authorization"] = "Bearer " + webhooktest.SplunkToken }), 401, "bearer token does not match"},
		{"Basic instead of Bearer", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Headers["authorization"] = "Basic " + webhooktest.BearerToken }), 401, "no bearer token"},
		{"token prefix", with(webhooktest.Request(sentinel, body(t, sentinel), sentAt()), func(r *webhook.Request) { r.Headers["authorization"] = "Bearer " + webhooktest.BearerToken[:40] }), 401, "bearer token does not match"},
		{"no path token", with(webhooktest.Request(splunk, body(t, splunk), sentAt()), func(r *webhook.Request) { r.Path = "/splunk" }), 401, "no token in the path"},
		{"wrong path token", with(webhooktest.Request(splunk, body(t, splunk), sentAt()), func(r *webhook.Request) { r.Path = "/splunk/" + webhooktest.BearerToken }), 401, "path token does not match"},
		{"path token in a header", with(webhooktest.Request(splunk, body(t, splunk), sentAt()), func(r *webhook.Request) {
			r.Path = "/splunk"
			r.Headers["authorization"] = "Bearer " + webhooktest.SplunkToken
		}), 401, "no token in the path"},
		{"signature missing", with(signedAt(sentAt(), csBody), func(r *webhook.Request) { delete(r.Headers, "x-cs-primary-signature") }), 401, "no X-Cs-Primary-Signature"},
		{"timestamp missing", with(signedAt(sentAt(), csBody), func(r *webhook.Request) { delete(r.Headers, "x-cs-delivery-timestamp") }), 401, "no X-Cs-Delivery-Timestamp"},
		{"signed with another key", with(signedAt(sentAt(), csBody), func(r *webhook.Request) {
			r.Headers["x-cs-primary-signature"] = webhooktest.SignCrowdStrike(webhooktest.BearerToken, csBody, r.Headers["x-cs-delivery-timestamp"])
		}), 401, "signature does not match"},
		{"body altered after signing", with(signedAt(sentAt(), csBody), func(r *webhook.Request) { r.Body = append(bytes.Clone(csBody), ' ') }), 401, "signature does not match"},
		{"timestamp altered after signing", with(signedAt(sentAt(), csBody), func(r *webhook.Request) {
			r.Headers["x-cs-delivery-timestamp"] = clock.Add(-time.Second).Format(time.RFC3339)
		}), 401, "signature does not match"},
		{"stale timestamp", signedAt(clock.Add(-webhook.ReplayWindow-time.Second), csBody), 401, "stale timestamp"},
		{"timestamp from the future", signedAt(clock.Add(webhook.ReplayWindow+time.Second), csBody), 401, "ahead of the clock"},
		{"other algorithm", with(signedAt(sentAt(), csBody), func(r *webhook.Request) { r.Headers["x-cs-signature-algorithm"] = "hmac-sha1" }), 401, "unsupported"},
		{"signature neither base64 nor hex", with(signedAt(sentAt(), csBody), func(r *webhook.Request) { r.Headers["x-cs-primary-signature"] = strings.Repeat("xy", 32) }), 401, "not an HMAC-SHA256 in base64 or hex"},
		{"signature of another length", with(signedAt(sentAt(), csBody), func(r *webhook.Request) {
			r.Headers["x-cs-primary-signature"] = r.Headers["x-cs-primary-signature"][:40]
		}), 401, "not an HMAC-SHA256 in base64 or hex"},
		{"any hex that is not the MAC", with(signedAt(sentAt(), csBody), func(r *webhook.Request) { r.Headers["x-cs-primary-signature"] = strings.Repeat("ab", 32) }), 401, "signature does not match"},
		{"timestamp first, another key", with(signedAt(sentAt(), csBody), func(r *webhook.Request) {
			r.Headers["x-cs-primary-signature"] = signTimestampFirst(webhooktest.BearerToken, csBody, r.Headers["x-cs-delivery-timestamp"], hex.EncodeToString)
		}), 401, "signature does not match"},
		{"not JSON, authenticated", with(webhooktest.Request(sentinel, []byte("SystemAlertId=1"), sentAt()), nil), 400, "must be a JSON object"},
		{"not JSON, unauthenticated", with(webhooktest.Request(sentinel, []byte("SystemAlertId=1"), sentAt()), func(r *webhook.Request) { delete(r.Headers, "authorization") }), 401, "no bearer token"},
		{"a JSON array", webhooktest.Request(sentinel, []byte(`[{"SystemAlertId":"1"}]`), sentAt()), 400, "must be a JSON object"},
		{"empty body", webhooktest.Request(sentinel, nil, sentAt()), 400, "must be a JSON object"},
		{"truncated JSON", webhooktest.Request(sentinel, body(t, sentinel)[:100], sentAt()), 400, "must be a JSON object"},
		{"not UTF-8", webhooktest.Request(sentinel, []byte("{\"AlertName\":\"\xff\xfe\"}"), sentAt()), 400, "must be UTF-8"},
		{"nested too deep", webhooktest.Request(sentinel, []byte(`{"a":`+strings.Repeat("[", webhook.MaxDepth)+strings.Repeat("]", webhook.MaxDepth)+`}`), sentAt()), 400, "deeper than"},
		{"integer beyond 64 bits", webhooktest.Request(sentinel, []byte(`{"SystemAlertId":"1","n":9223372036854775808}`), sentAt()), 400, "64-bit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bus := &recordingBus{}
			var logs bytes.Buffer
			resp := newEndpoint(t, bus, keyring(t, webhooktest.Secret()), &logs).Serve(context.Background(), c.req)
			if resp.Status != c.status {
				t.Fatalf("status %d %s, want %d; log %s", resp.Status, resp.Body, c.status, logs.String())
			}
			if bus.count() != 0 {
				t.Error("the bus got the entry")
			}
			if !strings.Contains(logs.String(), c.reason) {
				t.Errorf("log %s lacks %q", logs.String(), c.reason)
			}
			if c.status == 401 && resp.Body != `{"error":"unauthorized"}` {
				t.Errorf("401 says more than unauthorized: %s", resp.Body)
			}
			noLeak(t, c.req, resp, logs.String())
		})
	}
}

func with(r webhook.Request, f func(*webhook.Request)) webhook.Request {
	if f != nil {
		f(&r)
	}
	return r
}

// noLeak: no key, no path, no header value and no part of the body in the answer or
// the log.
func noLeak(t *testing.T, req webhook.Request, resp webhook.Response, logs string) {
	t.Helper()
	out := resp.Body + " " + strings.Join(values(resp.Headers), " ") + " " + logs
	for _, secret := range []string{webhooktest.SplunkToken, webhooktest.BearerToken, webhooktest.NextToken, webhooktest.CrowdStrikeKey} {
		if strings.Contains(out, secret) || strings.Contains(out, secret[:16]) {
			t.Errorf("a key leaks: %s", out)
		}
	}
	if len(req.Path) > 1 && strings.Contains(out, req.Path) {
		t.Errorf("the path leaks: %s", out)
	}
	for _, name := range []string{"authorization", "x-cs-primary-signature"} {
		if v := req.Headers[name]; len(v) >= 12 && strings.Contains(out, v) {
			t.Errorf("header %s leaks: %s", name, out)
		}
	}
	if len(req.Body) >= 24 && strings.Contains(out, string(req.Body[len(req.Body)/2:len(req.Body)/2+12])) {
		t.Errorf("the body leaks: %s", out)
	}
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestSize: the limit is EventBridge's on the whole entry, source and detail-type
// included: one byte under passes, at the limit is 413, before any secret is read.
func TestSize(t *testing.T) {
	r := routeOf(t, "sentinel-alert")
	room := webhook.MaxEntrySize - len(sources.WebhookSource) - len(r.Source.DetailType)
	padded := func(n int) []byte {
		b := []byte(`{"SystemAlertId":"1","pad":"`)
		b = append(b, bytes.Repeat([]byte("x"), n-len(b)-2)...)
		return append(b, `"}`...)
	}
	bus := &recordingBus{}
	ep := newEndpoint(t, bus, keyring(t, webhooktest.Secret()), nil)
	if resp := ep.Serve(context.Background(), webhooktest.Request(r, padded(room-1), sentAt())); resp.Status != 200 {
		t.Errorf("one byte under the limit: %d %s", resp.Status, resp.Body)
	}
	if e := bus.entries[0]; e.Size() != webhook.MaxEntrySize-1 || e.TooLarge() {
		t.Errorf("size %d", e.Size())
	}
	failing := staticKeyring{err: errors.New("must not be read")}
	for _, n := range []int{room, room + 1, 2 << 20} {
		resp := newEndpoint(t, bus, failing, nil).Serve(context.Background(), webhooktest.Request(r, padded(n), sentAt()))
		if resp.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%d bytes: %d %s", n, resp.Status, resp.Body)
		}
	}
}

// TestBusFailures: EventBridge not accepting the entry is never a 2xx.
func TestBusFailures(t *testing.T) {
	r := routeOf(t, "elastic")
	for _, c := range []struct {
		err    error
		status int
	}{
		{&webhook.PutError{Code: "ThrottlingException", Temporary: true}, 503},
		{&webhook.PutError{Code: "MalformedDetail"}, 500},
		{&webhook.PutError{Code: "ResourceNotFoundException"}, 500},
		{errors.New("something else"), 503},
	} {
		var logs bytes.Buffer
		resp := newEndpoint(t, &recordingBus{err: c.err}, keyring(t, webhooktest.Secret()), &logs).Serve(context.Background(), webhooktest.Request(r, body(t, r), sentAt()))
		if resp.Status != c.status {
			t.Errorf("%v: status %d, want %d", c.err, resp.Status, c.status)
		}
		if !strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("%v: not logged as an error: %s", c.err, logs.String())
		}
		if c.status == 503 && resp.Headers["retry-after"] == "" {
			t.Errorf("%v: no Retry-After", c.err)
		}
	}
}

func TestSecretProblems(t *testing.T) {
	r := routeOf(t, "sumologic")
	req := webhooktest.Request(r, body(t, r), sentAt())
	for _, c := range []struct {
		name   string
		kr     staticKeyring
		status int
	}{
		{"Secrets Manager unreachable", staticKeyring{err: errors.New("reading secret session-revoker/webhook: Secrets Manager unreachable")}, 503},
		{"source not in the secret", keyring(t, `{"splunk": "`+webhooktest.SplunkToken+`"}`), 404},
		{"key too short", keyring(t, `{"sumologic": "short"}`), 500},
		{"key not a string", keyring(t, `{"sumologic": 42}`), 500},
		{"key with a space", keyring(t, `{"sumologic": "`+strings.Repeat("a", 20)+" "+strings.Repeat("b", 20)+`"}`), 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			resp := newEndpoint(t, &recordingBus{}, c.kr, &logs).Serve(context.Background(), req)
			if resp.Status != c.status {
				t.Errorf("status %d %s, want %d", resp.Status, resp.Body, c.status)
			}
			noLeak(t, req, resp, logs.String())
		})
	}
}

func TestParseKeys(t *testing.T) {
	if _, _, err := webhook.ParseKeys(`["` + webhooktest.BearerToken + `"]`); err == nil || strings.Contains(err.Error(), webhooktest.BearerToken) {
		t.Errorf("a list is not a secret: %v", err)
	}
	if _, _, err := webhook.ParseKeys("not json " + webhooktest.BearerToken); err == nil || strings.Contains(err.Error(), webhooktest.BearerToken) {
		t.Errorf("not JSON: %v", err)
	}
	k, unknown, err := webhook.ParseKeys(`{"splnk": "` + webhooktest.SplunkToken + `", "elastic": ["` + webhooktest.BearerToken + `", "tiny"], "splunk": "` + webhooktest.SplunkToken + `/x"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 1 || unknown[0] != "splnk" {
		t.Errorf("unknown %v", unknown)
	}
	problems := k.KeyProblems()
	if !strings.Contains(problems["elastic"], "key 2 of 2 is 4 characters") || !strings.Contains(problems["splunk"], "URL path") {
		t.Errorf("problems %v", problems)
	}
	for _, p := range problems {
		if strings.Contains(p, "tiny") || strings.Contains(p, webhooktest.SplunkToken) {
			t.Errorf("a problem shows a key: %s", p)
		}
	}
	if len(k.Enabled()) != 0 {
		t.Errorf("enabled %v", k.Enabled())
	}
}

// TestConstantTime: every decision compares fixed-length digests through the one
// constant-time function, and compares every key whatever matched before: a wrong token
// differing in its first or its last character costs the same calls.
func TestConstantTime(t *testing.T) {
	type call struct{ x, y int }
	var calls []call
	restore := webhook.SetConstantTimeEqual(func(x, y []byte) int {
		calls = append(calls, call{len(x), len(y)})
		if bytes.Equal(x, y) { // the test's own bookkeeping, not the endpoint's
			return 1
		}
		return 0
	})
	defer restore()
	elastic, splunk, cs := routeOf(t, "elastic"), routeOf(t, "splunk"), routeOf(t, "crowdstrike")
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 1
		return string(b)
	}
	for _, c := range []struct {
		name  string
		req   func(token string) webhook.Request
		token string
		keys  int
	}{
		{"bearer", func(tok string) webhook.Request {
			return with(webhooktest.Request(elastic, body(t, elastic), sentAt()), func(r *webhook.Request) { r.Headers["authorization"] = "Bearer " + tok })
		}, webhooktest.BearerToken, 2},
		{"path token", func(tok string) webhook.Request {
			return with(webhooktest.Request(splunk, body(t, splunk), sentAt()), func(r *webhook.Request) { r.Path = "/splunk/" + tok })
		}, webhooktest.SplunkToken, 1},
		{"crowdstrike signature", func(sig string) webhook.Request {
			return with(webhooktest.Request(cs, body(t, cs), sentAt()), func(r *webhook.Request) { r.Headers["x-cs-primary-signature"] = sig })
		}, webhooktest.SignCrowdStrike(webhooktest.CrowdStrikeKey, body(t, cs), sentAt().UTC().Format(time.RFC3339)), 1},
	} {
		// A CrowdStrike signature is checked against each key in both orders (auth.go).
		if c.name == "crowdstrike signature" {
			c.keys *= 2
		}
		t.Run(c.name, func(t *testing.T) {
			counts := map[string]int{}
			for label, tok := range map[string]string{"right": c.token, "first wrong": flip(c.token, 0), "last wrong": flip(c.token, len(c.token)-3)} {
				calls = nil
				newEndpoint(t, &recordingBus{}, keyring(t, webhooktest.Secret()), nil).Serve(context.Background(), c.req(tok))
				counts[label] = len(calls)
				for _, cl := range calls {
					if cl.x != 32 || cl.y != 32 {
						t.Errorf("%s: compared %d and %d bytes, not two digests", label, cl.x, cl.y)
					}
				}
			}
			if counts["right"] != c.keys || counts["first wrong"] != c.keys || counts["last wrong"] != c.keys {
				t.Errorf("calls %v, want %d each (one per key, for CrowdStrike per key and order)", counts, c.keys)
			}
		})
	}
}

// TestReplay: an accepted CrowdStrike delivery sent again is refused within the window;
// the same delivery retried after a 5xx goes through, so the sender's retry is not lost.
func TestReplay(t *testing.T) {
	cs := routeOf(t, "crowdstrike")
	req := webhooktest.Request(cs, body(t, cs), sentAt())
	bus := &recordingBus{err: &webhook.PutError{Code: "ThrottlingException", Temporary: true}}
	var logs bytes.Buffer
	ep := newEndpoint(t, bus, keyring(t, webhooktest.Secret()), &logs)
	if resp := ep.Serve(context.Background(), req); resp.Status != 503 {
		t.Fatalf("outage: %d", resp.Status)
	}
	bus.err = nil
	if resp := ep.Serve(context.Background(), req); resp.Status != 200 {
		t.Fatalf("retry after the outage: %d %s", resp.Status, logs.String())
	}
	if resp := ep.Serve(context.Background(), req); resp.Status != 401 {
		t.Fatalf("replay: %d", resp.Status)
	}
	if bus.count() != 1 || !strings.Contains(logs.String(), "replayed") {
		t.Errorf("%d entries; log %s", bus.count(), logs.String())
	}
	// A new delivery of the same alert, signed at another time, is not a replay.
	if resp := ep.Serve(context.Background(), webhooktest.Request(cs, body(t, cs), sentAt().Add(-time.Second))); resp.Status != 200 {
		t.Errorf("fresh delivery: %d", resp.Status)
	}
}

func TestTimestamps(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-11-23T05:47:29Z":          clock.Add(-2 * time.Second),
		"2026-11-23T05:47:29.250+00:00": clock.Add(-1750 * time.Millisecond),
		"1795412849":                    time.Unix(1795412849, 0),
		"1795412849250":                 time.UnixMilli(1795412849250),
	} {
		got, ok := webhook.ParseTimestamp(in)
		if !ok || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-1795412849", "17954128492500", "2026-11-23 05:47:29"} {
		if _, ok := webhook.ParseTimestamp(in); ok {
			t.Errorf("%q parsed", in)
		}
	}
}
