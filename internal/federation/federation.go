// Package federation gets the function's own AWS identity as a signed JWT from STS
// (GetWebIdentityToken, IAM outbound identity federation), for Entra ID to accept as a client
// assertion through a federated identity credential on the app registration: no client secret
// or certificate exists anywhere.
//
// It must never put a token, or any part of it, in an error or a log line.
package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// What the function asks STS for. Entra's federated identity credentials expect the audience
// api://AzureADTokenExchange; the token only has to live until Entra has exchanged it.
const (
	Audience         = "api://AzureADTokenExchange"
	SigningAlgorithm = "RS256"
	Lifetime         = 300 * time.Second
)

// refreshBefore is how long before its expiry a cached token is replaced, so that a token
// handed out still has time to reach Entra and be checked there.
const refreshBefore = 60 * time.Second

// STS is the one call this package makes; *sts.Client implements it.
type STS interface {
	GetWebIdentityToken(ctx context.Context, in *sts.GetWebIdentityTokenInput, optFns ...func(*sts.Options)) (*sts.GetWebIdentityTokenOutput, error)
}

// Source hands out the function's web identity token, calling STS only when the cached one
// is about to expire. It is safe for concurrent use; build one per container.
type Source struct {
	sts STS
	now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New builds a Source over an STS client. The client must use a regional endpoint (the
// default of aws-sdk-go-v2 with AWS_REGION set, as in Lambda): the STS global endpoint does
// not serve GetWebIdentityToken.
func New(client STS) *Source { return &Source{sts: client, now: time.Now} }

// Token returns a web identity token for Audience, valid for at least a minute more. Its
// signature fits azidentity.NewClientAssertionCredential's callback.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Before(s.expires.Add(-refreshBefore)) {
		return s.token, nil
	}
	out, err := s.sts.GetWebIdentityToken(ctx, &sts.GetWebIdentityTokenInput{
		Audience:         []string{Audience},
		SigningAlgorithm: ptr(SigningAlgorithm),
		DurationSeconds:  ptr(int32(Lifetime / time.Second)),
	})
	if err != nil {
		return "", describe(err)
	}
	if out.WebIdentityToken == nil || *out.WebIdentityToken == "" {
		return "", errors.New("STS GetWebIdentityToken answered without a token")
	}
	s.token = *out.WebIdentityToken
	s.expires = now.Add(Lifetime)
	if out.Expiration != nil {
		s.expires = *out.Expiration
	}
	return s.token, nil
}

func ptr[T any](v T) *T { return &v }

// setup is the one-time work an operator does. Messages put the fix before AWS's own text:
// the audit trail keeps only the first 300 characters of a failure.
const setup = "allow sts:GetWebIdentityToken to the function's role (condition sts:IdentityTokenAudience = " + Audience +
	") and enable outbound identity federation once: aws iam enable-outbound-web-identity-federation"

// describe names the STS failure and its fix, keeping the API's code and any wrapped network
// error (errors.As still finds a net.Error for a timeout or a reset).
func describe(err error) error {
	var disabled *types.OutboundWebIdentityFederationDisabledException
	if errors.As(err, &disabled) {
		return fmt.Errorf("STS GetWebIdentityToken: %s: enable outbound identity federation once: aws iam enable-outbound-web-identity-federation (or IAM console, Account settings); the issuer URL it prints goes in the Entra app's federated identity credential", disabled.ErrorCode())
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case code == "AccessDenied" || code == "AccessDeniedException":
			return fmt.Errorf("STS GetWebIdentityToken: %s: %s (AWS: %s)", code, setup, api.ErrorMessage())
		case code == "InvalidAction" || code == "UnknownOperationException":
			return fmt.Errorf("STS GetWebIdentityToken: %s: this endpoint does not serve the call (the STS global endpoint does not): set AWS_REGION and use the regional STS endpoint", code)
		case code == "ExpiredToken" || code == "ExpiredTokenException" || code == "InvalidClientTokenId":
			return fmt.Errorf("STS GetWebIdentityToken: %s: the function's own AWS credentials were refused", code)
		case strings.Contains(code, "Throttl"):
			return fmt.Errorf("STS GetWebIdentityToken throttled (%s): retry later", code)
		default:
			return fmt.Errorf("STS GetWebIdentityToken: %s: %s", code, api.ErrorMessage())
		}
	}
	return fmt.Errorf("STS GetWebIdentityToken: %w", err)
}
