// Package app reads the function's configuration from its environment and builds the
// handler with its real dependencies: Secrets Manager for credentials, azidentity and
// msgraph-sdk-go for Graph. The Lambda main and the local tools both start here, so what
// runs locally is what runs in AWS.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/session-revoker/session-revoker/internal/graph"
	"github.com/session-revoker/session-revoker/internal/handler"
	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/secrets"
)

// Config is every setting the function reads.
type Config struct {
	SecretID string // GRAPH_SECRET_ID: the Secrets Manager secret with the app's credentials
	Graph    graph.Config
	// Policy: DRY_RUN, TARGET_ROLES, PROTECTED_USERS, TENANT_ID, DEFAULT_UPN_SUFFIX,
	// MAX_TARGETS_PER_ALERT.
	Policy policy.Settings
	// VerifyRevocation (VERIFY_REVOCATION) reads each revoked user back.
	VerifyRevocation bool
}

// DefaultMaxTargetsPerAlert is the blast radius when MAX_TARGETS_PER_ALERT is unset: an
// impossible-travel or token-theft alert names one or two users; ten is already unusual.
const DefaultMaxTargetsPerAlert = 10

// ConfigFromEnv reads Config; a bad value is an error naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID: strings.TrimSpace(getenv("GRAPH_SECRET_ID")),
		Graph: graph.Config{
			Cloud:         getenv("GRAPH_CLOUD"),
			GraphRoot:     strings.TrimSpace(getenv("GRAPH_BASE_URL")),
			AuthorityHost: strings.TrimSpace(getenv("AZURE_AUTHORITY_HOST")),
		},
	}
	if c.SecretID == "" {
		return Config{}, fmt.Errorf("GRAPH_SECRET_ID is not set: name the Secrets Manager secret holding {\"tenantId\", \"clientId\", \"clientSecret\"}")
	}
	if err := readPolicy(getenv, &c.Policy); err != nil {
		return Config{}, err
	}
	if v := strings.TrimSpace(getenv("VERIFY_REVOCATION")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("VERIFY_REVOCATION=%q: expected true or false", v)
		}
		c.VerifyRevocation = b
	}
	if _, err := graph.Check(c.Graph); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readPolicy reads the guardrails. A protected-account list that cannot be parsed is an
// error, so the function refuses to start and revokes nobody (fail closed).
func readPolicy(getenv func(string) string, p *policy.Settings) error {
	if v := strings.TrimSpace(getenv("DRY_RUN")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("DRY_RUN=%q: expected true or false", v)
		}
		p.DryRun = b
	}
	if v := strings.TrimSpace(getenv("TARGET_ROLES")); v != "" {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				p.TargetRoles = append(p.TargetRoles, r)
			}
		}
	}
	protected, err := policy.ParseProtected(getenv("PROTECTED_USERS"))
	if err != nil {
		return fmt.Errorf("PROTECTED_USERS: %w: the function revokes nobody until it is fixed", err)
	}
	p.Protected = protected
	p.TenantID = strings.ToLower(strings.TrimSpace(getenv("TENANT_ID")))
	if p.TenantID != "" && !identity.IsObjectID(p.TenantID) {
		return fmt.Errorf("TENANT_ID=%q: expected the tenant's GUID", p.TenantID)
	}
	p.DefaultUPNSuffix = strings.TrimPrefix(strings.TrimSpace(getenv("DEFAULT_UPN_SUFFIX")), "@")
	if p.DefaultUPNSuffix != "" {
		if k, _ := identity.Classify("x@" + p.DefaultUPNSuffix); k != identity.UPN {
			return fmt.Errorf("DEFAULT_UPN_SUFFIX=%q: expected a domain such as contoso.com", p.DefaultUPNSuffix)
		}
	}
	p.MaxTargetsPerAlert = DefaultMaxTargetsPerAlert
	if v := strings.TrimSpace(getenv("MAX_TARGETS_PER_ALERT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("MAX_TARGETS_PER_ALERT=%q: expected a whole number (0 for no limit)", v)
		}
		p.MaxTargetsPerAlert = n
	}
	return nil
}

// New builds the handler. Nothing here calls Graph or reads the secret: credentials are
// loaded when the first alert needs them, so a cold start stays fast and a bad secret
// fails one invocation with a clear reason instead of every init.
func New(ctx context.Context, c Config, log *slog.Logger) (*handler.Handler, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	store, err := secrets.NewStore(secretsmanager.NewFromConfig(awsCfg), c.SecretID)
	if err != nil {
		return nil, err
	}
	conn := &connection{store: store, cfg: c.Graph}
	return &handler.Handler{
		Policy:  c.Policy,
		Options: revoke.Options{Protected: c.Policy.Protected, Verify: c.VerifyRevocation},
		Connect: connectRotating(conn),
		Log:     log,
	}, nil
}

// connection keeps one Graph client per container, rebuilt only when the secret's value
// changes (a rotation), so its credential's token cache survives across invocations.
type connection struct {
	store *secrets.Store
	cfg   graph.Config

	mu     sync.Mutex
	creds  secrets.Credentials
	client *graph.Client
}

func (c *connection) connect(ctx context.Context) (revoke.Graph, error) {
	creds, err := c.store.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil && creds == c.creds {
		return c.client, nil
	}
	cred, err := graph.NewCredential(c.cfg, creds)
	if err != nil {
		return nil, err
	}
	client, err := graph.New(c.cfg, cred)
	if err != nil {
		return nil, err
	}
	c.creds, c.client = creds, client
	return client, nil
}

// Logger writes JSON lines at the given level (Lambda's AWS_LAMBDA_LOG_LEVEL names:
// TRACE, DEBUG, INFO, WARN, ERROR, FATAL); unknown or empty means INFO.
func Logger(w io.Writer, level string) *slog.Logger {
	l := slog.LevelInfo
	switch strings.ToUpper(strings.TrimSpace(level)) {
	case "TRACE", "DEBUG":
		l = slog.LevelDebug
	case "WARN":
		l = slog.LevelWarn
	case "ERROR", "FATAL":
		l = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
