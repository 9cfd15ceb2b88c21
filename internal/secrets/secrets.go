// Package secrets loads the Graph app's credentials from AWS Secrets Manager, through the
// AWS caching library so that a warm container does not call Secrets Manager again.
//
// It must never put a secret's value, or any part of it, in an error or a log line.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"
	"github.com/aws/smithy-go"
)

// Credentials are a Graph app registration's client-secret credentials.
type Credentials struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// String never shows the secret, so a stray %v cannot leak it.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{tenantId: %s, clientId: %s, clientSecret: [redacted]}", c.TenantID, c.ClientID)
}

// GoString is String for %#v.
func (c Credentials) GoString() string { return c.String() }

// Parse reads the secret's JSON, naming any missing or mistyped field but never a value.
func Parse(raw string) (Credentials, error) {
	var c Credentials
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&c); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Credentials{}, fmt.Errorf("secret JSON: field %q must be a string", typeErr.Field)
		}
		// The decoder's syntax errors quote no input, but say only where it broke.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Credentials{}, fmt.Errorf("secret is not valid JSON (syntax error at byte %d): expected {\"tenantId\", \"clientId\", \"clientSecret\"}", syn.Offset)
		}
		return Credentials{}, errors.New("secret is not a JSON object: expected {\"tenantId\", \"clientId\", \"clientSecret\"}")
	}
	var missing []string
	if strings.TrimSpace(c.TenantID) == "" {
		missing = append(missing, "tenantId")
	}
	if strings.TrimSpace(c.ClientID) == "" {
		missing = append(missing, "clientId")
	}
	if c.ClientSecret == "" {
		missing = append(missing, "clientSecret")
	}
	if len(missing) > 0 {
		return Credentials{}, fmt.Errorf("secret JSON lacks %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// Store reads credentials by secret id, caching them for the container's life (an hour
// between refreshes, the library's default).
type Store struct {
	cache *secretcache.Cache
	id    string
}

// NewStore builds a store over a Secrets Manager client.
func NewStore(client *secretsmanager.Client, secretID string) (*Store, error) {
	if secretID == "" {
		return nil, errors.New("GRAPH_SECRET_ID is not set: name the Secrets Manager secret holding the Graph app's credentials")
	}
	cache, err := secretcache.New(func(c *secretcache.Cache) { c.Client = client })
	if err != nil {
		return nil, fmt.Errorf("secret cache: %w", err)
	}
	return &Store{cache: cache, id: secretID}, nil
}

// Credentials returns the app's credentials.
func (s *Store) Credentials(ctx context.Context) (Credentials, error) {
	raw, err := s.cache.GetSecretStringWithContext(ctx, s.id)
	if err != nil {
		return Credentials{}, describe(err, s.id)
	}
	c, err := Parse(raw)
	if err != nil {
		return Credentials{}, fmt.Errorf("secret %s: %w", s.id, err)
	}
	return c, nil
}

// Refresh drops the cached value, for when Entra says the secret it holds was rotated.
func (s *Store) Refresh(ctx context.Context) { s.cache.RefreshNowWithContext(ctx, s.id) }

// describe names the Secrets Manager failure and the fix, keeping the API's code.
func describe(err error, id string) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException":
			return fmt.Errorf("secret %s does not exist (check GRAPH_SECRET_ID and the region)", id)
		case "AccessDeniedException":
			return fmt.Errorf("no permission to read secret %s: the function's role needs secretsmanager:GetSecretValue on it (and kms:Decrypt for a customer-managed key)", id)
		case "ThrottlingException":
			return fmt.Errorf("Secrets Manager throttled the read of %s: %s", id, api.ErrorCode())
		case "DecryptionFailure":
			return fmt.Errorf("secret %s could not be decrypted: the function's role needs kms:Decrypt on its key", id)
		}
		return fmt.Errorf("reading secret %s: %s", id, api.ErrorCode())
	}
	if strings.Contains(err.Error(), "SecretString") || strings.Contains(err.Error(), "binary") {
		return fmt.Errorf("secret %s holds no SecretString: store the credentials as a JSON string", id)
	}
	return fmt.Errorf("reading secret %s: %w", id, err)
}
