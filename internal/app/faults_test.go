package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// TestFaults injects each fault the function must survive into the emulator and runs a
// two-user alert through the handler: the faulted user's outcome and attempt count (the
// lookup that resolves the UPN to its object id is the first), and that the other user is
// handled whatever happens. The README's fault table is this test.
func TestFaults(t *testing.T) {
	const victim, bystander = "AlexW@contoso.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com"
	cases := []struct {
		name     string
		fault    func() graphemu.Fault
		deadline time.Duration
		status   outcome.Status
		attempts int
		minWait  time.Duration // Retry-After honoured: at least this long
		maxWait  time.Duration // and not much longer (0: no bound)
		tokens   int           // token requests expected (0: don't check)
	}{
		{name: "429 Retry-After: 1", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 429, RetryAfter: "1"}
		}, status: outcome.Revoked, attempts: 3, minWait: time.Second, maxWait: 1800 * time.Millisecond},
		{name: "429 Retry-After: 0.5 (the SDK would wait 0)", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 429, RetryAfter: "0.5"}
		}, status: outcome.Revoked, attempts: 3, minWait: 500 * time.Millisecond, maxWait: 900 * time.Millisecond},
		{name: "429 Retry-After: HTTP date", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 429, RetryAfter: time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)}
		}, status: outcome.Revoked, attempts: 3, minWait: 900 * time.Millisecond, maxWait: 2500 * time.Millisecond},
		{name: "429 twice, no Retry-After: backoff", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 429, Times: 2}
		}, status: outcome.Revoked, attempts: 4},
		{name: "503 twice", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 503, Times: 2}
		}, status: outcome.Revoked, attempts: 4},
		{name: "504", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 504}
		}, status: outcome.Revoked, attempts: 3},
		{name: "connection reset", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Reset: true}
		}, status: outcome.Revoked, attempts: 3},
		{name: "no response (per-call timeout)", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Delay: 20 * time.Second}
		}, status: outcome.Revoked, attempts: 3},
		{name: "503 on every attempt", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 503, Times: -1}
		}, status: outcome.Failed, attempts: 5},
		{name: "429 Retry-After past the deadline", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 429, RetryAfter: "30"}
		}, deadline: 8 * time.Second, status: outcome.Deferred, attempts: 2},
		{name: "403 Authorization_RequestDenied", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchRevoke, UserKey: victim, Status: 403}
		}, status: outcome.Failed, attempts: 2},
		{name: "token endpoint 503 twice", fault: func() graphemu.Fault {
			return graphemu.Fault{Match: graphemu.MatchToken, Status: 503, Times: 2}
		}, status: outcome.Revoked, attempts: 2, tokens: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := newContainer(t, nil, nil)
			ct.handler.Options.BaseDelay = 50 * time.Millisecond
			if c.fault().Match == graphemu.MatchRevoke {
				// Short enough to test the no-response case quickly; the token endpoint
				// keeps the default, which leaves room for azcore's own retries.
				ct.handler.Options.CallTimeout = 500 * time.Millisecond
			}
			ct.emu.Inject(c.fault())
			deadline := c.deadline
			if deadline == 0 {
				deadline = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-faults"})
			start := time.Now()
			raw, err := ct.handler.Handle(ctx, []byte(`{"users": ["`+victim+`", "`+bystander+`"]}`))
			elapsed := time.Since(start)
			res, ok := raw.(*outcome.Result)
			if !ok || len(res.Targets) != 2 {
				t.Fatalf("result %#v, err %v: a user was lost", raw, err)
			}
			v, b := res.Targets[0], res.Targets[1]
			if v.Status != c.status || v.Attempts != c.attempts {
				t.Errorf("victim: %s after %d attempts (%s), want %s after %d", v.Status, v.Attempts, v.Reason, c.status, c.attempts)
			}
			if b.Status != outcome.Revoked {
				t.Errorf("bystander: %s (%s)", b.Status, b.Reason)
			}
			if c.status.Unhandled() != (err != nil) {
				t.Errorf("invocation error %v for a %s user", err, c.status)
			}
			if elapsed < c.minWait || (c.maxWait > 0 && elapsed > c.maxWait) {
				t.Errorf("took %v, want between %v and %v", elapsed, c.minWait, c.maxWait)
			}
			if c.tokens > 0 && ct.emu.TokenRequests() != c.tokens {
				t.Errorf("%d tokens", ct.emu.TokenRequests())
			}
			if c.status == outcome.Deferred && elapsed > deadline {
				t.Errorf("ran past the deadline: %v", elapsed)
			}
			t.Logf("| %s | %d | %s | %s |", c.name, v.Attempts, v.Status, strings.ReplaceAll(v.Reason, "|", "/"))
		})
	}
}
