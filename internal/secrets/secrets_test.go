package secrets

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Values no error or rendering may contain.
const (
	secretValue = "s3cr3t~VALUE~abc"
	pemValue    = "-----BEGIN CERTIFICATE-----\nMIIBcertBODYxyz\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIEkeyBODYqrs\n-----END PRIVATE KEY-----\n"
	password    = "pfx-passw0rd-value"
)

var pfxValue = base64.StdEncoding.EncodeToString([]byte("\x30\x82pkcs12-bytes-value"))

func TestParse(t *testing.T) {
	ids := `"tenantId": "t-id", "clientId": "c-id"`
	cases := []struct {
		name, raw string
		kind      Kind
		err       string // substring of the error; "" for success
	}{
		{"client secret", `{` + ids + `, "clientSecret": "` + secretValue + `"}`, ClientSecret, ""},
		{"PEM certificate", fmt.Sprintf(`{%s, "certificate": %q}`, ids, pemValue), Certificate, ""},
		{"PFX with password", fmt.Sprintf(`{%s, "certificatePfx": %q, "certificatePassword": %q}`, ids, pfxValue, password), CertificatePFX, ""},
		{"PFX without password", fmt.Sprintf(`{%s, "certificatePfx": %q}`, ids, pfxValue), CertificatePFX, ""},
		{"PFX wrapped over lines", fmt.Sprintf(`{%s, "certificatePfx": %q}`, ids, pfxValue[:8]+"\n"+pfxValue[8:]), CertificatePFX, ""},
		{"unknown fields are ignored", `{` + ids + `, "clientSecret": "` + secretValue + `", "note": "rotated 2026-01"}`, ClientSecret, ""},

		{"no credential", `{` + ids + `}`, "", "holds no credential"},
		{"empty credential", `{` + ids + `, "clientSecret": ""}`, "", "holds no credential"},
		{"secret and certificate", fmt.Sprintf(`{%s, "clientSecret": %q, "certificate": %q}`, ids, secretValue, pemValue), "", "more than one credential (clientSecret, certificate)"},
		{"certificate and PFX", fmt.Sprintf(`{%s, "certificate": %q, "certificatePfx": %q}`, ids, pemValue, pfxValue), "", "more than one credential (certificate, certificatePfx)"},
		{"all three", fmt.Sprintf(`{%s, "clientSecret": %q, "certificate": %q, "certificatePfx": %q}`, ids, secretValue, pemValue, pfxValue), "", "(clientSecret, certificate, certificatePfx)"},
		{"missing tenantId", `{"clientId": "c-id", "clientSecret": "` + secretValue + `"}`, "", "lacks tenantId"},
		{"missing both ids", `{"certificate": ` + fmt.Sprintf("%q", pemValue) + `}`, "", "lacks tenantId, clientId"},
		{"blank clientId", `{"tenantId": "t", "clientId": "  ", "clientSecret": "` + secretValue + `"}`, "", "lacks clientId"},
		{"password with PEM", fmt.Sprintf(`{%s, "certificate": %q, "certificatePassword": %q}`, ids, pemValue, password), "", "encrypted PEM keys are not supported"},
		{"password with secret", fmt.Sprintf(`{%s, "clientSecret": %q, "certificatePassword": %q}`, ids, secretValue, password), "", `"certificatePassword" goes with "certificatePfx" only`},
		{"certificate not PEM", fmt.Sprintf(`{%s, "certificate": %q}`, ids, "MIIB"+secretValue), "", `"certificate" is not PEM`},
		{"PFX not base64", fmt.Sprintf(`{%s, "certificatePfx": %q}`, ids, "not base64! "+password), "", `"certificatePfx" is not base64`},
		{"secret is a number", `{` + ids + `, "clientSecret": 12345678}`, "", `field "clientSecret" must be a string`},
		{"certificate is an object", `{` + ids + `, "certificate": {"pem": "` + secretValue + `"}}`, "", `field "certificate" must be a string`},
		{"tenantId is a list", `{"tenantId": ["t"], "clientId": "c", "clientSecret": "` + secretValue + `"}`, "", `field "tenantId" must be a string`},
		{"not JSON", `tenant=t;secret=` + secretValue, "", "not valid JSON (syntax error at byte"},
		{"truncated JSON", `{"tenantId": "t", "clientSecret": "` + secretValue, "", "not a JSON object"},
		{"JSON string", `"` + secretValue + `"`, "", "not a JSON object"},
		{"JSON array", `["` + secretValue + `"]`, "", "not a JSON object"},
		{"empty", ``, "", "not a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			if c.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got.Kind() != c.kind || got.TenantID != "t-id" || got.ClientID != "c-id" {
					t.Errorf("got kind %q, %v", got.Kind(), got)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %v", got)
			}
			if !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %q, want it to contain %q", err, c.err)
			}
			for _, v := range []string{secretValue, "certBODY", "keyBODY", password, pfxValue, "pkcs12-bytes"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q repeats a secret value", err)
				}
			}
		})
	}
}

func TestPFXDecodes(t *testing.T) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		raw := []byte("\xfb\xff\xfe pkcs12 \x00\x01")
		c, err := Parse(fmt.Sprintf(`{"tenantId":"t","clientId":"c","certificatePfx":%q}`, enc.EncodeToString(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.PFX(), raw) {
			t.Errorf("PFX() = %q", c.PFX())
		}
	}
}

func TestRedaction(t *testing.T) {
	all := Credentials{TenantID: "t-id", ClientID: "c-id", ClientSecret: secretValue, Certificate: pemValue, CertificatePFX: pfxValue, CertificatePassword: password}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "credentials", all)
	renderings := map[string]string{
		"%v": fmt.Sprintf("%v", all), "%+v": fmt.Sprintf("%+v", all), "%#v": fmt.Sprintf("%#v", all),
		"%s": fmt.Sprintf("%s", all), "%q": fmt.Sprintf("%q", all), "pointer %v": fmt.Sprintf("%v", &all),
		"slog JSON": logged.String(),
	}
	for how, out := range renderings {
		for _, v := range []string{secretValue, "BEGIN", "certBODY", password, pfxValue} {
			if strings.Contains(out, v) {
				t.Errorf("%s shows a secret value: %s", how, out)
			}
		}
		if !strings.Contains(out, "t-id") || !strings.Contains(out, "c-id") {
			t.Errorf("%s lost the ids: %s", how, out)
		}
	}
	want := "Credentials{tenantId: t-id, clientId: c-id, clientSecret: [redacted], certificate: [redacted], certificatePfx: [redacted], certificatePassword: [redacted]}"
	if got := all.String(); got != want {
		t.Errorf("String() = %s", got)
	}
	if got := (Credentials{TenantID: "t", ClientID: "c", Certificate: pemValue}).String(); got != "Credentials{tenantId: t, clientId: c, certificate: [redacted]}" {
		t.Errorf("certificate String() = %s", got)
	}
}
