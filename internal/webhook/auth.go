package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReplayWindow is how far a signed request's timestamp may be from the endpoint's clock,
// either way: older is a stale or replayed request, newer a clock gone wrong.
const ReplayWindow = 5 * time.Minute

// constantTimeEqual is the one comparison every authentication decision goes through.
// It is a variable so that a test can prove that (and that no decision ends early).
var constantTimeEqual = subtle.ConstantTimeCompare

// matchToken reports whether the token presented is one of the source's, comparing
// SHA-256 digests in constant time: every key is compared, whatever matched before.
func matchToken(presented string, sk sourceKeys) bool {
	d := sha256.Sum256([]byte(presented))
	match := 0
	for i := range sk.digests {
		match |= constantTimeEqual(d[:], sk.digests[i][:])
	}
	return match == 1 && len(sk.digests) > 0
}

// bearerToken takes the token out of an Authorization header ("Bearer" in any case, as
// RFC 7235 has it).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// signed is a verified CrowdStrike signature: the replay cache keys on it.
type signed struct {
	mac [sha256.Size]byte
	at  time.Time
	// as is the construction that matched, for the log line.
	as string
}

// CrowdStrike's own page on the signature was not reachable from here, and public receivers
// disagree: two (alertchain's tests, a Teams relay plugin) verify base64(HMAC-SHA256(key,
// body || timestamp)), PagerTree's integration hex(HMAC-SHA256(key, timestamp || body)).
// Both orders and both encodings of the one MAC are accepted, so the path works whichever
// Falcon sends, and the log line says which it was. Either needs the key; neither
// concatenation can be re-read as the other (a body starts with "{", a timestamp never
// does), and an encoding is only an encoding of the same 32 bytes, which the replay cache
// keys on.
const (
	bodyThenTimestamp = "body+timestamp"
	timestampThenBody = "timestamp+body"
)

// verifyCrowdStrike checks a CrowdStrike webhook delivery's signature and timestamp.
// The reason is for the log line, never for the response.
func verifyCrowdStrike(headers map[string]string, body []byte, sk sourceKeys, now time.Time) (signed, string) {
	ts := headers["x-cs-delivery-timestamp"]
	if ts == "" {
		return signed{}, "no X-Cs-Delivery-Timestamp"
	}
	at, ok := parseTimestamp(ts)
	if !ok {
		return signed{}, "X-Cs-Delivery-Timestamp is not a timestamp"
	}
	if d := now.Sub(at); d > ReplayWindow {
		return signed{}, "stale timestamp (older than the replay window)"
	} else if d < -ReplayWindow {
		return signed{}, "timestamp ahead of the clock by more than the replay window"
	}
	if alg := headers["x-cs-signature-algorithm"]; alg != "" && !strings.EqualFold(alg, "hmac-sha256") {
		return signed{}, "unsupported X-Cs-Signature-Algorithm"
	}
	sig, ok := decodeSignature(strings.TrimSpace(headers["x-cs-primary-signature"]))
	if !ok {
		return signed{}, "no X-Cs-Primary-Signature, or not an HMAC-SHA256 in base64 or hex"
	}
	// Every key, in both orders, whatever matched before.
	bodyFirst, tsFirst := 0, 0
	for _, key := range sk.secrets {
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		mac.Write([]byte(ts))
		bodyFirst |= constantTimeEqual(mac.Sum(nil), sig)
		mac.Reset()
		mac.Write([]byte(ts))
		mac.Write(body)
		tsFirst |= constantTimeEqual(mac.Sum(nil), sig)
	}
	if bodyFirst|tsFirst != 1 || len(sk.secrets) == 0 {
		return signed{}, "signature does not match"
	}
	s := signed{at: at, as: bodyThenTimestamp}
	if bodyFirst != 1 {
		s.as = timestampThenBody
	}
	copy(s.mac[:], sig)
	return s, ""
}

// decodeSignature reads a 32-byte MAC sent as base64 (44 characters) or hex (64).
func decodeSignature(v string) ([]byte, bool) {
	var sig []byte
	var err error
	if len(v) == 2*sha256.Size {
		sig, err = hex.DecodeString(v)
	} else {
		sig, err = base64.StdEncoding.DecodeString(v)
	}
	return sig, err == nil && len(sig) == sha256.Size
}

// parseTimestamp reads an RFC 3339 time, or Unix seconds or milliseconds.
func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if len(s) == 0 || len(s) > 13 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	if len(s) > 10 {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

// replays remembers the signatures of deliveries already put on the bus, until their
// timestamp leaves the window, so an exact replay to this container is refused. It is
// per container: a replay reaching another one within the window is put on the bus again,
// and the revoke function's suppression window makes that second revoke a no-op. Only
// accepted deliveries are remembered: a sender's retry after a 5xx carries the same
// signature and must go through.
type replays struct {
	mu    sync.Mutex
	until map[[sha256.Size]byte]time.Time
}

// maxReplays bounds the memory a flood of valid deliveries can take.
const maxReplays = 4096

func (r *replays) seen(s signed, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.until[s.mac]
	return ok && now.Before(until)
}

func (r *replays) remember(s signed, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until == nil {
		r.until = map[[sha256.Size]byte]time.Time{}
	}
	if len(r.until) >= maxReplays {
		for k, until := range r.until {
			if !now.Before(until) {
				delete(r.until, k)
			}
		}
		for k := range r.until {
			if len(r.until) < maxReplays {
				break
			}
			delete(r.until, k)
		}
	}
	r.until[s.mac] = s.at.Add(ReplayWindow)
}
