package webhookaws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/session-revoker/session-revoker/internal/webhook"
)

// Config is what the endpoint reads from its environment (template.yaml sets each).
type Config struct {
	// AlertBus is the bus the rules that deliver alerts to the revoke function are on.
	AlertBus string
	// SecretID names the webhook secret.
	SecretID string
}

// ConfigFromEnv reads ALERT_BUS_NAME and WEBHOOK_SECRET_ID.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{AlertBus: strings.TrimSpace(getenv("ALERT_BUS_NAME")), SecretID: strings.TrimSpace(getenv("WEBHOOK_SECRET_ID"))}
	var missing []string
	if c.AlertBus == "" {
		missing = append(missing, "ALERT_BUS_NAME (the EventBridge bus the alert rules are on)")
	}
	if c.SecretID == "" {
		missing = append(missing, "WEBHOOK_SECRET_ID (the Secrets Manager secret with each source's key)")
	}
	if len(missing) > 0 {
		return Config{}, errors.New("not set: " + strings.Join(missing, ", "))
	}
	return c, nil
}

// New builds the endpoint over the AWS clients the default configuration gives (in
// Lambda: the function's role; AWS_ENDPOINT_URL points them at moto in tests).
func New(ctx context.Context, c Config, log *slog.Logger) (*webhook.Endpoint, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	keys, err := NewSecretKeyring(secretsmanager.NewFromConfig(cfg), c.SecretID, log)
	if err != nil {
		return nil, err
	}
	return webhook.New(NewEventBridge(eventbridge.NewFromConfig(cfg), c.AlertBus), keys, log, nil), nil
}

// Logger is the endpoint's JSON logger at Lambda's application log level
// (AWS_LAMBDA_LOG_LEVEL, from the template's LoggingConfig).
func Logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
