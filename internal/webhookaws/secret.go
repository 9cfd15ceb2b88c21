package webhookaws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-secretsmanager-caching-go/v2/secretcache"
	"github.com/aws/smithy-go"

	"github.com/session-revoker/session-revoker/internal/webhook"
)

// KeyTTL is how long a container keeps the webhook secret before reading it again: a key
// added or rotated in takes effect within it. Rotation without a gap: add the new key
// beside the old one (a list), wait KeyTTL, change the product, then remove the old key.
const KeyTTL = 5 * time.Minute

// SecretKeyring reads the webhook secret through the AWS caching library, which calls
// DescribeSecret and GetSecretValue (the role grants both, on this one secret), and
// parses it once per new value.
type SecretKeyring struct {
	cache *secretcache.Cache
	id    string
	log   *slog.Logger

	mu     sync.Mutex
	loaded bool
	raw    string
	keys   webhook.Keys
	err    error
}

// NewSecretKeyring reads secret id through client.
func NewSecretKeyring(client secretcache.SecretsManagerAPIClient, id string, log *slog.Logger) (*SecretKeyring, error) {
	cache, err := secretcache.New(func(c *secretcache.Cache) {
		c.Client = client
		c.CacheItemTTL = int64(KeyTTL)
	})
	if err != nil {
		return nil, fmt.Errorf("secret cache: %w", err)
	}
	return &SecretKeyring{cache: cache, id: id, log: log}, nil
}

// Keys returns the parsed secret. Its errors name the secret and the fix, never a value.
func (k *SecretKeyring) Keys(ctx context.Context) (webhook.Keys, error) {
	raw, err := k.cache.GetSecretStringWithContext(ctx, k.id)
	if err != nil {
		return webhook.Keys{}, describe(err, k.id)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.loaded && raw == k.raw {
		return k.keys, k.err
	}
	keys, unknown, err := webhook.ParseKeys(raw)
	k.loaded, k.raw, k.keys, k.err = true, raw, keys, nil
	if err != nil {
		k.err = fmt.Errorf("secret %s: %w", k.id, err)
		k.log.Error("webhook secret", "secret", k.id, "error", k.err.Error())
		return webhook.Keys{}, k.err
	}
	// Said once per value read, not per request.
	attrs := []any{"secret", k.id, "enabled", strings.Join(keys.Enabled(), ",")}
	if len(unknown) > 0 {
		attrs = append(attrs, "unknownMembers", strings.Join(unknown, ","))
	}
	for name, problem := range keys.KeyProblems() {
		attrs = append(attrs, "problem."+name, problem)
	}
	if len(unknown) > 0 || len(keys.KeyProblems()) > 0 {
		k.log.Warn("webhook secret loaded with problems: members that name no source are ignored, a source with unusable keys answers 500", attrs...)
	} else {
		k.log.Info("webhook secret loaded", attrs...)
	}
	return keys, nil
}

// describe names the Secrets Manager failure and its fix, keeping the API's code and
// dropping its message.
func describe(err error, id string) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException":
			return fmt.Errorf("secret %s does not exist (check WEBHOOK_SECRET_ID and the region)", id)
		case "AccessDeniedException":
			return fmt.Errorf("no permission to read secret %s: the role needs secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on it (and kms:Decrypt for a customer-managed key)", id)
		case "DecryptionFailure":
			return fmt.Errorf("secret %s cannot be decrypted: the role needs kms:Decrypt on its key", id)
		}
		return fmt.Errorf("reading secret %s: %s", id, api.ErrorCode())
	}
	return fmt.Errorf("reading secret %s: Secrets Manager unreachable", id)
}
