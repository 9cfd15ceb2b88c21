// Package ststest is a fake AWS STS endpoint for GetWebIdentityToken (IAM outbound identity
// federation), in the spirit of net/http/httptest: a loopback server that speaks the STS query
// protocol (form POST, XML answers and errors) so the real aws-sdk-go-v2 STS client is tested
// over the wire. moto 5.2.1 does not implement GetWebIdentityToken, hence this package.
//
// The server plays the AWS account's token issuer too: it signs the tokens it hands out with
// its own keys, publishes them with JWKS, and can Mint tokens with any claims so that a test
// can present a wrong issuer, subject, audience or an expired token to the Entra emulator.
//
// It is for tests and local tools only; its keys are generated per server and prove nothing.
package ststest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of a new Server: a fake account, its issuer URL and the Lambda role calling STS.
const (
	DefaultAccount = "123456789012"
	DefaultIssuer  = "https://3f9c2a71-5d4e-4b8a-9e61-0c7d2b5a8f14.tokens.sts.global.api.aws"
	DefaultSubject = "arn:aws:iam::123456789012:role/session-revoker"
)

// Server is a running fake STS.
type Server struct {
	URL     string // http://127.0.0.1:PORT: the STS client's BaseEndpoint (or AWS_ENDPOINT_URL_STS)
	Issuer  string // iss of issued tokens: the account's issuer URL (never fetched)
	Subject string // sub of issued tokens: the calling role's ARN

	srv    *httptest.Server
	rsaKey *rsa.PrivateKey   // RS256, key id rsaKID
	ecKey  *ecdsa.PrivateKey // ES384, key id ecKID

	mu       sync.Mutex
	calls    []Call
	failures []Failure
}

const (
	rsaKID = "ststest-rs256"
	ecKID  = "ststest-es384"
)

// Call is one GetWebIdentityToken request as the server read it.
type Call struct {
	Audience         []string
	SigningAlgorithm string
	DurationSeconds  int    // 0 when not sent
	Region           string // from the SigV4 credential scope; "" when unsigned
	Status           int
}

// Failure is an error answer in the STS query protocol's shape.
type Failure struct {
	Status  int
	Code    string
	Message string
}

// Errors GetWebIdentityToken answers in AWS, as the SDK's deserializer and docs name them.
var (
	AccessDenied = Failure{http.StatusForbidden, "AccessDenied",
		"User: arn:aws:sts::123456789012:assumed-role/session-revoker/session-revoker is not authorized to perform: sts:GetWebIdentityToken because no identity-based policy allows the sts:GetWebIdentityToken action"}
	FederationDisabled = Failure{http.StatusForbidden, "OutboundWebIdentityFederationDisabledException",
		"Outbound web identity federation is not enabled for this account."}
	Throttling = Failure{http.StatusBadRequest, "Throttling", "Rate exceeded"}
)

// NewServer starts a fake STS with fresh signing keys. It panics if keys cannot be made, as
// httptest does on setup errors.
func NewServer() *Server {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	s := &Server{Issuer: DefaultIssuer, Subject: DefaultSubject, rsaKey: rk, ecKey: ek}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Fail makes the next GetWebIdentityToken call answer f; calls queue up in order.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f)
}

// Calls returns every GetWebIdentityToken request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Claims are what Mint puts in a token. Zero fields take the server's values: its Issuer and
// Subject, audience api://AzureADTokenExchange, issued now, valid 300 s.
type Claims struct {
	Issuer, Subject string
	Audience        []string
	IssuedAt        time.Time
	Expires         time.Time
	ES384           bool // sign with the ES384 key instead of RS256
}

