package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/session-revoker/session-revoker/internal/webhook"
	"github.com/session-revoker/session-revoker/internal/webhook/webhooktest"
)

// FuzzServe: whatever arrives (path, method, credentials, body), the endpoint answers one
// of its statuses with a JSON body that holds no key, puts an entry on the bus exactly
// when it answers 200, and answers 200 only for a request an independent check of the
// product's authentication accepts, carrying a body EventBridge takes.
func FuzzServe(f *testing.F) {
	for _, name := range []string{"sentinel-alert", "splunk", "crowdstrike", "request"} {
		r := routeOf(f, name)
		req := webhooktest.Request(r, body(f, r), sentAt())
		f.Add(req.Method, req.Path, req.Headers["authorization"], req.Headers["x-cs-primary-signature"], req.Headers["x-cs-delivery-timestamp"], req.Body)
	}
	f.Add("POST", "//splunk/"+webhooktest.SplunkToken+"/", "", "", "", []byte(`{"sid":"1","search_name":"x","result":{"user":"a@b.c"}}`))
	f.Add("POST", "/elastic", "Bearer "+webhooktest.NextToken, "", "", []byte(`{"a":[1,2,{"b":null}]}`))
	f.Add("PUT", "/../elastic", "bearer", "", "1795412849", []byte(`{}`))
	keys := keyring(f, webhooktest.Secret())
	f.Fuzz(func(t *testing.T, method, path, authorization, signature, timestamp string, b []byte) {
		bus := &recordingBus{}
		req := webhook.Request{Method: method, Path: path, Body: b, Headers: map[string]string{
			"authorization": authorization, "x-cs-primary-signature": signature, "x-cs-delivery-timestamp": timestamp,
		}}
		resp := newEndpoint(t, bus, keys, nil).Serve(context.Background(), req)
		switch resp.Status {
		case 200, 400, 401, 404, 405, 413:
		default:
			t.Fatalf("status %d with a healthy bus and secret", resp.Status)
		}
		if !json.Valid([]byte(resp.Body)) {
			t.Fatalf("answer is not JSON: %q", resp.Body)
		}
		for _, k := range []string{webhooktest.SplunkToken, webhooktest.BearerToken, webhooktest.NextToken, webhooktest.CrowdStrikeKey} {
			if strings.Contains(resp.Body, k) {
				t.Fatal("the answer holds a key")
			}
		}
		if resp.Status != 200 {
			if bus.count() != 0 {
				t.Fatalf("status %d but the bus got the entry", resp.Status)
			}
			return
		}
		if bus.count() != 1 || !bytes.Equal(bus.entries[0].Detail, b) || bus.entries[0].TooLarge() || webhook.DetailProblem(b) != "" {
			t.Fatalf("200 with %d entries, or a detail EventBridge would refuse", bus.count())
		}
		name, rest, _ := strings.Cut(strings.TrimLeft(path, "/"), "/")
		r := routeOf(t, name)
		if bus.entries[0].DetailType != r.Source.DetailType {
			t.Fatalf("detail-type %s for %s", bus.entries[0].DetailType, name)
		}
		switch r.Scheme {
		case webhook.Bearer:
			tok := strings.TrimSpace(authorization)
			if !strings.HasSuffix(tok, webhooktest.BearerToken) && !(name == "elastic" && strings.HasSuffix(tok, webhooktest.NextToken)) {
				t.Fatalf("200 for %s without its token", name)
			}
		case webhook.PathToken:
			if strings.TrimSuffix(rest, "/") != webhooktest.SplunkToken {
				t.Fatal("200 for splunk without its token")
			}
		case webhook.CrowdStrikeSignature:
			if strings.TrimSpace(signature) != webhooktest.SignCrowdStrike(webhooktest.CrowdStrikeKey, b, timestamp) {
				t.Fatal("200 for crowdstrike without its signature")
			}
			at, ok := webhook.ParseTimestamp(timestamp)
			if d := clock.Sub(at); !ok || d > webhook.ReplayWindow || d < -webhook.ReplayWindow {
				t.Fatal("200 for crowdstrike outside the replay window")
			}
		}
	})
}

// FuzzDetail holds the body check to encoding/json: a body it passes is one JSON object
// of UTF-8 text, and one it refuses as not an object is not.
func FuzzDetail(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` {"a":[{"b":"\u00e9"}]} `, `[1]`, `{"a":9223372036854775807}`, `{"a":-9223372036854775809}`, `{"a":1e400}`, "{\"a\":\"\xff\"}", `{"a":"\"}"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := webhook.DetailProblem(b)
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		object := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
		switch {
		case p == "":
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if !object || !utf8.Valid(b) || dec.Decode(&m) != nil {
				t.Fatalf("passed %q", b)
			}
		case p == "the body must be a JSON object":
			if object {
				t.Fatalf("refused the object %q as not one", b)
			}
		case !object:
			t.Fatalf("%q is not an object but was refused for %q", b, p)
		}
	})
}
