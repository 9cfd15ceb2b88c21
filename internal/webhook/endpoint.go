package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/session-revoker/session-revoker/internal/sources"
)

// Request is one HTTP request as the endpoint needs it, whatever carried it (a Lambda
// function URL event, a local server).
type Request struct {
	Method string
	// Path is the raw request path. It is never logged: Splunk's carries its token.
	Path string
	// Headers have lower-case names (a function URL delivers them so); repeated headers
	// joined with commas.
	Headers map[string]string
	// Body is the raw body as sent: the bytes a signature covers.
	Body      []byte
	RequestID string
	SourceIP  string
}

// Response is what the endpoint answers.
type Response struct {
	Status  int
	Headers map[string]string
	Body    string
}

// Bus puts one entry on the alert bus and returns the event id EventBridge gave it. It
// returns an error unless EventBridge accepted the entry; a *PutError says why.
type Bus interface {
	Put(ctx context.Context, e Entry) (eventID string, err error)
}

// PutError is EventBridge's refusal of an entry, or a failed call.
type PutError struct {
	// Code is EventBridge's error code (the entry's ErrorCode, or the call's), or a short
	// name of a transport failure.
	Code string
	// Temporary says a later attempt may succeed (throttling, an outage, a timeout): the
	// endpoint answers 503; otherwise 500 (a configuration error, a rejected entry). Both
	// make the sender retry.
	Temporary bool
}

func (e *PutError) Error() string { return "EventBridge did not accept the entry: " + e.Code }

// Keyring returns the webhook secret's keys (cached by the implementation).
type Keyring interface {
	Keys(ctx context.Context) (Keys, error)
}

// Endpoint serves every route.
type Endpoint struct {
	bus     Bus
	keyring Keyring
	log     *slog.Logger
	now     func() time.Time
	replays replays
}

// New builds the endpoint. now is the clock signatures are checked against (nil: time.Now).
func New(bus Bus, keyring Keyring, log *slog.Logger, now func() time.Time) *Endpoint {
	if now == nil {
		now = time.Now
	}
	return &Endpoint{bus: bus, keyring: keyring, log: log, now: now}
}

// outcome is what one request came to: its status, a public message, and for the log
// only, the reason.
type outcome struct {
	status  int
	message string
	reason  string
	eventID string
	// signedAs is the CrowdStrike signature construction that matched.
	signedAs string
}

// Serve answers one request. Checks run cheapest and least revealing first: the route,
// the method and the size need no secret; authentication comes before anything about the
// body's content is said.
func (e *Endpoint) Serve(ctx context.Context, req Request) Response {
	start := e.now()
	r, token, ok := route(req.Path)
	var o outcome
	if !ok {
		o = outcome{status: http.StatusNotFound, message: "no such source", reason: "no route"}
	} else {
		o = e.serve(ctx, r, token, req)
	}
	e.logOutcome(ctx, req, r, o, start)
	return respond(r, o)
}

func (e *Endpoint) serve(ctx context.Context, r Route, token string, req Request) outcome {
	if req.Method != http.MethodPost {
		return outcome{status: http.StatusMethodNotAllowed, message: "POST only", reason: "method " + req.Method}
	}
	entry := Entry{Source: sources.WebhookSource, DetailType: r.Source.DetailType, Detail: req.Body}
	if entry.TooLarge() {
		return outcome{status: http.StatusRequestEntityTooLarge, message: "the alert is larger than EventBridge's 256 KB entry limit", reason: "entry too large"}
	}
	keys, err := e.keyring.Keys(ctx)
	if err != nil {
		return outcome{status: http.StatusServiceUnavailable, message: "temporarily unavailable; retry", reason: "webhook secret: " + err.Error()}
	}
	sk, ok := keys.lookup(r.Source.Name)
	if !ok {
		return outcome{status: http.StatusNotFound, message: "no such source", reason: "source not enabled in the webhook secret"}
	}
	if sk.problem != "" {
		return outcome{status: http.StatusInternalServerError, message: "endpoint misconfigured", reason: "webhook secret member " + r.Source.Name + ": " + sk.problem}
	}
	sig, reason := e.authenticate(r, token, req, sk)
	if reason != "" {
		return outcome{status: http.StatusUnauthorized, message: "unauthorized", reason: reason}
	}
	if p := detailProblem(req.Body); p != "" {
		return outcome{status: http.StatusBadRequest, message: p, reason: p}
	}
	id, err := e.bus.Put(ctx, entry)
	if err != nil {
		var pe *PutError
		if errors.As(err, &pe) && !pe.Temporary {
			return outcome{status: http.StatusInternalServerError, message: "the alert was not accepted; retry", reason: err.Error()}
		}
		return outcome{status: http.StatusServiceUnavailable, message: "the alert was not accepted; retry", reason: err.Error()}
	}
	if r.Scheme == CrowdStrikeSignature {
		e.replays.remember(sig, e.now())
	}
	return outcome{status: http.StatusOK, eventID: id, signedAs: sig.as}
}

