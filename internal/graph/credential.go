package graph

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"golang.org/x/crypto/pkcs12"

	"github.com/session-revoker/session-revoker/internal/secrets"
)

// NewCredential builds the azidentity credential for the app in creds: its client secret, or
// its certificate (PEM, or PKCS#12) whose key signs a client assertion. Errors name what is
// wrong with the credential, never its value.
func NewCredential(cfg Config, creds secrets.Credentials) (azcore.TokenCredential, error) {
	e, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	client := e.clientOptions()
	switch kind := creds.Kind(); kind {
	case secrets.ClientSecret:
		cred, err := azidentity.NewClientSecretCredential(creds.TenantID, creds.ClientID, creds.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: e.custom})
		if err != nil {
			// azidentity's message may quote its arguments; name the problem only.
			return nil, errors.New("client secret credential: tenantId or clientId is malformed")
		}
		return cred, nil
	case secrets.Certificate, secrets.CertificatePFX:
		certs, key, err := certificate(creds)
		if err != nil {
			return nil, err
		}
		cred, err := azidentity.NewClientCertificateCredential(creds.TenantID, creds.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: e.custom})
		if err != nil {
			// certificate has checked the key against the certificates: what is left is the ids.
			return nil, fmt.Errorf("%s credential: tenantId or clientId is malformed", kind)
		}
		return cred, nil
	}
	return nil, errors.New("the secret holds no credential: clientSecret, certificate or certificatePfx")
}

// NewFederatedCredential builds a credential that authenticates the app with the JWT that
// assertion returns (a federated identity credential on the app registration: for this
// function, its AWS identity from STS) instead of a secret.
func NewFederatedCredential(cfg Config, tenantID, clientID string, assertion func(context.Context) (string, error)) (azcore.TokenCredential, error) {
	e, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	callback := func(ctx context.Context) (string, error) {
		jwt, err := assertion(ctx)
		if err != nil {
			if slot, ok := ctx.Value(assertionFailure{}).(*error); ok {
				*slot = err
			}
		}
		return jwt, err
	}
	cred, err := azidentity.NewClientAssertionCredential(tenantID, clientID, callback,
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: e.custom})
	if err != nil {
		return nil, errors.New("federated credential: GRAPH_TENANT_ID or GRAPH_CLIENT_ID is malformed")
	}
	return &federatedCredential{cred: cred}, nil
}

// federatedCredential returns the assertion callback's own error when that is why no token
// came: azidentity flattens it into an AuthenticationFailedError whose text the error
// classification reads as "Entra refused the token request", which would send an operator to
// Entra for what is an AWS permission or setup problem.
type federatedCredential struct {
	cred *azidentity.ClientAssertionCredential
}

type assertionFailure struct{}

func (c *federatedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	var failed error
	tok, err := c.cred.GetToken(context.WithValue(ctx, assertionFailure{}, &failed), opts)
	if err != nil && failed != nil {
		return tok, &assertionError{err: failed}
	}
	return tok, err
}

// assertionError is a failure to get the federated assertion from STS: an AWS-side
// problem, classified as a credential failure (or unavailability) with STS's own words.
type assertionError struct{ err error }

func (e *assertionError) Error() string { return e.err.Error() }
func (e *assertionError) Unwrap() error { return e.err }

// clientOptions points azidentity at the authority. Each credential also sets
// DisableInstanceDiscovery to e.custom: instance discovery asks login.microsoftonline.com
// about the authority, and for one the operator configured explicitly there is nothing to
// discover.
func (e endpoints) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.authority}}
}

// certificate reads the certificates and RSA key of a PEM or PKCS#12 credential with
// azidentity.ParseCertificates, first naming the shapes it cannot read.
func certificate(creds secrets.Credentials) ([]*x509.Certificate, crypto.PrivateKey, error) {
	field, data, password := "certificate", []byte(creds.Certificate), []byte(nil)
	if creds.Kind() == secrets.CertificatePFX {
		field, data, password = "certificatePfx", creds.PFX(), []byte(creds.CertificatePassword)
	} else if err := checkPEM(data); err != nil {
		return nil, nil, err
	}
	certs, key, err := azidentity.ParseCertificates(data, password)
	if err != nil {
		var unsupported pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return nil, nil, errors.New("certificatePfx: certificatePassword does not open it")
		case errors.As(err, &unsupported):
			return nil, nil, errors.New("certificatePfx uses an encryption Go's PKCS#12 reader does not support (the AES-256/PBKDF2 default of OpenSSL 3 and recent Windows exports): re-export it with the legacy algorithms (openssl pkcs12 -export -legacy ...) or store the PEM certificate and key in \"certificate\" instead")
		case field == "certificatePfx":
			return nil, nil, errors.New("certificatePfx is not a PKCS#12 file with a certificate and its private key")
		}
		// x509 and asn1 errors describe structure, never the bytes.
		return nil, nil, fmt.Errorf("certificate: the PEM certificate or private key could not be parsed: %v", err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: the private key is not RSA: Entra certificate credentials (and azidentity) need an RSA key", field)
	}
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&rsaKey.PublicKey) {
			return certs, key, nil
		}
	}
	return nil, nil, fmt.Errorf("%s: the private key does not belong to any certificate stored with it", field)
}

// checkPEM names what azidentity would refuse in a PEM credential with a less helpful error:
// an encrypted key, an EC key, a certificate without its key.
func checkPEM(data []byte) error {
	var certs, keys int
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case strings.Contains(block.Type, "ENCRYPTED") || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
			return errors.New("certificate: the private key is encrypted, and azidentity cannot read encrypted PEM keys: store it unencrypted (Secrets Manager encrypts the secret with KMS: openssl pkey -in key.pem -out plain.pem) or use \"certificatePfx\" with \"certificatePassword\"")
		case block.Type == "EC PRIVATE KEY":
			return errors.New("certificate: the private key is an EC key: Entra certificate credentials (and azidentity) need an RSA key")
		case block.Type == "CERTIFICATE":
			certs++
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			keys++
		}
	}
	switch {
	case certs == 0 && keys == 0:
		return errors.New("certificate holds no PEM block: expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY-----")
	case certs == 0:
		return errors.New("certificate holds a private key but no -----BEGIN CERTIFICATE----- block")
	case keys == 0:
		return errors.New("certificate holds no private key: store the certificate and its unencrypted private key together (-----BEGIN PRIVATE KEY-----)")
	}
	return nil
}
