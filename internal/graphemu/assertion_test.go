package graphemu

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/session-revoker/session-revoker/internal/federation/ststest"
)

type testCert struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newCert(t *testing.T) testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "graphemu test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{cert, key}
}

// certAssertion builds a client assertion as MSAL does (PS256 and x5t#S256), or as older
// clients and ADFS do (RS256 and x5t) when rs256 is set.
func certAssertion(t *testing.T, srv *Server, signer *rsa.PrivateKey, named *x509.Certificate, rs256 bool, edit func(jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{
		"aud": srv.URL + "/" + srv.TenantID + "/oauth2/v2.0/token",
		"iss": srv.ClientID, "sub": srv.ClientID, "jti": "1",
		"nbf": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	method, header := jwt.SigningMethod(jwt.SigningMethodPS256), "x5t#S256"
	thumb := sha256.Sum256(named.Raw)
	tp := thumb[:]
	if rs256 {
		method, header = jwt.SigningMethodRS256, "x5t"
		s1 := sha1.Sum(named.Raw)
		tp = s1[:]
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header[header] = base64.StdEncoding.EncodeToString(tp) // MSAL uses standard base64
	signed, err := tok.SignedString(signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func assertionForm(srv *Server, assertion string) url.Values {
	f := tokenForm(srv)
	f.Del("client_secret")
	f.Set("client_assertion_type", ClientAssertionType)
	f.Set("client_assertion", assertion)
	return f
}

func TestCertificateAssertion(t *testing.T) {
	good, other := newCert(t), newCert(t)
	srv := newTestServer(t, WithClientCertificate(good.cert))
	path := "/" + srv.TenantID + "/oauth2/v2.0/token"
	cases := []struct {
		name      string
		assertion string
		aadsts    int
		says      string
	}{
		{"MSAL: PS256, x5t#S256", certAssertion(t, srv, good.key, good.cert, false, nil), 0, ""},
		{"RS256, x5t", certAssertion(t, srv, good.key, good.cert, true, nil), 0, ""},
		{"aud by tenant domain", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) {
			c["aud"] = srv.URL + "/" + DefaultTenantDomain + "/oauth2/v2.0/token"
		}), 0, ""},
		{"unregistered certificate", certAssertion(t, srv, other.key, other.cert, false, nil), 700027, "The key was not found"},
		{"registered thumbprint, other key", certAssertion(t, srv, other.key, good.cert, false, nil), 700027, "did not match the expected signature"},
		{"iss is another app", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) { c["iss"] = "00000000-0000-4000-8000-000000000000" }), 700021, "doesn't match 'client_id'"},
		{"sub is another app", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) { c["sub"] = "someone" }), 700021, ""},
		{"aud is another authority", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) {
			c["aud"] = "https://login.microsoftonline.com/" + srv.TenantID + "/oauth2/v2.0/token"
		}), 700023, "does not match Realm issuer"},
		{"expired", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) {
			c["nbf"], c["exp"] = time.Now().Add(-30*time.Minute).Unix(), time.Now().Add(-20*time.Minute).Unix()
		}), 700024, "not within its valid time range"},
		{"not yet valid", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) {
			c["nbf"], c["exp"] = time.Now().Add(20*time.Minute).Unix(), time.Now().Add(30*time.Minute).Unix()
		}), 700024, ""},
		{"no exp", certAssertion(t, srv, good.key, good.cert, false, func(c jwt.MapClaims) { delete(c, "exp") }), 50027, ""},
		{"malformed", "a.b.c", 50027, "invalid or malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := postForm(t, srv, path, assertionForm(srv, c.assertion))
			if c.aadsts == 0 {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			e := wantEntraError(t, resp, body, http.StatusUnauthorized, "invalid_client", c.aadsts)
			if !strings.Contains(e.ErrorDescription, c.says) {
				t.Errorf("description %q does not say %q", e.ErrorDescription, c.says)
			}
		})
	}
}

