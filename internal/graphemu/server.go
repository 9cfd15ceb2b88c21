package graphemu

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint kinds a Fault can match.
const (
	MatchToken   = "token"    // POST /{tenant}/oauth2/v2.0/token
	MatchRevoke  = "revoke"   // POST /v1.0/users/{key}/revokeSignInSessions
	MatchGetUser = "get-user" // GET /v1.0/users/{key}
	// GET /v1.0/identityProtection/riskyUsers (any page)
	MatchListRiskyUsers = "list-risky-users"
	// GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user (any page)
	MatchListMembers = "list-members"
	// GET /v1.0/security/alerts_v2 (any page)
	MatchListAlerts = "list-alerts"
	// GET /v1.0/identityProtection/riskDetections (any page)
	MatchListRiskDetections = "list-risk-detections"
)

// tokenLifetime is what Entra grants an app-only token by default (expires_in 3599).
const tokenLifetime = 3599 * time.Second

// maxBody bounds what the emulator reads: real requests here are a few hundred bytes.
const maxBody = 1 << 20

// Server is a running emulator. Its exported fields are informational: changing them after
// NewServer has no effect.
type Server struct {
	URL          string // https://127.0.0.1:PORT (no trailing slash)
	TenantID     string // the only tenant id the authority answers for (also TenantDomain)
	TenantDomain string // the tenant's initial domain, accepted wherever the id is
	ClientID     string // the only app registration that gets tokens
	ClientSecret string // its secret

	srv     *httptest.Server
	log     io.Writer     // request log, nil for none
	logMu   sync.Mutex    // serializes log lines: handlers run concurrently
	closing chan struct{} // closed by Close so delayed answers stop waiting

	// Copies of the identity fields read by handlers, so a caller writing the exported
	// fields cannot race with requests.
	tenantID, tenantDomain, clientID, clientSecret string

	mu        sync.Mutex
	users     []User
	index     map[string]int       // lowercase id and UPN -> users index
	groups    map[string][]int     // lowercase group id -> its members' users indices, in order
	tokens    map[string]time.Time // issued access token -> expiry
	tokenApp  map[string]string    // issued access token -> the client id it was issued to
	issued    int                  // successful token issuances
	faults    []*queuedFault
	requests  []*Request
	busy      time.Duration // time spent in ServeHTTP, so benchmarks can leave it out
	pageSize  int           // WithPageSize; 0: Graph's caps
	latency   time.Duration // WithLatency: added before every answer
	feed      feed          // alerts_v2 and riskDetections (alerts.go)
	throttle  throttle      // the identity service's limits (throttle.go)
	closeOnce sync.Once
	conns     atomic.Int64 // connections accepted
}

// Option changes a Server before it starts.
type Option func(*Server)

// WithLatency delays every answer by d, as a round trip to Graph's data centres would
// (benchmarks use 40 ms). A client that gives up meanwhile gets no answer.
func WithLatency(d time.Duration) Option {
	return func(s *Server) { s.latency = d }
}

// WithTenantID makes the authority answer for tenantID instead of DefaultTenantID.
func WithTenantID(tenantID string) Option {
	return func(s *Server) { s.tenantID = tenantID }
}

// WithClientCredentials sets the one app registration that may get tokens.
func WithClientCredentials(clientID, clientSecret string) Option {
	return func(s *Server) { s.clientID, s.clientSecret = clientID, clientSecret }
}

// WithRequestLog writes one line per answered request (method, escaped path, status, time).
// Lines are written one at a time, so w need not be safe for concurrent use.
// It never writes headers, query strings or bodies, so tokens and secrets stay out of it.
func WithRequestLog(w io.Writer) Option {
	return func(s *Server) { s.log = w }
}

