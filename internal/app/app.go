// Package app reads the function's configuration from its environment and builds the
// handler with its real dependencies: Secrets Manager for credentials, azidentity and
// msgraph-sdk-go for Graph. The Lambda main and the local tools both start here, so what
// runs locally is what runs in AWS.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/federation"
	"github.com/session-revoker/session-revoker/internal/graph"
	"github.com/session-revoker/session-revoker/internal/handler"
	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/pace"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/resultbus"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/secrets"
	"github.com/session-revoker/session-revoker/internal/state"
	"github.com/session-revoker/session-revoker/internal/sweep"
	"github.com/session-revoker/session-revoker/internal/sweepaws"
)

// Config is every setting the function reads.
type Config struct {
	SecretID string // GRAPH_SECRET_ID: the Secrets Manager secret with the app's credentials
	Graph    graph.Config
	// Policy: DRY_RUN, TARGET_ROLES, PROTECTED_USERS, TENANT_ID, DEFAULT_UPN_SUFFIX,
	// MAX_TARGETS_PER_ALERT, RISK_STATES.
	Policy policy.Settings
	// VerifyRevocation (VERIFY_REVOCATION) reads each revoked user back.
	VerifyRevocation bool
	// StateTable (STATE_TABLE) holds the suppression window and idempotency records;
	// empty turns both off. SuppressWindow (SUPPRESS_MINUTES) defaults to 30 minutes.
	StateTable     string
	SuppressWindow time.Duration
	// MaxTargetsPerSweep (MAX_TARGETS_PER_SWEEP) bounds a scheduled sweep that is not
	// approved; 0 means no bound.
	MaxTargetsPerSweep int
	// MaxRevokesPerDelivery (MAX_REVOKES_PER_DELIVERY), MaxRevokesPerWindow
	// (MAX_REVOKES_PER_WINDOW) and RevokeWindow (REVOKE_WINDOW_MINUTES) bound what alerts
	// revoke on their own: per invocation, and across invocations in a rolling window
	// (the circuit breaker, in the state table). 0 turns a bound off.
	MaxRevokesPerDelivery int
	MaxRevokesPerWindow   int
	RevokeWindow          time.Duration
	// GraphWriteRate (GRAPH_WRITES_PER_SECOND) paces every Graph write of the deployment,
	// alerts' and sweeps'; SweepReserve (SWEEP_RESERVE) is what sweeps leave for alerts.
	GraphWriteRate float64
	SweepReserve   float64
	// The sweep engine's queues and lists: SWEEP_QUEUE_URL and SWEEP_QUEUE_ARN (its work
	// queue; empty: sweeps are not configured), FAILURE_QUEUE_URL (where a poison chunk
	// goes), SWEEP_LIST_BUCKET and SWEEP_LIST_PREFIX (where explicit lists may be read).
	SweepQueueURL, SweepQueueARN string
	FailureQueueURL              string
	SweepListBucket              string
	SweepListPrefix              string
	// Auth (GRAPH_AUTH) is how the app proves itself to Entra: AuthSecretsManager (the
	// default: a client secret or certificate in GRAPH_SECRET_ID) or AuthFederated (no
	// secret: the function's AWS identity, from STS GetWebIdentityToken).
	Auth string
	// AppTenantID and AppClientID (GRAPH_TENANT_ID, GRAPH_CLIENT_ID) name the app
	// registration with GRAPH_AUTH=federated; otherwise the secret names it.
	AppTenantID, AppClientID string
	// ResultBus (RESULT_BUS) is the EventBridge bus every result is put on as a "Session
	// Revocation Completed" event; empty puts none (local runs).
	ResultBus string
}

// DefaultSuppressWindow: an impossible-travel alert for a VPN user fires again within
// minutes of the revoke; half an hour covers the re-sign-in and the detection's delay.
const DefaultSuppressWindow = 30 * time.Minute

// DefaultMaxTargetsPerAlert is the blast radius when MAX_TARGETS_PER_ALERT is unset: an
// impossible-travel or token-theft alert names one or two users; ten is already unusual.
const DefaultMaxTargetsPerAlert = 10

// DefaultMaxTargetsPerSweep is a sweep's blast radius when MAX_TARGETS_PER_SWEEP is unset:
// more than a day's risky users or an offboarding group usually hold, far fewer than a
// tenant, so a wrong group id stops before it signs out the company.
const DefaultMaxTargetsPerSweep = 200

// DefaultMaxRevokesPerDelivery: a list of alerts, an SQS batch or a Pipes array is one
// delivery; a real one names a handful of users, and a delivery of 25 revokes is already
// a storm an operator must see.
const DefaultMaxRevokesPerDelivery = 25

