package webhookaws

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/webhook"
)

// FunctionURLHandler is the Lambda handler of the function URL. It never returns an
// error: Lambda would answer a bare 502, where the endpoint has a status to give.
func FunctionURLHandler(ep *webhook.Endpoint) func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	return func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		// A body that does not decode is served as no body: refused as not JSON (or
		// unauthenticated), and logged like any other request.
		req, _ := Request(ctx, ev)
		resp := ep.Serve(ctx, req)
		if req.RequestID != "" {
			resp.Headers["x-request-id"] = req.RequestID
		}
		return events.LambdaFunctionURLResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: resp.Body}, nil
	}
}

// Request turns a function URL event into the endpoint's request; ok is false when a
// base64 body does not decode (the request then has none). A function URL hands
// a body it does not take for text base64-encoded; the signature covers the decoded bytes.
func Request(ctx context.Context, ev events.LambdaFunctionURLRequest) (webhook.Request, bool) {
	body, ok := []byte(ev.Body), true
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		body, ok = b, err == nil
		if !ok {
			body = nil
		}
	}
	headers := make(map[string]string, len(ev.Headers))
	for k, v := range ev.Headers {
		headers[strings.ToLower(k)] = v
	}
	req := webhook.Request{
		Method:   ev.RequestContext.HTTP.Method,
		Path:     ev.RawPath,
		Headers:  headers,
		Body:     body,
		SourceIP: ev.RequestContext.HTTP.SourceIP,
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		req.RequestID = lc.AwsRequestID
	} else {
		req.RequestID = ev.RequestContext.RequestID
	}
	return req, ok
}
