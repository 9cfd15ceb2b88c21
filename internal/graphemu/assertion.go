package graphemu

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/golang-jwt/jwt/v5"
)

// Client assertion constants, as Entra and RFC 7523 name them.
const (
	// ClientAssertionType is the only client_assertion_type Entra accepts.
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// FederatedAudience is the audience Entra recommends for federated identity credentials.
	FederatedAudience = "api://AzureADTokenExchange"
)

// clockSkew is the leeway Entra gives an assertion's exp and nbf.
const clockSkew = 5 * time.Minute

// FederatedCredential is a federated identity credential on the app registration: Entra
// accepts, instead of a secret, a JWT from Issuer about Subject for Audience, signed by a key
// the issuer publishes.
type FederatedCredential struct {
	Issuer  string // compared exactly (Entra's matching is case-sensitive)
	Subject string // compared exactly
	// Audience is the one audience the credential accepts; "" means FederatedAudience.
	Audience string
	// JWKS is the issuer's JSON Web Key Set, as served at its jwks_uri. Entra fetches it
	// through the issuer's OIDC discovery document; the emulator is handed it instead.
	JWKS []byte
}

// WithFederatedCredential adds a federated identity credential to the app registration. It
// panics if the JWKS holds no usable key, as NewServer does on other setup errors.
func WithFederatedCredential(fc FederatedCredential) Option {
	keys, err := parseJWKS(fc.JWKS)
	if err != nil {
		panic(fmt.Sprintf("graphemu: WithFederatedCredential: %v", err))
	}
	if fc.Audience == "" {
		fc.Audience = FederatedAudience
	}
	return func(s *Server) {
		reg := s.registration()
		reg.mu.Lock()
		defer reg.mu.Unlock()
		reg.federated = append(reg.federated, federated{FederatedCredential: fc, keys: keys})
	}
}

// WithClientCertificate adds a certificate to the app registration's key credentials: a
// client assertion signed with its key (RS256 or PS256), naming it by thumbprint in the x5t
// or x5t#S256 header, with iss = sub = the client id and aud = the token endpoint, is
// accepted in place of the client secret.
func WithClientCertificate(cert *x509.Certificate) Option {
	return func(s *Server) {
		reg := s.registration()
		reg.mu.Lock()
		defer reg.mu.Unlock()
		reg.certs = append(reg.certs, cert)
	}
}

// TokenScopes returns the scope field of every token request that carried a form, in
// arrival order, so a test can check which cloud's resource a credential asked for.
func (s *Server) TokenScopes() []string {
	reg := s.registration()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return append([]string(nil), reg.scopes...)
}

// registration is the app registration's key and federated credentials, and what the token
// endpoint recorded. It is kept beside Server, keyed by a weak pointer and dropped when the
// Server is collected, so these options did not have to change Server's own fields.
type registration struct {
	mu        sync.Mutex
	certs     []*x509.Certificate
	federated []federated
	scopes    []string
}

type federated struct {
	FederatedCredential
	keys map[string]any // kid -> *rsa.PublicKey or *ecdsa.PublicKey
}

var registrations sync.Map // weak.Pointer[Server] -> *registration

func (s *Server) registration() *registration {
	key := weak.Make(s)
	if r, ok := registrations.Load(key); ok {
		return r.(*registration)
	}
	r, loaded := registrations.LoadOrStore(key, &registration{})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Server]) { registrations.Delete(k) }, key)
	}
	return r.(*registration)
}

func (s *Server) recordScope(scope string) {
	reg := s.registration()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.scopes = append(reg.scopes, scope)
}

// assertionError is one of Entra's refusals of a client assertion.
type assertionError struct {
	status  int
	code    string
	aadsts  int
	message string
}

func refuse(aadsts int, message string) *assertionError {
	return &assertionError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: aadsts, message: message}
}

const certDocs = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
const ficDocs = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"