// authenticate returns "" when the request proves it is the source's, else the reason.
func (e *Endpoint) authenticate(r Route, token string, req Request, sk sourceKeys) (signed, string) {
	switch r.Scheme {
	case Bearer:
		t, ok := bearerToken(req.Headers["authorization"])
		if !ok {
			return signed{}, "no bearer token"
		}
		if !matchToken(t, sk) {
			return signed{}, "bearer token does not match"
		}
	case PathToken:
		if token == "" {
			return signed{}, "no token in the path"
		}
		if !matchToken(token, sk) {
			return signed{}, "path token does not match"
		}
	case CrowdStrikeSignature:
		now := e.now()
		s, reason := verifyCrowdStrike(req.Headers, req.Body, sk, now)
		if reason != "" {
			return signed{}, reason
		}
		if e.replays.seen(s, now) {
			return signed{}, "replayed: this signature was already accepted"
		}
		return s, ""
	default:
		return signed{}, "no scheme"
	}
	return signed{}, ""
}

func respond(r Route, o outcome) Response {
	h := map[string]string{"content-type": "application/json"}
	var body string
	switch {
	case o.status == http.StatusOK:
		body = `{"accepted":true,"eventId":` + quote(o.eventID) + `}`
	default:
		body = `{"error":` + quote(o.message) + `}`
	}
	switch o.status {
	case http.StatusMethodNotAllowed:
		h["allow"] = http.MethodPost
	case http.StatusServiceUnavailable:
		h["retry-after"] = "5"
	case http.StatusUnauthorized:
		if r.Scheme == Bearer {
			h["www-authenticate"] = `Bearer realm="session-revoker"`
		}
	}
	return Response{Status: o.status, Headers: h, Body: body}
}

// logOutcome writes the one line per request: never the path, a header or the body.
func (e *Endpoint) logOutcome(ctx context.Context, req Request, r Route, o outcome, start time.Time) {
	level := slog.LevelInfo
	switch {
	case o.status >= 500:
		level = slog.LevelError
	case o.status >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("requestId", req.RequestID),
		slog.String("source", r.Source.Name),
		slog.Int("status", o.status),
		slog.Int("bytes", len(req.Body)),
		slog.String("sourceIp", req.SourceIP),
		slog.Float64("durationMs", float64(e.now().Sub(start).Microseconds())/1000),
	}
	if r.Source.Name != "" {
		attrs = append(attrs, slog.String("auth", r.Scheme.String()))
	}
	if o.eventID != "" {
		attrs = append(attrs, slog.String("eventId", o.eventID), slog.String("detailType", r.Source.DetailType))
	}
	if o.signedAs != "" {
		attrs = append(attrs, slog.String("signedAs", o.signedAs))
	}
	if o.reason != "" {
		attrs = append(attrs, slog.String("reason", o.reason))
	}
	e.log.LogAttrs(ctx, level, "webhook", attrs...)
}

// quote writes a JSON string of text the endpoint itself chose (messages, event ids).
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 {
			b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return string(b) + `"`
}
