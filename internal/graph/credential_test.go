package graph_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-revoker/session-revoker/internal/federation"
	"github.com/session-revoker/session-revoker/internal/federation/ststest"
	"github.com/session-revoker/session-revoker/internal/graph"
	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/secrets"
)

const pfxPassword = "graphemu-pfx-test"

// pemCredential is a fresh RSA key and self-signed certificate, in PEM as an operator stores
// it, and the certificate to register in the emulator.
func pemCredential(t *testing.T, keyType string) (string, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t, &key.PublicKey, key)
	var keyDER []byte
	if keyType == "RSA PRIVATE KEY" {
		keyDER = x509.MarshalPKCS1PrivateKey(key)
	} else if keyDER, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})) +
		string(pem.EncodeToMemory(&pem.Block{Type: keyType, Bytes: keyDER})), cert
}

func selfSigned(t *testing.T, pub, priv any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "session-revoker test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func readPFX(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func emuConfig(emu *graphemu.Server) graph.Config {
	return graph.Config{GraphRoot: emu.GraphRoot(), AuthorityHost: emu.AuthorityHost()}
}

// revokeWith builds a client over cred and revokes one user.
func revokeWith(t *testing.T, cfg graph.Config, cred azcore.TokenCredential, newErr error) error {
	t.Helper()
	if newErr != nil {
		t.Fatalf("credential: %v", newErr)
	}
	c, err := graph.New(cfg, cred)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RevokeSignInSessions(ctx(t), "AlexW@contoso.onmicrosoft.com")
	return err
}

func TestCertificateCredential(t *testing.T) {
	pkcs8, pkcs8Cert := pemCredential(t, "PRIVATE KEY")
	pkcs1, pkcs1Cert := pemCredential(t, "RSA PRIVATE KEY")
	certs, _, err := azidentity.ParseCertificates([]byte(mustDecode(t, readPFX(t, "legacy.pfx"))), []byte(pfxPassword))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		creds func(*graphemu.Server) secrets.Credentials
		cert  *x509.Certificate
	}{
		{"PEM, PKCS#8 key", func(e *graphemu.Server) secrets.Credentials {
			return secrets.Credentials{TenantID: e.TenantID, ClientID: e.ClientID, Certificate: pkcs8}
		}, pkcs8Cert},
		{"PEM, PKCS#1 key", func(e *graphemu.Server) secrets.Credentials {
			return secrets.Credentials{TenantID: e.TenantID, ClientID: e.ClientID, Certificate: pkcs1}
		}, pkcs1Cert},
		{"PKCS#12", func(e *graphemu.Server) secrets.Credentials {
			return secrets.Credentials{TenantID: e.TenantID, ClientID: e.ClientID, CertificatePFX: readPFX(t, "legacy.pfx"), CertificatePassword: pfxPassword}
		}, certs[0]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			emu := graphemu.NewServer(graphemu.DefaultUsers(), graphemu.WithClientCertificate(c.cert))
			defer emu.Close()
			cred, err := graph.NewCredential(emuConfig(emu), c.creds(emu))
			if err := revokeWith(t, emuConfig(emu), cred, err); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if reqs := graphRequests(emu); len(reqs) != 1 || !reqs[0].HasBearer {
				t.Errorf("Graph requests %+v", reqs)
			}
			if emu.TokenRequests() != 1 {
				t.Errorf("%d tokens issued", emu.TokenRequests())
			}
		})
	}
}

