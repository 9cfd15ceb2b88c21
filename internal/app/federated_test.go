package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/session-revoker/session-revoker/internal/app"
	"github.com/session-revoker/session-revoker/internal/federation/ststest"
	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// TestFederated runs the secretless path from the environment on: GRAPH_AUTH=federated,
// no Secrets Manager secret, the real STS client (against a loopback STS: moto 5.2.1 does
// not implement GetWebIdentityToken) and the emulator trusting that issuer for the role,
// standing in for a US Gov L4 tenant.
func TestFederated(t *testing.T) {
	fake := ststest.NewServer()
	defer fake.Close()
	emu := graphemu.NewServer(graphemu.DefaultUsers(), graphemu.WithFederatedCredential(graphemu.FederatedCredential{
		Issuer: fake.Issuer, Subject: fake.Subject, JWKS: fake.JWKS()}))
	defer emu.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", fake.URL)
	env := map[string]string{
		"GRAPH_AUTH": "federated", "GRAPH_TENANT_ID": emu.TenantID, "GRAPH_CLIENT_ID": emu.ClientID,
		"GRAPH_CLOUD": "usgov", "GRAPH_BASE_URL": emu.GraphRoot(), "AZURE_AUTHORITY_HOST": emu.AuthorityHost(),
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h, err := app.New(context.Background(), cfg, app.Logger(&logs, "INFO"))
	if err != nil {
		t.Fatal(err)
	}
	ct := &container{emu: emu, h: lambda.NewHandler(h.Handle), handler: h}
	for _, f := range []string{"entra-risk-detection.json", "entra-risky-user.json"} {
		res, err := ct.result(t, fixture(t, f))
		if err != nil || res.Targets[0].Status != outcome.Revoked {
			t.Fatalf("%s: %v %+v", f, err, res.Targets)
		}
	}
	if n, calls := emu.TokenRequests(), fake.Calls(); n != 1 || len(calls) != 1 {
		t.Errorf("%d tokens and %d STS calls for two invocations", n, len(calls))
	}
	for _, scope := range emu.TokenScopes() {
		if !strings.HasPrefix(scope, "https://graph.microsoft.us/.default") {
			t.Errorf("token scope %q is not the US Gov cloud's", scope)
		}
	}

	// STS refuses: the user fails with STS's reason and its fix, not Entra's.
	fake2 := ststest.NewServer()
	defer fake2.Close()
	fake2.Fail(ststest.AccessDenied)
	t.Setenv("AWS_ENDPOINT_URL_STS", fake2.URL)
	h2, err := app.New(context.Background(), cfg, app.Logger(&logs, "INFO"))
	if err != nil {
		t.Fatal(err)
	}
	ct2 := &container{emu: emu, h: lambda.NewHandler(h2.Handle), handler: h2}
	_, err = ct2.invoke(t, fixture(t, "entra-risky-user.json"))
	if err == nil || !strings.Contains(err.Error(), "sts:GetWebIdentityToken") {
		t.Errorf("STS denied: %v", err)
	}
}