// Request is what the emulator saw of one request and how it answered.
type Request struct {
	Method   string
	Path     string // decoded path (r.URL.Path)
	RawPath  string // path exactly as received on the wire, still percent-encoded
	RawQuery string
	// HasBearer is true when the request carried "Authorization: Bearer <token>" with a token
	// this server issued and that has not expired.
	HasBearer       bool
	ClientRequestID string // client-request-id header
	// ThrottlePriority is the x-ms-throttle-priority header as sent ("" when absent):
	// sweeps send Low, alerts send none or Normal.
	ThrottlePriority string
	// Status is the status the emulator answered; 0 when it sent none (a Reset fault, or the
	// client went away or the server closed during a Delay).
	Status int
}

// Fault is a scripted misbehaviour. Queued faults are matched in order on the endpoint kind
// (and UserKey if set) and answer Times requests before they are used up.
type Fault struct {
	Match      string        // MatchToken, MatchRevoke or MatchGetUser; required
	UserKey    string        // only for this user id/UPN (case-insensitive); empty = any. Graph kinds only.
	Status     int           // status to answer with, e.g. 429, 503, 504, 403, 500, 400; 0 = answer normally after Delay
	RetryAfter string        // raw Retry-After header value if non-empty ("2", "0.5", an HTTP date)
	Times      int           // how many requests this fault answers; -1 = forever; 0 treated as 1
	Delay      time.Duration // wait before answering; stops early if the client cancels
	// Reset closes the TCP connection with a reset instead of answering. Go's http.Transport
	// silently resends a GET (idempotent) that was reset on a reused keep-alive connection, so
	// a Reset answering once is invisible to a GET caller; use Times 2+ or a POST.
	Reset bool
	// Skip lets this many matching requests through, answered normally, before the fault
	// applies: "the second page fails" is Skip 1.
	Skip int
}

type queuedFault struct {
	Fault
	left int // remaining answers; -1 = forever
	skip int // matching requests still to let through
}

// NewServer starts an emulator holding a copy of users. It panics if the directory is
// invalid (duplicate keys, missing ids), as httptest does on setup errors: a test cannot go on.
func NewServer(users []User, opts ...Option) *Server {
	if err := validateUsers(users); err != nil {
		panic(err)
	}
	s := &Server{
		tenantID:     DefaultTenantID,
		tenantDomain: DefaultTenantDomain,
		clientID:     DefaultClientID,
		clientSecret: DefaultClientSecret,
		closing:      make(chan struct{}),
		tokens:       make(map[string]time.Time),
		tokenApp:     make(map[string]string),
		index:        make(map[string]int, 2*len(users)),
		groups:       make(map[string][]int),
	}
	for _, u := range users {
		s.addUser(normalizeUser(u))
	}
	for _, o := range opts {
		o(s)
	}
	s.TenantID, s.TenantDomain, s.ClientID, s.ClientSecret = s.tenantID, s.tenantDomain, s.clientID, s.clientSecret

	// httptest's built-in certificate is valid for 127.0.0.1 and is its own CA, so one PEM
	// file is all a process needs to trust it (SSL_CERT_FILE). HTTP/2 stays off: the SDKs do
	// not need it and Reset faults hijack HTTP/1.1 connections.
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s
}

func (s *Server) addUser(u User) {
	s.users = append(s.users, u)
	s.index[strings.ToLower(u.ID)] = len(s.users) - 1
	s.index[strings.ToLower(u.UserPrincipalName)] = len(s.users) - 1
	for i, g := range u.Groups {
		if !slices.Contains(u.Groups[:i], g) { // a group named twice lists its member once
			s.groups[g] = append(s.groups[g], len(s.users)-1)
		}
	}
}

// Connections is how many connections clients have opened to the server: a client that
// reuses its connections opens about as many as it runs requests at once.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Close stops the server. Requests held by a Delay fault are released without an answer.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// Client returns an HTTP client that trusts the server's certificate; pass it (or its
// Transport) to the SDKs.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// GraphRoot is the Graph service root without the version: callers append "/v1.0".
func (s *Server) GraphRoot() string { return s.URL }

// AuthorityHost is the Entra authority host, with the trailing slash azidentity expects.
func (s *Server) AuthorityHost() string { return s.URL + "/" }