func mustDecode(t *testing.T, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWrongCertificate(t *testing.T) {
	_, registered := pemCredential(t, "PRIVATE KEY")
	presented, _ := pemCredential(t, "PRIVATE KEY")
	emu := graphemu.NewServer(graphemu.DefaultUsers(), graphemu.WithClientCertificate(registered))
	defer emu.Close()
	cred, err := graph.NewCredential(emuConfig(emu), secrets.Credentials{TenantID: emu.TenantID, ClientID: emu.ClientID, Certificate: presented})
	err = revokeWith(t, emuConfig(emu), cred, err)
	ge := kindOf(t, err)
	if ge.Kind != revoke.Credential || ge.Code != "AADSTS700027" || ge.Retryable() {
		t.Errorf("wrong certificate: %+v", ge)
	}
	if strings.Contains(ge.Error(), "PRIVATE KEY") {
		t.Error("the error repeats the key")
	}
	if reqs := graphRequests(emu); len(reqs) != 0 {
		t.Errorf("Graph called without a token: %+v", reqs)
	}
}

func TestCertificateProblems(t *testing.T) {
	good, _ := pemCredential(t, "PRIVATE KEY")
	certPEM, keyPEM, _ := strings.Cut(good, "-----END CERTIFICATE-----\n")
	certPEM += "-----END CERTIFICATE-----\n"
	other, _ := pemCredential(t, "PRIVATE KEY")
	_, otherKey, _ := strings.Cut(other, "-----END CERTIFICATE-----\n")

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert := selfSigned(t, &ecKey.PublicKey, ecKey)
	ecSEC1, _ := x509.MarshalECPrivateKey(ecKey)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecCertPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ecCert.Raw}))

	encrypted := certPEM + string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("opaque-encrypted-key-bytes")}))
	legacyEncrypted := certPEM + string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: []byte("opaque")}))

	inPEM := func(s string) secrets.Credentials {
		return secrets.Credentials{TenantID: "t", ClientID: "c", Certificate: s}
	}
	inPFX := func(b64, pw string) secrets.Credentials {
		return secrets.Credentials{TenantID: "t", ClientID: "c", CertificatePFX: b64, CertificatePassword: pw}
	}
	cases := []struct {
		name  string
		creds secrets.Credentials
		want  string
	}{
		{"encrypted PKCS#8 key", inPEM(encrypted), "encrypted PEM keys"},
		{"encrypted legacy PEM key", inPEM(legacyEncrypted), "encrypted PEM keys"},
		{"EC key (SEC 1)", inPEM(ecCertPEM + string(encodePEM("EC PRIVATE KEY", ecSEC1))), "need an RSA key"},
		{"EC key (PKCS#8)", inPEM(ecCertPEM + string(encodePEM("PRIVATE KEY", ecPKCS8))), "need an RSA key"},
		{"certificate without key", inPEM(certPEM), "holds no private key"},
		{"key without certificate", inPEM(keyPEM), "no -----BEGIN CERTIFICATE----- block"},
		{"key of another certificate", inPEM(certPEM + otherKey), "does not belong to any certificate"},
		{"not PEM", inPEM("-----BEGIN nothing"), "holds no PEM block"},
		{"OpenSSL 3 PKCS#12", inPFX(readPFX(t, "aes256.pfx"), pfxPassword), "-legacy"},
		{"wrong PKCS#12 password", inPFX(readPFX(t, "legacy.pfx"), "not-the-password"), "certificatePassword does not open it"},
		{"not PKCS#12", inPFX(base64.StdEncoding.EncodeToString([]byte("just some bytes, not a pfx")), ""), "not a PKCS#12 file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := graph.NewCredential(graph.Config{}, c.creds)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
			for _, v := range []string{"MII", "opaque", c.creds.CertificatePassword, "just some bytes"} {
				if v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("error %q repeats part of the credential", err)
				}
			}
		})
	}
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// awsFor is the real STS client and federation.Source against a fake STS, and an emulator
// that trusts that fake's issuer for the function's role.
func awsFor(t *testing.T, opts ...graphemu.Option) (*ststest.Server, *federation.Source, *graphemu.Server) {
	t.Helper()
	fake := ststest.NewServer()
	t.Cleanup(fake.Close)
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	emu := graphemu.NewServer(graphemu.DefaultUsers(), append([]graphemu.Option{graphemu.WithFederatedCredential(graphemu.FederatedCredential{
		Issuer: fake.Issuer, Subject: fake.Subject, JWKS: fake.JWKS()})}, opts...)...)
	t.Cleanup(emu.Close)
	return fake, federation.New(client), emu
}

func TestFederatedCredential(t *testing.T) {
	fake, src, emu := awsFor(t)
	cfg := emuConfig(emu)
	cred, err := graph.NewFederatedCredential(cfg, emu.TenantID, emu.ClientID, src.Token)
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(cfg, cred)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"AlexW@contoso.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com"} {
		if _, err := c.RevokeSignInSessions(ctx(t), u); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if n, calls := emu.TokenRequests(), fake.Calls(); n != 1 || len(calls) != 1 {
		t.Errorf("%d tokens and %d STS calls for two revokes", n, len(calls))
	}
	if reqs := graphRequests(emu); len(reqs) != 2 || !reqs[0].HasBearer || !reqs[1].HasBearer {
		t.Errorf("Graph requests %+v", reqs)
	}
}