// DefaultMaxRevokesPerWindow in DefaultRevokeWindow is the circuit breaker: more revokes
// than a bad day of account takeovers, far fewer than a misfiring rule signs out.
const (
	DefaultMaxRevokesPerWindow = 50
	DefaultRevokeWindow        = 10 * time.Minute
)

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
	if err := readAuth(getenv, &c); err != nil {
		return Config{}, err
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
	c.StateTable = strings.TrimSpace(getenv("STATE_TABLE"))
	c.ResultBus = strings.TrimSpace(getenv("RESULT_BUS"))
	c.SuppressWindow = DefaultSuppressWindow
	if v := strings.TrimSpace(getenv("SUPPRESS_MINUTES")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Config{}, fmt.Errorf("SUPPRESS_MINUTES=%q: expected a whole number of minutes (0 turns suppression off)", v)
		}
		c.SuppressWindow = time.Duration(n) * time.Minute
	}
	var minutes int
	for _, n := range []struct {
		name, value string
		into        *int
		def         int
	}{
		{"MAX_TARGETS_PER_SWEEP", getenv("MAX_TARGETS_PER_SWEEP"), &c.MaxTargetsPerSweep, DefaultMaxTargetsPerSweep},
		{"MAX_REVOKES_PER_DELIVERY", getenv("MAX_REVOKES_PER_DELIVERY"), &c.MaxRevokesPerDelivery, DefaultMaxRevokesPerDelivery},
		{"MAX_REVOKES_PER_WINDOW", getenv("MAX_REVOKES_PER_WINDOW"), &c.MaxRevokesPerWindow, DefaultMaxRevokesPerWindow},
		{"REVOKE_WINDOW_MINUTES", getenv("REVOKE_WINDOW_MINUTES"), &minutes, int(DefaultRevokeWindow / time.Minute)},
	} {
		v, err := wholeNumber(n.name, n.value, n.def)
		if err != nil {
			return Config{}, err
		}
		*n.into = v
	}
	if minutes == 0 && c.MaxRevokesPerWindow > 0 {
		return Config{}, errors.New("REVOKE_WINDOW_MINUTES=0 with MAX_REVOKES_PER_WINDOW set: the circuit breaker needs a window of at least a minute (set MAX_REVOKES_PER_WINDOW=0 to turn it off)")
	}
	c.RevokeWindow = time.Duration(minutes) * time.Minute
	c.GraphWriteRate, c.SweepReserve = pace.DefaultRate, pace.DefaultReserve
	for _, f := range []struct {
		name, value string
		into        *float64
		low, high   float64
	}{
		{"GRAPH_WRITES_PER_SECOND", getenv("GRAPH_WRITES_PER_SECOND"), &c.GraphWriteRate, 0.1, 1000},
		{"SWEEP_RESERVE", getenv("SWEEP_RESERVE"), &c.SweepReserve, 0, 1000},
	} {
		if v := strings.TrimSpace(f.value); v != "" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < f.low || n > f.high {
				return Config{}, fmt.Errorf("%s=%q: expected a number from %v to %v", f.name, v, f.low, f.high)
			}
			*f.into = n
		}
	}
	if c.SweepReserve >= c.GraphWriteRate {
		return Config{}, fmt.Errorf("SWEEP_RESERVE=%v is not below GRAPH_WRITES_PER_SECOND=%v: sweeps would never write", c.SweepReserve, c.GraphWriteRate)
	}
	c.SweepQueueURL, c.SweepQueueARN = strings.TrimSpace(getenv("SWEEP_QUEUE_URL")), strings.TrimSpace(getenv("SWEEP_QUEUE_ARN"))
	c.FailureQueueURL = strings.TrimSpace(getenv("FAILURE_QUEUE_URL"))
	c.SweepListBucket, c.SweepListPrefix = strings.TrimSpace(getenv("SWEEP_LIST_BUCKET")), strings.TrimSpace(getenv("SWEEP_LIST_PREFIX"))
	if (c.SweepQueueURL == "") != (c.SweepQueueARN == "") {
		return Config{}, errors.New("SWEEP_QUEUE_URL and SWEEP_QUEUE_ARN name the sweep queue together: set both or neither")
	}
	// Operators' alert formats (alert/custom.go) are compiled now: a bad rule stops the
	// cold start, naming the rule, instead of failing the first alert.
	if _, err := alert.LoadMappings(getenv("ALERT_MAPPINGS")); err != nil {
		return Config{}, fmt.Errorf("ALERT_MAPPINGS: %w", err)
	}
	if _, err := graph.Check(c.Graph); err != nil {
		return Config{}, err
	}
	return c, nil
}