// CertificatePEM returns the server's TLS certificate, PEM-encoded, for SSL_CERT_FILE.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// User returns the current state of a user, by object id or UPN (case-insensitive).
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.lookup(key)
	if !ok {
		return User{}, false
	}
	return s.users[i], true
}

func (s *Server) lookup(key string) (int, bool) {
	i, ok := s.index[strings.ToLower(key)]
	return i, ok
}

// Requests returns a copy of every request received since start or the last ResetRequests,
// in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// ResetRequests clears the request log. Users, issued tokens, TokenRequests and queued
// faults are kept.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// TokenRequests counts successful token issuances since start.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Inject queues a fault. It panics on an unknown Match or a token fault with a UserKey,
// which are bugs in the calling test.
func (s *Server) Inject(f Fault) {
	switch f.Match {
	case MatchToken, MatchRevoke, MatchGetUser, MatchListRiskyUsers, MatchListMembers, MatchListAlerts, MatchListRiskDetections:
	default:
		panic(fmt.Sprintf("graphemu: Fault.Match %q: want %q, %q, %q, %q, %q, %q or %q", f.Match, MatchToken, MatchRevoke, MatchGetUser,
			MatchListRiskyUsers, MatchListMembers, MatchListAlerts, MatchListRiskDetections))
	}
	if f.Match != MatchRevoke && f.Match != MatchGetUser && f.UserKey != "" {
		panic("graphemu: a " + f.Match + " fault cannot have a UserKey: those requests name no user")
	}
	left := f.Times
	if left == 0 {
		left = 1
	}
	if left < 0 {
		left = -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &queuedFault{Fault: f, left: left, skip: f.Skip})
}

// SetDenied makes every revoke for this user (id or UPN) answer 403
// Authorization_RequestDenied, as Graph does when the app lacks the permission or the target
// holds a privileged admin role.
func (s *Server) SetDenied(key string) {
	s.Inject(Fault{Match: MatchRevoke, UserKey: key, Status: http.StatusForbidden, Times: -1})
}

// takeFault consumes one answer of the first queued fault that matches.
func (s *Server) takeFault(kind, key string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.faults {
		if q.Match != kind || !s.sameUser(q.UserKey, key) {
			continue
		}
		if q.skip > 0 {
			q.skip--
			return Fault{}, false
		}
		if q.left > 0 {
			q.left--
			if q.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return q.Fault, true
	}
	return Fault{}, false
}

// sameUser reports whether a fault's UserKey covers the request's key: equal ignoring case, or
// both naming the same directory user (a fault set by UPN also hits requests by object id).
func (s *Server) sameUser(faultKey, key string) bool {
	if faultKey == "" || strings.EqualFold(faultKey, key) {
		return true
	}
	a, okA := s.lookup(faultKey)
	b, okB := s.lookup(key)
	return okA && okB && a == b
}

// applyFault plays a matching fault, if any. It reports whether the request is finished (the
// fault answered or reset the connection); false means handle the request normally. An
// abandoned wait aborts the handler with http.ErrAbortHandler.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, kind, key string, answer func(status int)) bool {
	f, ok := s.takeFault(kind, key)
	if !ok {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler) // the client is gone; answer nothing
		case <-s.closing:
			// Returning normally would send an empty 200; abort so the client sees the
			// connection drop, as it would if a real server went away.
			panic(http.ErrAbortHandler)
		}
	}
	if f.Reset {
		resetConnection(w)
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	answer(f.Status)
	return true
}

// resetConnection drops the TCP connection with RST (SO_LINGER 0) and no TLS close_notify, so
// the client sees "connection reset by peer" as with a dying load balancer.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http closes the connection without answering
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// Busy is the total time the emulator spent answering requests, for benchmarks that
// measure the client's overhead beyond the emulator's own work.
func (s *Server) Busy() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy
}