func TestFederatedAssertionRefused(t *testing.T) {
	cases := []struct {
		name   string
		claims func(*ststest.Server) ststest.Claims
		code   string
	}{
		{"wrong audience", func(*ststest.Server) ststest.Claims { return ststest.Claims{Audience: []string{"sts.amazonaws.com"}} }, "AADSTS700212"},
		{"wrong issuer", func(*ststest.Server) ststest.Claims {
			return ststest.Claims{Issuer: "https://0000.tokens.sts.global.api.aws"}
		}, "AADSTS700211"},
		{"wrong subject", func(*ststest.Server) ststest.Claims {
			return ststest.Claims{Subject: "arn:aws:iam::123456789012:role/someone-else"}
		}, "AADSTS700213"},
		{"expired", func(*ststest.Server) ststest.Claims {
			return ststest.Claims{IssuedAt: time.Now().Add(-time.Hour), Expires: time.Now().Add(-50 * time.Minute)}
		}, "AADSTS700024"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake, _, emu := awsFor(t)
			assertion := func(context.Context) (string, error) { return fake.Mint(c.claims(fake)), nil }
			cred, err := graph.NewFederatedCredential(emuConfig(emu), emu.TenantID, emu.ClientID, assertion)
			ge := kindOf(t, revokeWith(t, emuConfig(emu), cred, err))
			if ge.Kind != revoke.Credential || ge.Code != c.code || ge.Retryable() {
				t.Errorf("got %+v, want a credential error %s", ge, c.code)
			}
			if reqs := graphRequests(emu); len(reqs) != 0 {
				t.Errorf("Graph called without a token: %+v", reqs)
			}
		})
	}
}

// An STS failure reaches the caller as itself, not as a refusal by Entra.
func TestFederatedSTSFailure(t *testing.T) {
	fake, src, emu := awsFor(t)
	fake.Fail(ststest.AccessDenied)
	cred, err := graph.NewFederatedCredential(emuConfig(emu), emu.TenantID, emu.ClientID, src.Token)
	err = revokeWith(t, emuConfig(emu), cred, err)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"sts:GetWebIdentityToken", "aws iam enable-outbound-web-identity-federation"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Entra refused") {
		t.Errorf("an AWS failure reported as Entra's: %v", err)
	}
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "/token") || strings.HasPrefix(r.Path, "/v1.0/") {
			t.Errorf("request reached the token endpoint or Graph: %+v", r)
		}
	}
	t.Log(err)
}

// TestNationalClouds: with the hosts overridden to the emulator, every credential kind still
// asks the configured authority for the cloud's own Graph scope.
func TestNationalClouds(t *testing.T) {
	certPEM, cert := pemCredential(t, "PRIVATE KEY")
	for _, name := range []string{"global", "usgov", "usgovdod", "china"} {
		for _, kind := range []string{"secret", "certificate", "federated"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				_, src, emu := awsFor(t, graphemu.WithClientCertificate(cert))
				cfg := graph.Config{Cloud: name, GraphRoot: emu.GraphRoot(), AuthorityHost: emu.AuthorityHost()}
				var cred azcore.TokenCredential
				var err error
				switch kind {
				case "secret":
					cred, err = graph.NewCredential(cfg, secrets.Credentials{TenantID: emu.TenantID, ClientID: emu.ClientID, ClientSecret: emu.ClientSecret})
				case "certificate":
					cred, err = graph.NewCredential(cfg, secrets.Credentials{TenantID: emu.TenantID, ClientID: emu.ClientID, Certificate: certPEM})
				case "federated":
					cred, err = graph.NewFederatedCredential(cfg, emu.TenantID, emu.ClientID, src.Token)
				}
				if err := revokeWith(t, cfg, cred, err); err != nil {
					t.Fatalf("revoke: %v", err)
				}
				scopes := emu.TokenScopes()
				if len(scopes) != 1 || strings.Fields(scopes[0])[0] != graph.Clouds[name].Scope {
					t.Errorf("token request scopes %q, want %s", scopes, graph.Clouds[name].Scope)
				}
				var tokenPaths []string
				for _, r := range emu.Requests() {
					if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
						tokenPaths = append(tokenPaths, r.Path)
					}
				}
				if len(tokenPaths) != 1 || tokenPaths[0] != "/"+emu.TenantID+"/oauth2/v2.0/token" {
					t.Errorf("token requests at the configured authority: %q", tokenPaths)
				}
			})
		}
	}
}