// wholeNumber reads the variable name's value v as a non-negative whole number, def when
// unset.
func wholeNumber(name, v string, def int) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: expected a whole number (0 for no limit)", name, v)
	}
	return n, nil
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
	p.TenantID = policy.NormalTenant(getenv("TENANT_ID"))
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
	// RISK_STATES: the Entra ID Protection risk states acted on. A misspelt state would
	// quietly skip every risky user, so only Graph's riskState values are accepted.
	if v := strings.TrimSpace(getenv("RISK_STATES")); v != "" {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			i := slices.IndexFunc(riskStateValues, func(v string) bool { return strings.EqualFold(v, r) })
			if i < 0 {
				return fmt.Errorf("RISK_STATES: %q is not an Entra riskState; expected some of %s", r, strings.Join(riskStateValues, ", "))
			}
			p.RiskStates = append(p.RiskStates, riskStateValues[i])
		}
	}
	return nil
}

// riskStateValues are Graph's riskState enum (riskyUser, riskDetection).
var riskStateValues = []string{"none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised", "unknownFutureValue"}

// New builds the handler. Nothing here calls Graph or reads the secret: credentials are
// loaded when the first alert needs them, so a cold start stays fast and a bad secret
// fails one invocation with a clear reason instead of every init.
func New(ctx context.Context, c Config, log *slog.Logger) (*handler.Handler, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	conn, err := newConnection(c, awsCfg)
	if err != nil {
		return nil, err
	}
	connect := connectRotating(conn)
	// One bucket for every Graph write of the deployment (alerts first, sweeps after), and
	// one for Identity Protection's one request a second; shared through the state table
	// by every container, or held in memory without one.
	var buckets pace.Store = &pace.Memory{}
	var store *state.Store
	if c.StateTable != "" {
		store = state.New(dynamodb.NewFromConfig(awsCfg), c.StateTable)
		buckets = store
	}
	writes := &pace.Bucket{Store: buckets, Key: "graph-writes", Rate: c.GraphWriteRate, Reserve: c.SweepReserve}
	identityProtection := &pace.Bucket{Store: buckets, Key: "identity-protection", Rate: 1, Burst: 1}
	h := &handler.Handler{
		Policy: c.Policy,
		// One guard per container: the protected accounts are resolved through Graph on
		// first use and every ten minutes, not per invocation.
		Options: revoke.Options{Guard: &revoke.Guard{List: c.Policy.Protected}, Verify: c.VerifyRevocation, Pacer: writes},
		Connect: connect,
		Log:     log,
		Limits:  &revoke.Limits{PerDelivery: c.MaxRevokesPerDelivery, PerWindow: c.MaxRevokesPerWindow, Window: c.RevokeWindow, Log: log},
		Polls:   handler.Polls{Connect: pollListerOf(connect), Pacer: &poll.Pacer{IdentityProtection: identityProtection}},
	}
	if c.ResultBus != "" {
		h.Results = resultbus.New(eventbridge.NewFromConfig(awsCfg), c.ResultBus)
	}
	if store != nil {
		h.Ledger = store
		h.Options.Suppress, h.Options.SuppressWindow = store, c.SuppressWindow
		if c.SweepQueueURL != "" {
			h.Sweeps = sweeps(c, awsCfg, store, connect, identityProtection)
		}
		if c.MaxRevokesPerWindow > 0 {
			w := breakerWindow{store: store, window: c.RevokeWindow}
			h.Limits.Store, h.Breaker = w, w
		}
		h.Polls.Store = pollStore{store}
	}
	return h, nil
}

// sweeps wires the sweep engine: its runs in the state table, its work queue, Graph's
// listings through the rotating client, explicit lists from the one bucket allowed, poison
// chunks to the failure queue.
func sweeps(c Config, awsCfg aws.Config, store *state.Store, connect revoke.Connect, identityProtection *pace.Bucket) handler.Sweeps {
	q := sqs.NewFromConfig(awsCfg)
	e := sweep.Engine{
		Progress:           state.SweepRuns{Store: store},
		Queue:              sweepaws.Queue{SQS: q, URL: c.SweepQueueURL},
		Lister:             listerOf(connect),
		IdentityProtection: identityProtection,
		MaxTargets:         c.MaxTargetsPerSweep,
		NewRunID:           newRunID,
	}
	if c.SweepListBucket != "" {
		e.Objects = sweepaws.Objects{S3: s3.NewFromConfig(awsCfg), Bucket: c.SweepListBucket, Prefix: c.SweepListPrefix}
	}
	if c.FailureQueueURL != "" {
		e.Fail = sweepaws.Failures{SQS: q, URL: c.FailureQueueURL}.Fail
	}
	return handler.Sweeps{Engine: e, QueueARN: c.SweepQueueARN}
}