// ServeHTTP records the request, reads its body (gunzipping it if needed) and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := s.record(r)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		rec.Status = sw.status
		s.busy += time.Since(start)
		s.mu.Unlock()
		if s.log != nil {
			s.logMu.Lock()
			defer s.logMu.Unlock()
			fmt.Fprintf(s.log, "graphemu: %s %s %d %s\n", r.Method, rec.RawPath, sw.status, time.Since(start).Round(time.Millisecond))
		}
	}()

	segs, err := splitPath(rec.RawPath)
	if err != nil {
		writeGraphError(sw, r, http.StatusBadRequest, "BadRequest", "Invalid request path: "+err.Error())
		return
	}
	// The body is read before anything waits: net/http notices a client hanging up (and
	// cancels r.Context) only once the body has been consumed.
	body, err := readBody(r)
	if err != nil {
		s.badBody(sw, r, segs, err)
		return
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			panic(http.ErrAbortHandler)
		case <-s.closing:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}

	switch {
	case len(segs) > 0 && strings.EqualFold(segs[0], "v1.0"):
		s.serveGraph(sw, r, segs[1:])
	case pathIs(segs, "common", "discovery", "instance"):
		s.serveInstanceDiscovery(sw, r)
	case len(segs) == 4 && pathIs(segs[1:], "v2.0", ".well-known", "openid-configuration"):
		s.serveOpenIDConfiguration(sw, r, segs[0])
	case len(segs) == 4 && pathIs(segs[1:], "discovery", "v2.0", "keys"):
		s.serveKeys(sw, r, segs[0])
	case len(segs) == 4 && pathIs(segs[1:], "oauth2", "v2.0", "token"):
		s.serveToken(sw, r, segs[0], body)
	default:
		last := ""
		if len(segs) > 0 {
			last = segs[len(segs)-1]
		}
		writeGraphError(sw, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", last))
	}
}

func (s *Server) badBody(w http.ResponseWriter, r *http.Request, segs []string, err error) {
	if len(segs) == 4 && pathIs(segs[1:], "oauth2", "v2.0", "token") {
		writeEntraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be read: "+err.Error())
		return
	}
	writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read the request body: "+err.Error())
}

// record appends the request to the log before it is handled, so the log keeps arrival order
// even when answers finish out of order.
func (s *Server) record(r *http.Request) *Request {
	rawPath := r.RequestURI
	if !strings.HasPrefix(rawPath, "/") { // absolute-form request line
		rawPath = r.URL.EscapedPath()
	} else if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	_, bearer := bearerToken(r)
	rec := &Request{
		Method:           r.Method,
		Path:             r.URL.Path,
		RawPath:          rawPath,
		RawQuery:         r.URL.RawQuery,
		ClientRequestID:  r.Header.Get("client-request-id"),
		ThrottlePriority: r.Header.Get("x-ms-throttle-priority"),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bearer != "" {
		exp, ok := s.tokens[bearer]
		rec.HasBearer = ok && time.Now().Before(exp)
	}
	s.requests = append(s.requests, rec)
	return rec
}

// bearerToken returns the Authorization scheme and the token if the scheme is Bearer.
func bearerToken(r *http.Request) (present bool, token string) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return false, ""
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return true, ""
	}
	return true, strings.TrimSpace(tok)
}

// splitPath splits the escaped path into percent-decoded segments. Splitting before decoding
// keeps an encoded "/" (%2F) inside its key instead of creating a new segment.
func splitPath(raw string) ([]string, error) {
	raw = strings.TrimPrefix(raw, "/")
	raw = strings.TrimSuffix(raw, "/")
	if raw == "" {
		return nil, nil
	}
	parts := strings.Split(raw, "/")
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = d
	}
	return parts, nil
}

func pathIs(segs []string, want ...string) bool {
	if len(segs) != len(want) {
		return false
	}
	for i := range want {
		if !strings.EqualFold(segs[i], want[i]) {
			return false
		}
	}
	return true
}

// readBody returns the request body, decompressed when Content-Encoding is gzip (kiota's
// default middleware compresses request bodies).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxBody {
		return nil, errors.New("body larger than 1 MiB")
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if len(out) > maxBody {
			return nil, errors.New("decompressed body larger than 1 MiB")
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection for Reset faults.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newGUID returns a random version-4 GUID, the shape of every id Entra and Graph emit.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
