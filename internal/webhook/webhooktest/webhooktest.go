// Package webhooktest makes requests as each product sends them to the webhook endpoint,
// for tests and local runs: the alert a product posts (its fixture in events/), and the
// product's authentication of it, computed here independently of the endpoint's own
// verification. It is never imported by the endpoint.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/session-revoker/session-revoker/internal/sources"
	"github.com/session-revoker/session-revoker/internal/webhook"
)

// Keys of 64 hex characters, as `openssl rand -hex 32` makes them, and a CrowdStrike HMAC
// secret key as an operator types one into the Falcon console.
const (
	SplunkToken    = "5f0c2a9e81d34b7a9c6e0f1d2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
	BearerToken    = "c1d2e3f4a5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	NextToken      = "0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e9f"
	CrowdStrikeKey = "Zk3p9Qx2Lm8Vt4Rb7Nc1Hd6Jw0Ys5Ga2Ue9Io3Pq"
)

// Secret is a webhook secret enabling every route; Elastic's member is mid-rotation
// (BearerToken and NextToken both valid).
func Secret() string {
	m := map[string]any{}
	for _, r := range webhook.Routes() {
		switch {
		case r.Scheme == webhook.PathToken:
			m[r.Source.Name] = SplunkToken
		case r.Scheme == webhook.CrowdStrikeSignature:
			m[r.Source.Name] = CrowdStrikeKey
		case r.Source.Name == "elastic":
			m[r.Source.Name] = []string{BearerToken, NextToken}
		default:
			m[r.Source.Name] = BearerToken
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Request is body posted to r as r's product posts it, signed at at (CrowdStrike).
func Request(r webhook.Route, body []byte, at time.Time) webhook.Request {
	req := webhook.Request{
		Method:    "POST",
		Path:      r.Path(),
		Headers:   map[string]string{"content-type": "application/json", "user-agent": "webhooktest"},
		Body:      body,
		RequestID: "b7c1e0d2-5a4f-4c3e-9d8b-7a6f5e4d3c2b",
		SourceIP:  "198.51.100.7",
	}
	switch r.Scheme {
	case webhook.Bearer:
		req.Headers["authorization"] = "Bearer " + BearerToken
	case webhook.PathToken:
		req.Path += "/" + SplunkToken
	case webhook.CrowdStrikeSignature:
		ts := at.UTC().Format(time.RFC3339)
		req.Headers["x-cs-delivery-timestamp"] = ts
		req.Headers["x-cs-signature-algorithm"] = "hmac-sha256"
		req.Headers["x-cs-primary-signature"] = SignCrowdStrike(CrowdStrikeKey, body, ts)
	}
	return req
}

// FunctionURLEvent is req as a Lambda function URL hands it to the function (payload
// format 2.0, lower-case header names, a text body as is): what the handler gets in
// Lambda, and what a test posts to the Runtime Interface Emulator's invoke API.
func FunctionURLEvent(req webhook.Request) events.LambdaFunctionURLRequest {
	h := map[string]string{}
	for k, v := range req.Headers {
		h[strings.ToLower(k)] = v
	}
	return events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: req.Path, Headers: h, Body: string(req.Body),
		RequestContext: events.LambdaFunctionURLRequestContext{
			RequestID: "0f1e2d3c-4b5a-4968-8776-655443322110", DomainName: "abcdefghij.lambda-url.us-east-1.on.aws", DomainPrefix: "abcdefghij",
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: req.Method, Path: req.Path, Protocol: "HTTP/1.1", SourceIP: req.SourceIP, UserAgent: h["user-agent"]},
		},
	}
}

// SignCrowdStrike is the X-Cs-Primary-Signature CrowdStrike's webhook integration sends:
// base64 of HMAC-SHA256 over the body followed by the X-Cs-Delivery-Timestamp value.
func SignCrowdStrike(key string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(append(append([]byte{}, body...), timestamp...))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Body is the alert source's product posts: its fixture in events/ (events/<name>.json,
// else the fixture of its first format), the detail when the fixture is an EventBridge
// event.
func Body(source sources.Source) ([]byte, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	stems := []string{source.Name}
	stems = append(stems, source.Formats...)
	if source.DetailType == sources.RequestDetailType {
		stems = append(stems, "direct-user-id")
	}
	for _, stem := range stems {
		b, err := os.ReadFile(filepath.Join(root, "events", stem+".json"))
		if err != nil {
			continue
		}
		var event struct {
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(b, &event) == nil && event.DetailType != "" && len(event.Detail) > 0 {
			return event.Detail, nil
		}
		return b, nil
	}
	return nil, fmt.Errorf("no fixture for source %s in events/ (tried %s)", source.Name, strings.Join(stems, ", "))
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 10 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		dir = filepath.Dir(dir)
	}
	return "", fmt.Errorf("no go.mod above the working directory")
}
