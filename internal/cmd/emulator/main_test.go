package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/graphemu"
)

// The printed environment must be enough to reach the emulator: trust from SSL_CERT_FILE,
// discovery under AZURE_AUTHORITY_HOST, a token for the printed credentials, and Graph.
func TestRunPrintsAWorkingEnvironment(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, outW, &stderr); outW.Close() }()

	env := map[string]string{}
	sc := bufio.NewScanner(outR)
	for len(env) < 6 && sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("line %q is not KEY=VALUE", sc.Text())
		}
		env[k] = v
	}
	go io.Copy(io.Discard, outR)

	pemBytes, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("SSL_CERT_FILE holds no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}

	if !strings.HasSuffix(env["AZURE_AUTHORITY_HOST"], "/") || env["AZURE_AUTHORITY_HOST"] != env["GRAPH_BASE_URL"]+"/" {
		t.Errorf("env %v", env)
	}
	resp, err := c.Get(env["AZURE_AUTHORITY_HOST"] + env["EMULATOR_TENANT_ID"] + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("discovery: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(env["AZURE_AUTHORITY_HOST"]+env["EMULATOR_TENANT_ID"]+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {env["EMULATOR_CLIENT_ID"]},
		"client_secret": {env["EMULATOR_CLIENT_SECRET"]}, "scope": {"https://graph.microsoft.com/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("token: %d", resp.StatusCode)
	}
	if env["EMULATOR_TENANT_ID"] != graphemu.DefaultTenantID || env["EMULATOR_CLIENT_ID"] != graphemu.DefaultClientID {
		t.Errorf("env %v", env)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	if _, err := os.Stat(env["SSL_CERT_FILE"]); !os.IsNotExist(err) {
		t.Errorf("certificate file left behind: %v", err)
	}
	log := stderr.String()
	if !strings.Contains(log, "POST /"+env["EMULATOR_TENANT_ID"]+"/oauth2/v2.0/token 200") || strings.Contains(log, env["EMULATOR_CLIENT_SECRET"]) {
		t.Errorf("request log:\n%s", log)
	}
}

func TestRunLoadsUsersFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	os.WriteFile(file, []byte(`{"users":[{"id":"x","userPrincipalName":"a@b"},{"id":"x","userPrincipalName":"c@d"}]}`), 0o600)
	if err := run(context.Background(), []string{"-users", file}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("err = %v, want a duplicate-key error", err)
	}
	if err := run(context.Background(), []string{"-users", filepath.Join(t.TempDir(), "missing.json")}, io.Discard, io.Discard); err == nil {
		t.Error("no error for a missing file")
	}
}