// Mint signs a token the way GetWebIdentityToken does, with the server's keys.
func (s *Server) Mint(c Claims) string {
	if c.Issuer == "" {
		c.Issuer = s.Issuer
	}
	if c.Subject == "" {
		c.Subject = s.Subject
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{"api://AzureADTokenExchange"}
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	if c.Expires.IsZero() {
		c.Expires = c.IssuedAt.Add(300 * time.Second)
	}
	claims := jwt.MapClaims{
		"iss": c.Issuer,
		"sub": c.Subject,
		"iat": c.IssuedAt.Unix(),
		"exp": c.Expires.Unix(),
		"jti": newID(),
		// AWS nests its own claims under this namespace.
		"https://sts.amazonaws.com/": map[string]any{"aws_account": DefaultAccount, "source_region": "us-east-1"},
	}
	if len(c.Audience) == 1 {
		claims["aud"] = c.Audience[0]
	} else {
		claims["aud"] = c.Audience
	}
	method, kid, key := jwt.SigningMethod(jwt.SigningMethodRS256), rsaKID, any(s.rsaKey)
	if c.ES384 {
		method, kid, key = jwt.SigningMethodES384, ecKID, s.ecKey
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(key)
	if err != nil {
		panic(err) // the server's own keys always sign
	}
	return signed
}

// JWKS is the issuer's JSON Web Key Set, as AWS serves it at {issuer}/.well-known/jwks.json.
func (s *Server) JWKS() []byte {
	pub := s.ecKey.PublicKey
	size := (pub.Curve.Params().BitSize + 7) / 8
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": rsaKID,
			"n": b64(s.rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(s.rsaKey.E)).Bytes())},
		{"kty": "EC", "use": "sig", "alg": "ES384", "kid": ecKID, "crv": "P-384",
			"x": b64(pad(pub.X.Bytes(), size)), "y": b64(pad(pub.Y.Bytes(), size))},
	}})
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func pad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// serve answers the STS query protocol: POST, form body, Action and Version.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, Failure{http.StatusBadRequest, "InvalidAction", "Could not find operation " + r.Method + " " + r.URL.Path})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, Failure{http.StatusBadRequest, "MalformedQueryString", "The request body could not be read."})
		return
	}
	if action := r.PostForm.Get("Action"); action != "GetWebIdentityToken" {
		writeError(w, Failure{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, r.PostForm.Get("Version"))})
		return
	}
	call := Call{SigningAlgorithm: r.PostForm.Get("SigningAlgorithm"), Audience: members(r.PostForm, "Audience")}
	if v := r.PostForm.Get("DurationSeconds"); v != "" {
		call.DurationSeconds, _ = strconv.Atoi(v)
	}
	call.Region = scopeRegion(r.Header.Get("Authorization"))
	call.Status = s.answer(w, r, call)
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, c Call) int {
	if r.PostForm.Get("Version") != "2011-06-15" {
		return writeError(w, Failure{http.StatusBadRequest, "InvalidAction", "Could not find operation GetWebIdentityToken for version " + r.PostForm.Get("Version")})
	}
	if c.Region == "" {
		return writeError(w, Failure{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"})
	}
	s.mu.Lock()
	var f *Failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	if f != nil {
		return writeError(w, *f)
	}
	switch {
	case len(c.Audience) == 0:
		return writeError(w, validation("Value null at 'audience' failed to satisfy constraint: Member must not be null"))
	case len(c.Audience) > 10:
		return writeError(w, validation("Value at 'audience' failed to satisfy constraint: Member must have length less than or equal to 10"))
	case c.SigningAlgorithm != "RS256" && c.SigningAlgorithm != "ES384":
		return writeError(w, validation(fmt.Sprintf("Value '%s' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]", c.SigningAlgorithm)))
	case c.DurationSeconds != 0 && (c.DurationSeconds < 60 || c.DurationSeconds > 3600):
		return writeError(w, validation(fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 60 and 3600", c.DurationSeconds)))
	}
	d := time.Duration(c.DurationSeconds) * time.Second
	if d == 0 {
		d = 300 * time.Second
	}
	now := time.Now().UTC().Truncate(time.Second)
	token := s.Mint(Claims{Audience: c.Audience, IssuedAt: now, Expires: now.Add(d), ES384: c.SigningAlgorithm == "ES384"})
	var body strings.Builder
	body.WriteString(`<GetWebIdentityTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` + "\n")
	body.WriteString("  <GetWebIdentityTokenResult>\n")
	body.WriteString("    <WebIdentityToken>" + escape(token) + "</WebIdentityToken>\n")
	body.WriteString("    <Expiration>" + now.Add(d).Format(time.RFC3339) + "</Expiration>\n")
	body.WriteString("  </GetWebIdentityTokenResult>\n")
	body.WriteString("  <ResponseMetadata>\n    <RequestId>" + newID() + "</RequestId>\n  </ResponseMetadata>\n")
	body.WriteString("</GetWebIdentityTokenResponse>\n")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(body.String()))
	return http.StatusOK
}

func validation(msg string) Failure {
	return Failure{http.StatusBadRequest, "ValidationError", "1 validation error detected: " + msg}
}

// writeError writes the query protocol's ErrorResponse.
func writeError(w http.ResponseWriter, f Failure) int {
	typ := "Sender"
	if f.Status >= 500 {
		typ = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(f.Status)
	fmt.Fprintf(w, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n",
		typ, escape(f.Code), escape(f.Message), newID())
	return f.Status
}

// members reads a query-protocol list: Name.member.1, Name.member.2, ...
func members(form map[string][]string, name string) []string {
	type item struct {
		i int
		v string
	}
	var items []item
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, name+".member.")
		if !ok || len(v) == 0 {
			continue
		}
		if i, err := strconv.Atoi(rest); err == nil {
			items = append(items, item{i, v[0]})
		}
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// scopeRegion reads the region from a SigV4 Authorization header's credential scope
// (Credential=AKID/DATE/REGION/sts/aws4_request); "" when the request is not signed for STS.
func scopeRegion(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[3] != "sts" || parts[4] != "aws4_request" {
		return ""
	}
	return parts[2]
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
