package graph

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/session-revoker/session-revoker/internal/revoke"
)

// classify turns whatever the SDK returned into a revoke.Error the caller can act on.
func classify(err error, call revoke.Call) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// Also while getting a token: azcore's own retries of the token endpoint ran out
		// of the call's time. Nothing was refused.
		return &revoke.Error{Kind: revoke.Unavailable, Message: "no response from Graph or Entra: " + netMessage(err), Call: call}
	}
	var assertion *assertionError
	if errors.As(err, &assertion) {
		kind := revoke.Credential
		var netErr net.Error
		if errors.As(err, &netErr) || strings.Contains(err.Error(), "throttled") {
			kind = revoke.Unavailable
		}
		return &revoke.Error{Kind: kind, Code: "STS", Message: assertion.Error(), Call: call}
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		return tokenError(authErr, call)
	}
	var apiErr abs.ApiErrorable
	if errors.As(err, &apiErr) {
		e := &revoke.Error{Status: apiErr.GetStatusCode(), Call: call, Message: "no error body"}
		var odata *odataerrors.ODataError
		if errors.As(err, &odata) && odata.GetErrorEscaped() != nil {
			e.Code = deref(odata.GetErrorEscaped().GetCode())
			e.Message = deref(odata.GetErrorEscaped().GetMessage())
		}
		if h := apiErr.GetResponseHeaders(); h != nil {
			e.RetryAfter = RetryAfter(first(h.Get("retry-after")), time.Now())
			e.Limit = limitOf(first(h.Get("x-ms-throttle-limit-percentage")))
			if call.RequestID == "" {
				e.RequestID = first(h.Get("request-id"))
			}
		}
		e.Kind = kindOf(e.Status)
		return e
	}
	var credUnavailable interface{ NonRetriable() }
	if errors.As(err, &credUnavailable) {
		return &revoke.Error{Kind: revoke.Credential, Message: "credential unavailable", Call: call}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return &revoke.Error{Kind: revoke.Unavailable, Message: "no response from Graph: " + netMessage(err), Call: call}
	}
	return &revoke.Error{Kind: revoke.Other, Message: err.Error(), Call: call}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func kindOf(status int) revoke.Kind {
	switch {
	case status == http.StatusNotFound:
		return revoke.NotFound
	case status == http.StatusForbidden:
		return revoke.Denied
	case status == http.StatusUnauthorized:
		return revoke.Credential
	case status == http.StatusTooManyRequests:
		return revoke.Throttled
	case status == http.StatusBadRequest:
		return revoke.BadRequest
	case status >= 500:
		return revoke.Unavailable
	}
	return revoke.Other
}

var aadsts = regexp.MustCompile(`AADSTS\d+`)

// tokenError reports a refused token request by its AADSTS code and status. The raw
// response body is not repeated: the code is what an operator searches for.
func tokenError(err *azidentity.AuthenticationFailedError, call revoke.Call) error {
	e := &revoke.Error{Kind: revoke.Credential, Call: call, Message: "Entra refused the token request"}
	if err.RawResponse == nil {
		// No answer at all (azcore already retried): the endpoint is unreachable, not refusing.
		e.Kind, e.Message = revoke.Unavailable, "no answer from the token endpoint"
		return e
	}
	{
		e.Status = err.RawResponse.StatusCode
		if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
			e.Kind = revoke.Unavailable
			e.RetryAfter = RetryAfter(err.RawResponse.Header.Get("Retry-After"), time.Now())
		}
	}
	msg := err.Error()
	e.Code = aadsts.FindString(msg)
	switch e.Code {
	case "AADSTS7000215", "AADSTS7000222":
		e.Message = "invalid or expired client secret"
	case "AADSTS700016":
		e.Message = "no application with this clientId in the tenant"
	case "AADSTS90002":
		e.Message = "no such tenant"
	}
	return e
}

func netMessage(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Op + ": " + opErr.Err.Error()
	}
	return "connection closed"
}

// RetryAfter reads a Retry-After value: seconds, possibly fractional ("0.5", which the
// SDK's own handler truncates to zero), or an HTTP date. Unreadable or past values give 0,
// which means "use backoff"; values beyond a day are a day.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case secs <= 0 || secs != secs:
			return 0
		case secs > 24*3600:
			// Longer than anything worth waiting for, but still a demand to wait: the
			// caller defers instead of retrying at once.
			return 24 * time.Hour
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
