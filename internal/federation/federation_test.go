package federation

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/golang-jwt/jwt/v5"

	"github.com/session-revoker/session-revoker/internal/federation/ststest"
)

// client is the real aws-sdk-go-v2 STS client pointed at the fake, signing with test keys.
func client(url string, attempts int) *sts.Client {
	return sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "test-session"),
		RetryMaxAttempts: attempts,
	})
}

func start(t *testing.T) (*ststest.Server, *Source) {
	t.Helper()
	srv := ststest.NewServer()
	t.Cleanup(srv.Close)
	return srv, New(client(srv.URL, 1))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestToken(t *testing.T) {
	srv, src := start(t)
	tok, err := src.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if strings.Join(c.Audience, ",") != Audience || c.SigningAlgorithm != "RS256" || c.DurationSeconds != 300 || c.Region != "us-east-1" || c.Status != 200 {
		t.Errorf("request as STS read it: %+v", c)
	}
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, claims)
	if err != nil {
		t.Fatalf("not a JWT: %v", err)
	}
	if parsed.Header["alg"] != "RS256" || claims["iss"] != srv.Issuer || claims["sub"] != srv.Subject || claims["aud"] != Audience {
		t.Errorf("token header %v claims %v", parsed.Header, claims)
	}
	exp, _ := claims.GetExpirationTime()
	if d := time.Until(exp.Time); d < 290*time.Second || d > 301*time.Second {
		t.Errorf("token lives %v, want 300 s", d)
	}
}

func TestTokenIsCachedUntilShortlyBeforeExpiry(t *testing.T) {
	srv, src := start(t)
	clock := time.Now()
	src.now = func() time.Time { return clock }
	first, err := src.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(230 * time.Second) // 70 s left: still served from the cache
	if again, err := src.Token(ctx(t)); err != nil || again != first {
		t.Fatalf("second token: %v (same: %v)", err, again == first)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d STS calls for two tokens within the lifetime", n)
	}
	clock = clock.Add(15 * time.Second) // 55 s left: too little to hand out
	if _, err := src.Token(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls()); n != 2 {
		t.Errorf("%d STS calls, want a refresh 60 s before expiry", n)
	}
}

func TestConcurrentCallersShareOneCall(t *testing.T) {
	srv, src := start(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := src.Token(ctx(t)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d STS calls for 8 concurrent callers", n)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name    string
		failure ststest.Failure
		want    []string
	}{
		{"access denied", ststest.AccessDenied, []string{"AccessDenied", "sts:GetWebIdentityToken", "sts:IdentityTokenAudience = api://AzureADTokenExchange", "aws iam enable-outbound-web-identity-federation"}},
		{"federation disabled", ststest.FederationDisabled, []string{"OutboundWebIdentityFederationDisabledException", "aws iam enable-outbound-web-identity-federation", "federated identity credential"}},
		{"global endpoint", ststest.Failure{Status: 400, Code: "InvalidAction", Message: "Could not find operation GetWebIdentityToken"}, []string{"InvalidAction", "AWS_REGION", "regional"}},
		{"throttled", ststest.Throttling, []string{"throttled (Throttling)"}},
		{"other", ststest.Failure{Status: 400, Code: "JWTPayloadSizeExceededException", Message: "payload too large"}, []string{"JWTPayloadSizeExceededException: payload too large"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, src := start(t)
			srv.Fail(c.failure)
			_, err := src.Token(ctx(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// The audit trail keeps 300 characters of a failure ("Graph call failed: " and
			// all): the fix must come first.
			const cmd = "aws iam enable-outbound-web-identity-federation"
			if i := strings.Index(err.Error(), cmd); i+len(cmd) > 270 {
				t.Errorf("the setup command ends at character %d: %q", i+len(cmd), err)
			}
			// A failure is not cached: the next call goes to STS again.
			if tok, err := src.Token(ctx(t)); err != nil || tok == "" {
				t.Errorf("after the failure: %v", err)
			}
		})
	}
}

func TestNetworkErrorStaysANetError(t *testing.T) {
	srv := ststest.NewServer()
	url := srv.URL
	srv.Close()
	_, err := New(client(url, 1)).Token(ctx(t))
	var netErr net.Error
	if err == nil || !errors.As(err, &netErr) {
		t.Fatalf("error %v (%T) does not wrap a net.Error", err, err)
	}
}

// fakeSTS stands in for the client where the server cannot produce the answer.
type fakeSTS struct {
	out *sts.GetWebIdentityTokenOutput
}

func (f fakeSTS) GetWebIdentityToken(context.Context, *sts.GetWebIdentityTokenInput, ...func(*sts.Options)) (*sts.GetWebIdentityTokenOutput, error) {
	return f.out, nil
}

func TestAnswerShapes(t *testing.T) {
	src := New(fakeSTS{&sts.GetWebIdentityTokenOutput{WebIdentityToken: aws.String("a.b.c")}})
	clock := time.Now()
	src.now = func() time.Time { return clock }
	if _, err := src.Token(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if !src.expires.Equal(clock.Add(Lifetime)) {
		t.Errorf("without Expiration the token is kept until %v, want now+%v", src.expires, Lifetime)
	}
	if _, err := New(fakeSTS{&sts.GetWebIdentityTokenOutput{}}).Token(ctx(t)); err == nil || !strings.Contains(err.Error(), "without a token") {
		t.Errorf("empty answer: %v", err)
	}
}