func TestFederatedAssertion(t *testing.T) {
	aws, impostor := ststest.NewServer(), ststest.NewServer()
	defer aws.Close()
	defer impostor.Close()
	srv := newTestServer(t, WithFederatedCredential(FederatedCredential{Issuer: aws.Issuer, Subject: aws.Subject, JWKS: aws.JWKS()}))
	path := "/" + srv.TenantID + "/oauth2/v2.0/token"
	cases := []struct {
		name      string
		assertion string
		aadsts    int
		says      string
	}{
		{"RS256", aws.Mint(ststest.Claims{}), 0, ""},
		{"ES384", aws.Mint(ststest.Claims{ES384: true}), 0, ""},
		{"several audiences", aws.Mint(ststest.Claims{Audience: []string{"https://example.com", FederatedAudience}}), 0, ""},
		{"other issuer", aws.Mint(ststest.Claims{Issuer: "https://other.tokens.sts.global.api.aws"}), 700211, "assertion issuer 'https://other.tokens.sts.global.api.aws'"},
		{"issuer differs in case", aws.Mint(ststest.Claims{Issuer: strings.ToUpper(aws.Issuer)}), 700211, ""},
		{"other subject", aws.Mint(ststest.Claims{Subject: "arn:aws:iam::123456789012:role/other"}), 700213, "assertion subject 'arn:aws:iam::123456789012:role/other'"},
		{"other audience", aws.Mint(ststest.Claims{Audience: []string{"sts.amazonaws.com"}}), 700212, "assertion audience 'sts.amazonaws.com'"},
		{"expired", aws.Mint(ststest.Claims{IssuedAt: time.Now().Add(-20 * time.Minute), Expires: time.Now().Add(-15 * time.Minute)}), 700024, "not within its valid time range"},
		{"signed by someone else with the issuer's name", impostor.Mint(ststest.Claims{Issuer: aws.Issuer}), 50027, "signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := postForm(t, srv, path, assertionForm(srv, c.assertion))
			if c.aadsts == 0 {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			e := wantEntraError(t, resp, body, http.StatusUnauthorized, "invalid_client", c.aadsts)
			if !strings.Contains(e.ErrorDescription, c.says) {
				t.Errorf("description %q does not say %q", e.ErrorDescription, c.says)
			}
		})
	}

	// A key the issuer does not publish: the JWKS registered is another server's key set.
	other := newTestServer(t, WithFederatedCredential(FederatedCredential{Issuer: aws.Issuer, Subject: aws.Subject, JWKS: []byte(`{"keys":[{"kty":"RSA","kid":"rotated","n":"` +
		base64.RawURLEncoding.EncodeToString(newCert(t).key.N.Bytes()) + `","e":"AQAB"}]}`)}))
	resp, body := postForm(t, other, path, assertionForm(other, aws.Mint(ststest.Claims{})))
	e := wantEntraError(t, resp, body, http.StatusUnauthorized, "invalid_client", 7000272)
	if !strings.Contains(e.ErrorDescription, "ststest-rs256") {
		t.Errorf("description %q does not name the key id", e.ErrorDescription)
	}
}

func TestAssertionFormErrors(t *testing.T) {
	aws := ststest.NewServer()
	defer aws.Close()
	srv := newTestServer(t, WithFederatedCredential(FederatedCredential{Issuer: aws.Issuer, Subject: aws.Subject, JWKS: aws.JWKS()}))
	path := "/" + srv.TenantID + "/oauth2/v2.0/token"

	f := assertionForm(srv, aws.Mint(ststest.Claims{}))
	f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
	resp, body := postForm(t, srv, path, f)
	wantEntraError(t, resp, body, http.StatusUnauthorized, "invalid_client", 7000218)

	f.Del("client_assertion_type")
	resp, body = postForm(t, srv, path, f)
	wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_request", 900144)

	f = assertionForm(srv, "")
	resp, body = postForm(t, srv, path, f)
	wantEntraError(t, resp, body, http.StatusBadRequest, "invalid_request", 900144)

	// Without any federated credential, a well-formed token is an unknown issuer.
	plain := newTestServer(t)
	resp, body = postForm(t, plain, path, assertionForm(plain, aws.Mint(ststest.Claims{})))
	wantEntraError(t, resp, body, http.StatusUnauthorized, "invalid_client", 700211)
}

func TestTokenScopes(t *testing.T) {
	srv := newTestServer(t)
	getToken(t, srv)
	f := tokenForm(srv)
	f.Set("scope", "https://graph.microsoft.us/.default")
	f.Set("client_secret", "wrong")
	postForm(t, srv, "/"+srv.TenantID+"/oauth2/v2.0/token", f)
	got := srv.TokenScopes()
	if len(got) != 2 || got[0] != graphScope || got[1] != "https://graph.microsoft.us/.default" {
		t.Errorf("TokenScopes() = %q", got)
	}
	if n := len(newTestServer(t).TokenScopes()); n != 0 {
		t.Errorf("a new server has %d scopes", n)
	}
}

func TestBadJWKSPanics(t *testing.T) {
	for _, doc := range []string{`not json`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, `{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("JWKS %s accepted", doc)
				}
			}()
			WithFederatedCredential(FederatedCredential{Issuer: "https://x", Subject: "s", JWKS: []byte(doc)})
		}()
	}
}
