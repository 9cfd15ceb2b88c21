package webhook

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MinKeyLength is the shortest key accepted: 32 characters, CrowdStrike's own minimum for
// its HMAC secret key; `openssl rand -hex 32` makes 64.
const MinKeyLength = 32

// Keys are the webhook secret's credentials, by source name. The secret is one JSON object
// whose members are source names (the route paths) and whose values are a key, or a list
// of keys while one is rotated:
//
//	{"splunk": "<64 hex>", "elastic": ["<old>", "<new>"], "crowdstrike": "<HMAC secret key>"}
//
// A source with no member is not served (404). Keys never appear in an error or a
// log line; only source names do.
type Keys struct {
	sources map[string]sourceKeys
}

type sourceKeys struct {
	// digests are SHA-256 of each token, compared in constant time against the digest of
	// the token presented, so neither a token's length nor a prefix leaks through timing.
	digests [][sha256.Size]byte
	// secrets are the raw keys, for HMAC schemes.
	secrets [][]byte
	// problem says why the member is unusable: the source then answers 500, so its
	// sender retries and the operator sees the error, instead of a silent 404.
	problem string
}

// ParseKeys reads the secret's JSON. It fails only when the secret is not a JSON object
// of the shape above; a member that names no source is returned in unknown, and a member
// whose keys are unusable disables only its source, with the reason (KeyProblems).
func ParseKeys(raw string) (k Keys, unknown []string, err error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &members); err != nil || members == nil {
		return Keys{}, nil, fmt.Errorf(`webhook secret is not a JSON object: expected {"<source>": "<key>" or ["<key>", ...]} with sources among %s`, routeNames())
	}
	k.sources = map[string]sourceKeys{}
	for name, value := range members {
		r, ok := routes[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		k.sources[name] = readKeys(r.Scheme, value)
	}
	sort.Strings(unknown)
	return k, unknown, nil
}

func readKeys(scheme Scheme, value json.RawMessage) sourceKeys {
	var list []string
	var one string
	if err := json.Unmarshal(value, &one); err == nil {
		list = []string{one}
	} else if err := json.Unmarshal(value, &list); err != nil || len(list) == 0 {
		return sourceKeys{problem: "its value must be a key (a string) or a non-empty list of keys"}
	}
	var sk sourceKeys
	for i, key := range list {
		if p := keyProblem(scheme, key); p != "" {
			return sourceKeys{problem: fmt.Sprintf("key %d of %d %s", i+1, len(list), p)}
		}
		sk.digests = append(sk.digests, sha256.Sum256([]byte(key)))
		sk.secrets = append(sk.secrets, []byte(key))
	}
	return sk
}

// keyProblem says what is wrong with a key, never what it is.
func keyProblem(scheme Scheme, key string) string {
	if len(key) < MinKeyLength {
		return fmt.Sprintf("is %d characters; at least %d are required (openssl rand -hex 32)", len(key), MinKeyLength)
	}
	switch scheme {
	case PathToken:
		// The token is a path segment, sent as the operator pasted it: only characters no
		// client or proxy re-encodes.
		if strings.IndexFunc(key, func(r rune) bool { return !unreserved(r) }) >= 0 {
			return "has a character that is not A-Z, a-z, 0-9, '-', '.', '_' or '~' (it goes in a URL path)"
		}
	case Bearer:
		// RFC 6750's b64token.
		trimmed := strings.TrimRight(key, "=")
		if trimmed == "" || strings.IndexFunc(trimmed, func(r rune) bool { return !unreserved(r) && r != '+' && r != '/' }) >= 0 {
			return "has a character a bearer token cannot carry (allowed: A-Z, a-z, 0-9, '-', '.', '_', '~', '+', '/', trailing '=')"
		}
	}
	return ""
}

func unreserved(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~'
}

// lookup returns a source's keys: ok false when the secret has no member for it.
func (k Keys) lookup(name string) (sourceKeys, bool) {
	sk, ok := k.sources[name]
	return sk, ok
}

// KeyProblems names each source whose keys are unusable, with the reason, for the
// wiring to log when it loads the secret.
func (k Keys) KeyProblems() map[string]string {
	out := map[string]string{}
	for name, sk := range k.sources {
		if sk.problem != "" {
			out[name] = sk.problem
		}
	}
	return out
}

// Enabled lists the sources the secret has usable keys for, sorted.
func (k Keys) Enabled() []string {
	var out []string
	for name, sk := range k.sources {
		if sk.problem == "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func routeNames() string {
	var names []string
	for _, r := range Routes() {
		names = append(names, r.Source.Name)
	}
	return strings.Join(names, ", ")
}
