// Package secrets loads the Graph app's credentials (a client secret or a certificate) from
// AWS Secrets Manager, through the AWS caching library so that a warm container does not call
// Secrets Manager again.
//
// It must never put a secret's value, or any part of it, in an error or a log line.
package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"
	"github.com/aws/smithy-go"
)

// Credentials are a Graph app registration's credentials: its tenant and client ids and
// exactly one of a client secret, a PEM certificate with its key, or a PKCS#12 file.
// The struct stays comparable: the wiring compares values to notice a rotation.
type Credentials struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// Certificate is PEM: the certificate (and any chain) and its unencrypted private key.
	Certificate string `json:"certificate"`
	// CertificatePFX is a PKCS#12 (.pfx/.p12) file, base64-encoded.
	CertificatePFX      string `json:"certificatePfx"`
	CertificatePassword string `json:"certificatePassword"`
}

// Kind names which credential a secret holds, by its JSON field.
type Kind string

const (
	ClientSecret   Kind = "clientSecret"
	Certificate    Kind = "certificate"
	CertificatePFX Kind = "certificatePfx"
)

// Kind says which credential c holds; "" when none (Parse never returns such a value).
func (c Credentials) Kind() Kind {
	switch {
	case c.ClientSecret != "":
		return ClientSecret
	case c.Certificate != "":
		return Certificate
	case c.CertificatePFX != "":
		return CertificatePFX
	}
	return ""
}

// PFX returns the decoded PKCS#12 bytes (Parse has checked they decode).
func (c Credentials) PFX() []byte {
	b, _ := decodeBase64(c.CertificatePFX)
	return b
}

// String never shows a secret field, so a stray %v cannot leak one: it names the fields
// that are set.
func (c Credentials) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Credentials{tenantId: %s, clientId: %s", c.TenantID, c.ClientID)
	for _, f := range []struct{ name, value string }{
		{"clientSecret", c.ClientSecret},
		{"certificate", c.Certificate},
		{"certificatePfx", c.CertificatePFX},
		{"certificatePassword", c.CertificatePassword},
	} {
		if f.value != "" {
			b.WriteString(", " + f.name + ": [redacted]")
		}
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue is String for log/slog, whose JSON handler would otherwise print every field.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// shapes is what an operator may store, quoted in every Parse error.
const shapes = `expected {"tenantId", "clientId"} with exactly one of "clientSecret", "certificate" (PEM certificate and key) or "certificatePfx" (base64 PKCS#12, with "certificatePassword")`

// Parse reads the secret's JSON. Its errors name missing, conflicting or mistyped fields,
// never a value.
func Parse(raw string) (Credentials, error) {
	var c Credentials
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&c); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Credentials{}, fmt.Errorf("secret JSON: field %q must be a string", typeErr.Field)
		}
		// The decoder's syntax errors quote input characters: say only where it broke.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Credentials{}, fmt.Errorf("secret is not valid JSON (syntax error at byte %d): %s", syn.Offset, shapes)
		}
		return Credentials{}, errors.New("secret is not a JSON object: " + shapes)
	}
	var missing []string
	if strings.TrimSpace(c.TenantID) == "" {
		missing = append(missing, "tenantId")
	}
	if strings.TrimSpace(c.ClientID) == "" {
		missing = append(missing, "clientId")
	}
	if len(missing) > 0 {
		return Credentials{}, fmt.Errorf("secret JSON lacks %s: %s", strings.Join(missing, ", "), shapes)
	}
	var kinds []string
	for _, f := range []struct {
		kind  Kind
		value string
	}{{ClientSecret, c.ClientSecret}, {Certificate, c.Certificate}, {CertificatePFX, c.CertificatePFX}} {
		if f.value != "" {
			kinds = append(kinds, string(f.kind))
		}
	}
	switch {
	case len(kinds) == 0:
		return Credentials{}, errors.New("secret JSON holds no credential: " + shapes)
	case len(kinds) > 1:
		return Credentials{}, fmt.Errorf("secret JSON holds more than one credential (%s): keep exactly one", strings.Join(kinds, ", "))
	}
	switch c.Kind() {
	case Certificate:
		if c.CertificatePassword != "" {
			return Credentials{}, errors.New(`secret JSON: "certificatePassword" goes with "certificatePfx" only; encrypted PEM keys are not supported: store the PEM key unencrypted (Secrets Manager encrypts the secret with KMS) or use "certificatePfx"`)
		}
		if !strings.Contains(c.Certificate, "-----BEGIN ") {
			return Credentials{}, errors.New(`secret JSON: "certificate" is not PEM: expected a -----BEGIN CERTIFICATE----- block and a -----BEGIN PRIVATE KEY----- block`)
		}
	case CertificatePFX:
		if b, err := decodeBase64(c.CertificatePFX); err != nil || len(b) == 0 {
			return Credentials{}, errors.New(`secret JSON: "certificatePfx" is not base64: store the .pfx file's bytes base64-encoded (base64 -w0 app.pfx)`)
		}
	case ClientSecret:
		if c.CertificatePassword != "" {
			return Credentials{}, errors.New(`secret JSON: "certificatePassword" goes with "certificatePfx" only`)
		}
	}
	return c, nil
}

// decodeBase64 accepts standard or URL-safe base64, padded or not, wrapped over lines.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
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
		return nil, errors.New("GRAPH_SECRET_ID is not set: name the Secrets Manager secret holding the Graph app's credentials (or set GRAPH_AUTH=federated to use none)")
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
// A nil Store (no secret at all: federated auth) has nothing to refresh.
func (s *Store) Refresh(ctx context.Context) {
	if s == nil {
		return
	}
	s.cache.RefreshNowWithContext(ctx, s.id)
}

// deniedAction names the action an AccessDenied refused: the one AWS's message names
// ("... is not authorized to perform: kms:Decrypt ..."), else the API operation that failed.
// Only the action is taken from the message, never the rest of it.
func deniedAction(err error, api smithy.APIError) string {
	if m := performs.FindStringSubmatch(api.ErrorMessage()); m != nil {
		return m[1]
	}
	var op *smithy.OperationError
	if errors.As(err, &op) && op.Operation() != "" {
		return "secretsmanager:" + op.Operation()
	}
	return "secretsmanager:GetSecretValue"
}

var performs = regexp.MustCompile(`not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)`)

// describe names the Secrets Manager failure and the fix, keeping the API's code.
func describe(err error, id string) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException":
			return fmt.Errorf("secret %s does not exist (check GRAPH_SECRET_ID and the region)", id)
		case "AccessDeniedException":
			return fmt.Errorf("no permission to read secret %s: the function's role is denied %s on it (it needs secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on the secret, and kms:Decrypt on a customer-managed key)", id, deniedAction(err, api))
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