// checkClientAssertion authenticates the client by its client_assertion: a certificate
// assertion (x5t or x5t#S256 header) against the registered certificates, anything else
// against the federated identity credentials. It writes Entra's error and reports false when
// the assertion is refused.
func (s *Server) checkClientAssertion(w http.ResponseWriter, r *http.Request, tenant string, form url.Values) bool {
	var e *assertionError
	switch {
	case form.Get("client_assertion_type") == "":
		e = &assertionError{http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type'."}
	case form.Get("client_assertion") == "":
		e = &assertionError{http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion'."}
	case form.Get("client_assertion_type") != ClientAssertionType:
		// An assertion of another type is no credential at all to Entra.
		e = refuse(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	default:
		e = s.verifyAssertion(form.Get("client_assertion"), tenant, form.Get("client_id"), time.Now())
	}
	if e != nil {
		writeEntraError(w, r, e.status, e.code, e.aadsts, e.message)
		return false
	}
	return true
}

func (s *Server) verifyAssertion(assertion, tenant, clientID string, now time.Time) *assertionError {
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(assertion, claims)
	if err != nil {
		return refuse(50027, "JWT token is invalid or malformed.")
	}
	_, x5t := tok.Header["x5t"]
	_, x5t256 := tok.Header["x5t#S256"]
	if x5t || x5t256 {
		return s.verifyCertificateAssertion(assertion, tok, claims, tenant, clientID, now)
	}
	return s.verifyFederatedAssertion(assertion, tok, claims, now)
}

// verifyCertificateAssertion checks an assertion the app signed with a registered
// certificate's key, in the order Entra reports failures: key, signature, iss/sub, aud, time.
func (s *Server) verifyCertificateAssertion(assertion string, tok *jwt.Token, claims jwt.MapClaims, tenant, clientID string, now time.Time) *assertionError {
	cert, thumb := s.certificateFor(tok.Header)
	if cert == nil {
		return refuse(700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/%s']", thumb, clientID, clientID))
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithoutClaimsValidation())
	if _, err := parser.Parse(assertion, func(*jwt.Token) (any, error) { return cert.PublicKey, nil }); err != nil {
		return refuse(700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '%s', Found key 'Start=%s, End=%s']",
			thumb, cert.NotBefore.UTC().Format("01/02/2006 15:04:05"), cert.NotAfter.UTC().Format("01/02/2006 15:04:05")))
	}
	iss, _ := claims.GetIssuer()
	sub, _ := claims.GetSubject()
	if !strings.EqualFold(iss, clientID) || !strings.EqualFold(sub, clientID) {
		return refuse(700021, "Client assertion application identifier doesn't match 'client_id' parameter. "+certDocs)
	}
	aud, _ := claims.GetAudience()
	if !s.isTokenEndpoint(aud, tenant) {
		return refuse(700023, "Client assertion audience claim does not match Realm issuer. "+certDocs)
	}
	return checkTime(claims, now)
}

// certificateFor finds the registered certificate the header names, and the thumbprint as
// Entra quotes it (hex, upper case).
func (s *Server) certificateFor(header map[string]any) (*x509.Certificate, string) {
	sent := func(name string) []byte {
		v, _ := header[name].(string)
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(strings.TrimRight(v, "=")); err == nil {
				return b
			}
		}
		return nil
	}
	sha1Sent, sha256Sent := sent("x5t"), sent("x5t#S256")
	thumb := sha1Sent
	if thumb == nil {
		thumb = sha256Sent
	}
	reg := s.registration()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for _, c := range reg.certs {
		s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
		if (sha1Sent != nil && bytes.Equal(sha1Sent, s1[:])) || (sha256Sent != nil && bytes.Equal(sha256Sent, s256[:])) {
			return c, strings.ToUpper(hex.EncodeToString(thumb))
		}
	}
	return nil, strings.ToUpper(hex.EncodeToString(thumb))
}

// isTokenEndpoint: a certificate assertion's aud is the token endpoint it is sent to, for the
// tenant by id or domain (v2.0 or v1 path).
func (s *Server) isTokenEndpoint(aud []string, tenant string) bool {
	for _, a := range aud {
		for _, t := range []string{s.tenantID, s.tenantDomain, tenant} {
			for _, path := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				if strings.EqualFold(strings.TrimSuffix(a, "/"), s.URL+"/"+t+path) {
					return true
				}
			}
		}
	}
	return false
}

// verifyFederatedAssertion checks a token from an external issuer against the federated
// identity credentials: issuer, signature, time, subject, audience. The per-claim codes
// (700211, 700213, 700212) are what Entra answers today; it used to say AADSTS70021 for all.
func (s *Server) verifyFederatedAssertion(assertion string, tok *jwt.Token, claims jwt.MapClaims, now time.Time) *assertionError {
	iss, _ := claims.GetIssuer()
	reg := s.registration()
	reg.mu.Lock()
	var trusted []federated
	for _, f := range reg.federated {
		if f.Issuer == iss {
			trusted = append(trusted, f)
		}
	}
	reg.mu.Unlock()
	if len(trusted) == 0 {
		return refuse(700211, fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'. %s", iss, ficDocs))
	}
	kid, _ := tok.Header["kid"].(string)
	var key any
	for _, f := range trusted {
		if k, ok := f.keys[kid]; ok {
			key = k
			break
		}
	}
	if key == nil {
		return refuse(7000272, fmt.Sprintf("The certificate with identifier %s used to sign the federated credential could not be found in the metadata of identity provider %s. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.", kid, iss))
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}), jwt.WithoutClaimsValidation())
	if _, err := parser.Parse(assertion, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
		return refuse(50027, "JWT token is invalid or malformed. The token from the external issuer failed signature verification.")
	}
	if e := checkTime(claims, now); e != nil {
		return e
	}
	sub, _ := claims.GetSubject()
	var sameSubject []federated
	for _, f := range trusted {
		if f.Subject == sub {
			sameSubject = append(sameSubject, f)
		}
	}
	if len(sameSubject) == 0 {
		return refuse(700213, fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'. %s", sub, ficDocs))
	}
	aud, _ := claims.GetAudience()
	for _, f := range sameSubject {
		for _, a := range aud {
			if a == f.Audience {
				return nil
			}
		}
	}
	return refuse(700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'. %s", strings.Join(aud, ", "), ficDocs))
}

// checkTime applies exp (required) and nbf, with Entra's clock skew.
func checkTime(claims jwt.MapClaims, now time.Time) *assertionError {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return refuse(50027, "JWT token is invalid or malformed. The assertion has no valid 'exp' claim.")
	}
	from := time.Unix(0, 0).UTC()
	if nbf, err := claims.GetNotBefore(); err == nil && nbf != nil {
		from = nbf.Time
	}
	if now.After(exp.Add(clockSkew)) || now.Add(clockSkew).Before(from) {
		const f = "2006-01-02T15:04:05.0000000Z"
		return refuse(700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. %s",
			now.UTC().Format(f), from.UTC().Format(f), exp.UTC().Format(f), certDocs))
	}
	return nil
}