// newRunID names a sweep run: its start time and randomness, readable in a log line.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// connection keeps one Graph client per container, so its credential's token cache survives
// across invocations. With a secret, the client is rebuilt only when the secret's value
// changes (a rotation); with federation there is no secret, and it is built once.
type connection struct {
	store *secrets.Store // nil with GRAPH_AUTH=federated
	cfg   graph.Config
	// federated is set with GRAPH_AUTH=federated: the app registration and the source of
	// the function's AWS web identity tokens.
	federated *federatedApp

	mu     sync.Mutex
	creds  secrets.Credentials
	client *graph.Client
}

type federatedApp struct {
	tenantID, clientID string
	tokens             *federation.Source
}

// newConnection builds the connection for the configured auth. Like New, it calls nothing.
func newConnection(c Config, awsCfg aws.Config) (*connection, error) {
	if c.Auth == AuthFederated {
		// GetWebIdentityToken is not served by the STS global endpoint: the SDK's default,
		// with AWS_REGION set as Lambda does, is the regional one.
		tokens := federation.New(sts.NewFromConfig(awsCfg))
		return &connection{cfg: c.Graph, federated: &federatedApp{tenantID: c.AppTenantID, clientID: c.AppClientID, tokens: tokens}}, nil
	}
	store, err := secrets.NewStore(secretsmanager.NewFromConfig(awsCfg), c.SecretID)
	if err != nil {
		return nil, err
	}
	return &connection{store: store, cfg: c.Graph}, nil
}

func (c *connection) connect(ctx context.Context) (revoke.Graph, error) {
	if c.federated != nil {
		return c.connectFederated()
	}
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

// connectFederated builds the client once: STS is called only when Entra's token (an hour)
// runs out, through the credential's callback.
func (c *connection) connectFederated() (revoke.Graph, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	f := c.federated
	cred, err := graph.NewFederatedCredential(c.cfg, f.tenantID, f.clientID, f.tokens.Token)
	if err != nil {
		return nil, err
	}
	client, err := graph.New(c.cfg, cred)
	if err != nil {
		return nil, err
	}
	c.client = client
	return client, nil
}

// GRAPH_AUTH values.
const (
	AuthSecretsManager = "secretsmanager"
	AuthFederated      = "federated"
)

// readAuth reads GRAPH_AUTH and what it needs. A setting the chosen auth would ignore is an
// error, so a half-migrated configuration is noticed at cold start.
func readAuth(getenv func(string) string, c *Config) error {
	tenant, client := strings.TrimSpace(getenv("GRAPH_TENANT_ID")), strings.TrimSpace(getenv("GRAPH_CLIENT_ID"))
	switch c.Auth = strings.ToLower(strings.TrimSpace(getenv("GRAPH_AUTH"))); c.Auth {
	case "", AuthSecretsManager:
		c.Auth = AuthSecretsManager
		if c.SecretID == "" {
			return fmt.Errorf("GRAPH_SECRET_ID is not set: name the Secrets Manager secret holding {\"tenantId\", \"clientId\"} and one of \"clientSecret\", \"certificate\" or \"certificatePfx\" (or set GRAPH_AUTH=%s to use no secret)", AuthFederated)
		}
		if tenant != "" || client != "" {
			return fmt.Errorf("GRAPH_TENANT_ID and GRAPH_CLIENT_ID are read only with GRAPH_AUTH=%s: with a secret, the secret names the app", AuthFederated)
		}
	case AuthFederated:
		if c.SecretID != "" {
			return fmt.Errorf("GRAPH_SECRET_ID is set but GRAPH_AUTH=%s uses no secret: unset one of them", AuthFederated)
		}
		if tenant == "" || client == "" {
			return fmt.Errorf("GRAPH_AUTH=%s needs GRAPH_TENANT_ID and GRAPH_CLIENT_ID: the app registration's directory (tenant) id and application (client) id", AuthFederated)
		}
		if !identity.IsObjectID(strings.ToLower(client)) {
			return fmt.Errorf("GRAPH_CLIENT_ID=%q: expected the app registration's application (client) id, a GUID", client)
		}
		c.AppTenantID, c.AppClientID = tenant, client
	default:
		return fmt.Errorf("GRAPH_AUTH=%q: expected %s (the default) or %s", c.Auth, AuthSecretsManager, AuthFederated)
	}
	return nil
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
