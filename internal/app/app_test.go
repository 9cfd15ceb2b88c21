package app_test

// End-to-end tests: the real handler built by app.New, the real aws-sdk-go-v2 Secrets
// Manager client against moto_server, and the real azidentity and msgraph-sdk-go against
// the Graph/Entra emulator over TLS on loopback.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/app"
	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/handler"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

var (
	logs   syncBuffer // every log line of every test, scanned for secrets at the end
	secret atomic.Int64
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	emu := graphemu.NewServer(nil)
	dir, err := os.MkdirTemp("", "app-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, emu.CertificatePEM(), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	emu.Close()
	os.Setenv("SSL_CERT_FILE", ca)

	aws, err := moto.Start(context.Background())
	if err != nil {
		// Not a skip: CI must have moto_server, and a missing one must be seen.
		fmt.Fprintln(os.Stderr, "FAIL: these tests need moto_server:", err)
		return 1
	}
	defer aws.Stop()
	for k, v := range aws.Env() {
		os.Setenv(k, v)
	}
	return m.Run()
}

// container is one Lambda container: an emulator-backed tenant, its secret in moto, and
// the handler app.New builds once.
type container struct {
	emu      *graphemu.Server
	secretID string
	h        lambda.Handler
	handler  *handler.Handler // to shorten backoff in fault tests
	log      *bytes.Buffer
}

func newContainer(t testing.TB, env map[string]string, secretValue func(*graphemu.Server) string) *container {
	t.Helper()
	return newContainerOn(t, env, secretValue)
}

// newContainerOn is newContainer with the emulator's options (page size, ...).
func newContainerOn(t testing.TB, env map[string]string, secretValue func(*graphemu.Server) string, opts ...graphemu.Option) *container {
	t.Helper()
	emu := graphemu.NewServer(graphemu.DefaultUsers(), opts...)
	t.Cleanup(emu.Close)
	return newContainerAt(t, emu, env, secretValue)
}

// newContainerAt is a container of a tenant already running: several containers of one
// deployment share the tenant (and, through env, the state table).
func newContainerAt(t testing.TB, emu *graphemu.Server, env map[string]string, secretValue func(*graphemu.Server) string) *container {
	t.Helper()
	c := &container{emu: emu, secretID: fmt.Sprintf("session-revoker/test-%d", secret.Add(1)), log: &bytes.Buffer{}}
	value := fmt.Sprintf(`{"tenantId":%q,"clientId":%q,"clientSecret":%q}`, emu.TenantID, emu.ClientID, emu.ClientSecret)
	if secretValue != nil {
		value = secretValue(emu)
	}
	if value != "" {
		if err := moto.PutSecret(context.Background(), c.secretID, value); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{
		"GRAPH_SECRET_ID":      c.secretID,
		"GRAPH_BASE_URL":       emu.GraphRoot(),
		"AZURE_AUTHORITY_HOST": emu.AuthorityHost(),
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	// DEBUG unless the test asks for less (a benchmark's millions of lines would be its
	// memory).
	h, err := app.New(context.Background(), cfg, app.Logger(multi{c.log, &logs}, cmp.Or(vars["AWS_LAMBDA_LOG_LEVEL"], "DEBUG")))
	if err != nil {
		t.Fatal(err)
	}
	c.h = lambda.NewHandler(h.Handle)
	c.handler = h
	return c
}

type multi []interface{ Write([]byte) (int, error) }

func (m multi) Write(p []byte) (int, error) {
	for _, w := range m {
		w.Write(p)
	}
	return len(p), nil
}

// invoke runs the handler as the Lambda runtime does: JSON in, JSON out.
func (c *container) invoke(t testing.TB, payload []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-" + t.Name()})
	return c.h.Invoke(ctx, payload)
}

func (c *container) result(t *testing.T, payload []byte) (outcome.Result, error) {
	t.Helper()
	out, err := c.invoke(t, payload)
	var res outcome.Result
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("result is not JSON: %v: %s", jerr, out)
		}
	}
	return res, err
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statuses lists "who status" per target, who being the UPN or else the id or identifier.
func statuses(res outcome.Result) []string {
	var s []string
	for _, t := range res.Targets {
		who := t.UserPrincipalName
		if who == "" {
			who = t.UserID
		}
		if who == "" {
			who = t.Identifier
		}
		s = append(s, who+" "+string(t.Status))
	}
	return s
}

// revokes counts revoke calls that reached Graph with a token.
func revokes(emu *graphemu.Server) []string {
	var paths []string
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "/revokeSignInSessions") {
			paths = append(paths, fmt.Sprintf("%s %d bearer=%v", r.Path, r.Status, r.HasBearer))
		}
	}
	return paths
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		file    string
		want    []string
		revokes int
		err     string // substring of the invocation error, "" for none
	}{
		{"graph-security-alert.json", []string{"AdeleV@contoso.onmicrosoft.com revoked"}, 1, ""},
		{"graph-security-alerts-list.json", []string{"MeganB@contoso.onmicrosoft.com revoked", `NT AUTHORITY\SYSTEM skipped`}, 1, ""},
		{"entra-risk-detection.json", []string{"AlexW@contoso.onmicrosoft.com revoked"}, 1, ""},
		{"entra-risky-user.json", []string{"LeeG@contoso.onmicrosoft.com revoked"}, 1, ""},
		{"direct-user-id.json", []string{"PattiF@contoso.onmicrosoft.com revoked"}, 1, ""},
		// Named by object id only: Graph's answer names the user (the dry run asked too).
		{"direct-input-object.json", []string{"AdeleV@contoso.onmicrosoft.com would-revoke"}, 0, ""},
		// Decided from the state: only the compromised user is revoked; the deleted one
		// is never sent to Graph.
		{"entra-risky-users-list.json", []string{"IsaiahL@contoso.onmicrosoft.com revoked", "AlexW@contoso.onmicrosoft.com skipped",
			"MeganB@contoso.onmicrosoft.com skipped", "AllanD@contoso.onmicrosoft.com not-found", "kai_northwind.com#EXT#@contoso.onmicrosoft.com skipped"}, 1, ""},
		// No @odata.type; Nestor's object id is cut short, so he is revoked by his UPN.
		{"graph-security-alert-no-odata-type.json", []string{"JohannaL@contoso.onmicrosoft.com revoked", "NestorW@contoso.onmicrosoft.com revoked"}, 2, ""},
		{"graph-security-alert-resolved.json", []string{"AdeleV@contoso.onmicrosoft.com skipped"}, 0, ""},
		{"sentinel-entities-list.json", []string{"GradyA@contoso.onmicrosoft.com revoked"}, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			ct := newContainer(t, nil, nil)
			res, err := ct.result(t, fixture(t, c.file))
			if err != nil {
				t.Fatalf("invocation error: %v", err)
			}
			if got := statuses(res); strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			r := revokes(ct.emu)
			if len(r) != c.revokes {
				t.Errorf("%d revoke calls, want %d: %v", len(r), c.revokes, r)
			}
			for _, line := range r {
				if !strings.HasSuffix(line, "200 bearer=true") {
					t.Errorf("revoke call %s", line)
				}
			}
			for _, o := range res.Targets {
				if o.Status == outcome.Revoked && o.RequestID == "" {
					t.Errorf("%s revoked without a Graph request-id", o.UserPrincipalName)
				}
				if o.Format == "" || o.AlertID == "" {
					t.Errorf("%+v: no alert format or id", o)
				}
			}
			if res.Summary[outcome.Revoked] != c.revokes {
				t.Errorf("summary %v", res.Summary)
			}
		})
	}
}

// TestMixedUsers: every user named ends with an explicit outcome, and one that cannot be
// addressed fails the invocation only after the others were handled.
func TestMixedUsers(t *testing.T) {
	ct := newContainer(t, nil, nil)
	_, err := ct.invoke(t, fixture(t, "direct-users.json"))
	if err == nil || !strings.Contains(err.Error(), `CONTOSO\\adele.vance`) || !strings.Contains(err.Error(), "bare login") {
		t.Fatalf("want an invocation error naming the unaddressable user, got %v", err)
	}
	want := map[string]string{
		"DiegoS@contoso.onmicrosoft.com":                    "revoked", // named by id only: Graph named him
		"$svc-sync@contoso.onmicrosoft.com":                 "revoked",
		"shane.o'brien@contoso.onmicrosoft.com":             "revoked",
		"pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com": "skipped",
		`CONTOSO\adele.vance`:                               "failed",
		`NT AUTHORITY\SYSTEM`:                               "skipped",
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(ct.log.String()), "\n") {
		var l struct {
			Msg, UserID, UserPrincipalName, Identifier, Status, Reason string
		}
		json.Unmarshal([]byte(line), &l)
		if l.Msg != "target" {
			continue
		}
		key := l.UserPrincipalName
		if key == "" {
			key = l.UserID
		}
		if key == "" {
			key = l.Identifier
		}
		got[key] = l.Status
		if l.Status != "revoked" && l.Reason == "" {
			t.Errorf("%s %s without a reason", key, l.Status)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit log outcomes\ngot  %v\nwant %v", got, want)
	}
	if u, _ := ct.emu.User("pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com"); u.SignInSessionsValidFromDateTime.After(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)) {
		t.Error("the guest was sent to Graph")
	}
	if u, _ := ct.emu.User("DiegoS@contoso.onmicrosoft.com"); !u.SignInSessionsValidFromDateTime.After(time.Now().Add(-time.Minute)) {
		t.Error("the id-only user was not revoked")
	}
}

func TestGuestByObjectIDIsNeverClaimedRevoked(t *testing.T) {
	ct := newContainer(t, nil, nil)
	res, err := ct.result(t, []byte(`{"userId": "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Targets[0].Status != outcome.Skipped || !strings.Contains(res.Targets[0].Reason, "guest") {
		t.Errorf("got %+v", res.Targets[0])
	}
	if r := revokes(ct.emu); len(r) != 0 {
		t.Errorf("revoke sent for a guest: %v", r)
	}
}

// TestDryRun: a dry run asks Graph what the live run would ask (so its answer is the live
// decision) and sends no revoke.
func TestDryRun(t *testing.T) {
	ct := newContainer(t, map[string]string{"DRY_RUN": "true", "PROTECTED_USERS": "breakglass01@contoso.onmicrosoft.com"}, nil)
	res, err := ct.result(t, fixture(t, "graph-security-alerts-list.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(statuses(res), "|"); got != `MeganB@contoso.onmicrosoft.com would-revoke|NT AUTHORITY\SYSTEM skipped` || !res.DryRun {
		t.Errorf("got %s (dryRun %v)", got, res.DryRun)
	}
	// A protected account and a guest named by object id: skipped in the dry run, as live.
	res, err = ct.result(t, []byte(`{"users": ["0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42", "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16", "AlexW@contoso.onmicrosoft.com"]}`))
	if got := strings.Join(statuses(res), "|"); err != nil || got != "breakglass01@contoso.onmicrosoft.com skipped|pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com skipped|AlexW@contoso.onmicrosoft.com would-revoke" {
		t.Errorf("dry run on facts: %s %v", got, err)
	}
	if r := revokes(ct.emu); len(r) != 0 {
		t.Errorf("a dry run sent revokes: %v", r)
	}
}

func TestGraphFailures(t *testing.T) {
	ct := newContainer(t, nil, nil)
	res, err := ct.result(t, []byte(`{"users": ["nobody@contoso.onmicrosoft.com"]}`))
	if err != nil || res.Targets[0].Status != outcome.NotFound {
		t.Errorf("404: %v %+v", err, res.Targets)
	}

	ct.emu.SetDenied("AlexW@contoso.onmicrosoft.com")
	_, err = ct.invoke(t, fixture(t, "entra-risk-detection.json"))
	if err == nil || !strings.Contains(err.Error(), "User.RevokeSessions.All") || !strings.Contains(err.Error(), "Authorization_RequestDenied") {
		t.Errorf("403: %v", err)
	}
}

func TestCredentialProblems(t *testing.T) {
	cases := map[string]struct {
		secret func(*graphemu.Server) string
		want   string
		never  string
	}{
		"wrong client secret": {func(e *graphemu.Server) string {
			return fmt.Sprintf(`{"tenantId":%q,"clientId":%q,"clientSecret":"wrong-secret-value-123"}`, e.TenantID, e.ClientID)
		}, "AADSTS7000215", "wrong-secret-value-123"},
		"secret lacks a field": {func(e *graphemu.Server) string {
			return fmt.Sprintf(`{"tenantId":%q,"clientSecret":"hunter2-abc"}`, e.TenantID)
		}, "lacks clientId", "hunter2-abc"},
		"secret not JSON": {func(*graphemu.Server) string { return `tenant=x;secret=hunter3-xyz` }, "not valid JSON", "hunter3-xyz"},
		"secret missing":  {func(*graphemu.Server) string { return "" }, "does not exist", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ct := newContainer(t, nil, c.secret)
			_, err := ct.invoke(t, fixture(t, "entra-risk-detection.json"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
			if c.never != "" && (strings.Contains(err.Error(), c.never) || strings.Contains(ct.log.String(), c.never)) {
				t.Errorf("the secret's value leaked into the error or the log")
			}
			if r := revokes(ct.emu); len(r) != 0 {
				t.Errorf("Graph called: %v", r)
			}
		})
	}
}

func TestTokenReusedAcrossInvocations(t *testing.T) {
	ct := newContainer(t, nil, nil)
	for _, f := range []string{"entra-risk-detection.json", "entra-risky-user.json", "graph-security-alert.json"} {
		if _, err := ct.invoke(t, fixture(t, f)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.emu.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for three invocations of one container", n)
	}
}

func TestBatches(t *testing.T) {
	ct := newContainer(t, nil, nil)
	good, _ := json.Marshal(string(fixture(t, "entra-risk-detection.json")))
	bad, _ := json.Marshal(`{"users": ["CONTOSO\\adele"]}`)
	sqs := fmt.Sprintf(`{"Records":[
		{"messageId":"m-good","body":%s,"eventSource":"aws:sqs"},
		{"messageId":"m-bad","body":%s,"eventSource":"aws:sqs"},
		{"messageId":"m-junk","body":"{not json","eventSource":"aws:sqs"}]}`, good, bad)
	out, err := ct.invoke(t, []byte(sqs))
	if err != nil {
		t.Fatal(err)
	}
	var resp handler.BatchResponse
	json.Unmarshal(out, &resp)
	if fmt.Sprint(resp.BatchItemFailures) != "[{m-bad} {m-junk}]" {
		t.Errorf("batchItemFailures = %s", out)
	}
	if len(revokes(ct.emu)) != 1 {
		t.Errorf("revokes: %v", revokes(ct.emu))
	}

	out, err = ct.invoke(t, []byte(`[{"messageId":"p-1","body":`+string(good)+`,"eventSource":"aws:sqs"}]`))
	if err != nil || string(out) != `{"batchItemFailures":[]}` {
		t.Errorf("pipes: %s %v", out, err)
	}
}

func TestBadInput(t *testing.T) {
	ct := newContainer(t, nil, nil)
	for name, c := range map[string]struct{ payload, want string }{
		"unknown":     {`{"alertName": "x", "password": "p4ss-value"}`, "top-level keys [alertName, password]"},
		"not json":    {`{"userId":`, ""}, // the runtime itself refuses it before the handler
		"crafted id":  {`{"userId": "../../groups/x"}`, "invalid identifier"},
		"unicode at":  {`{"userId": "AdeleV＠contoso.onmicrosoft.com"}`, "non-ASCII"},
		"query":       {`{"userId": "AdeleV@contoso.onmicrosoft.com?$select=*"}`, "invalid identifier"},
		"hash":        {`{"userId": "Adele#V@contoso.onmicrosoft.com"}`, "invalid identifier"},
		"empty users": {`{"users": []}`, "names no user"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ct.invoke(t, []byte(c.payload))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if strings.Contains(fmt.Sprint(err), "p4ss-value") {
				t.Error("a payload value leaked into the error")
			}
		})
	}
	if r := ct.emu.Requests(); len(r) != 0 {
		t.Errorf("bad input reached the emulator: %+v", r)
	}
}

func TestProtectedAccounts(t *testing.T) {
	env := map[string]string{"PROTECTED_USERS": "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42"}
	payload := []byte(`{"users": ["breakglass01@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com"]}`)

	ct := newContainer(t, env, nil)
	res, err := ct.result(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(statuses(res), "|"); got != "breakglass01@contoso.onmicrosoft.com skipped|AlexW@contoso.onmicrosoft.com revoked" {
		t.Errorf("got %s", got)
	}
	if !strings.Contains(res.Targets[0].Reason, "protected") {
		t.Errorf("reason %q", res.Targets[0].Reason)
	}
	for _, r := range revokes(ct.emu) {
		if strings.Contains(r, "breakglass") || strings.Contains(r, "0f6d3b9e") {
			t.Errorf("a protected account was sent to Graph: %s", r)
		}
	}

	// Graph cannot resolve the protected list (no User.Read.All): the guardrail cannot be
	// evaluated, and nobody is revoked.
	ct = newContainer(t, env, nil)
	ct.emu.Inject(graphemu.Fault{Match: graphemu.MatchGetUser, Status: 403, Times: -1})
	_, err = ct.invoke(t, payload)
	if err == nil || !strings.Contains(err.Error(), "protected accounts could not be resolved") || !strings.Contains(err.Error(), "User.Read.All") {
		t.Errorf("want fail closed, got %v", err)
	}
	if r := revokes(ct.emu); len(r) != 0 {
		t.Errorf("revoked with the guardrail unevaluated: %v", r)
	}
}

func TestBlastRadius(t *testing.T) {
	ct := newContainer(t, map[string]string{"MAX_TARGETS_PER_ALERT": "2"}, nil)
	users := `["AdeleV@contoso.onmicrosoft.com", "AlexW@contoso.onmicrosoft.com", "MeganB@contoso.onmicrosoft.com"]`
	out, err := ct.invoke(t, []byte(`{"users": `+users+`}`))
	if err == nil || !strings.Contains(err.Error(), "needs-approval") || !strings.Contains(err.Error(), "MAX_TARGETS_PER_ALERT=2") {
		t.Fatalf("want needs-approval, got %v %s", err, out)
	}
	if r := revokes(ct.emu); len(r) != 0 {
		t.Errorf("revoked for an alert over the limit: %v", r)
	}
	// The operator's approval, like -Confirm.
	res, err := ct.result(t, []byte(`{"users": `+users+`, "approved": true}`))
	if err != nil || res.Summary[outcome.Revoked] != 3 {
		t.Errorf("approved: %v %v", err, res.Summary)
	}
}

func TestConfiguration(t *testing.T) {
	base := map[string]string{"GRAPH_SECRET_ID": "x"}
	for name, c := range map[string]struct{ key, value, want string }{
		"protected list":  {"PROTECTED_USERS", "breakglass01", "PROTECTED_USERS"},
		"dry run":         {"DRY_RUN", "yes please", "DRY_RUN"},
		"cloud":           {"GRAPH_CLOUD", "germany", "GRAPH_CLOUD"},
		"tenant":          {"TENANT_ID", "contoso", "TENANT_ID"},
		"limit":           {"MAX_TARGETS_PER_ALERT", "-1", "MAX_TARGETS_PER_ALERT"},
		"suffix":          {"DEFAULT_UPN_SUFFIX", "contoso", "DEFAULT_UPN_SUFFIX"},
		"graph over http": {"GRAPH_BASE_URL", "http://127.0.0.1:1", "GRAPH_BASE_URL"},
		"no secret":       {"GRAPH_SECRET_ID", "", "GRAPH_SECRET_ID"},
		"risk state":      {"RISK_STATES", "atRisk,compromised", `"compromised" is not an Entra riskState`},
	} {
		env := map[string]string{c.key: c.value}
		for k, v := range base {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
		_, err := app.ConfigFromEnv(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return base[k] })
	if err != nil || cfg.Policy.MaxTargetsPerAlert != app.DefaultMaxTargetsPerAlert || cfg.Policy.DryRun || cfg.Policy.RiskStates != nil {
		t.Errorf("defaults: %+v %v", cfg.Policy, err)
	}
	cfg, err = app.ConfigFromEnv(func(k string) string {
		if k == "RISK_STATES" {
			return " atrisk , confirmedCompromised,REMEDIATED "
		}
		return base[k]
	})
	if want := []string{"atRisk", "confirmedCompromised", "remediated"}; err != nil || fmt.Sprint(cfg.Policy.RiskStates) != fmt.Sprint(want) {
		t.Errorf("RISK_STATES: %q %v, want %q", cfg.Policy.RiskStates, err, want)
	}
}

// TestRotatedSecret: the client secret was rotated in Entra and Secrets Manager while a
// warm container still caches the old one. The function re-reads the secret once and
// succeeds, instead of failing for up to an hour.
func TestRotatedSecret(t *testing.T) {
	// The first invocation below primes the cache with the old secret and spends the
	// once-a-minute refresh on it; a real rotation does not come with such a twin.
	defer app.SetRefreshEvery(0)()
	ct := newContainer(t, nil, func(e *graphemu.Server) string {
		return fmt.Sprintf(`{"tenantId":%q,"clientId":%q,"clientSecret":"old-secret-before-rotation"}`, e.TenantID, e.ClientID)
	})
	if _, err := ct.invoke(t, fixture(t, "entra-risky-user.json")); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("with the old secret: %v", err)
	}
	rotated := fmt.Sprintf(`{"tenantId":%q,"clientId":%q,"clientSecret":%q}`, ct.emu.TenantID, ct.emu.ClientID, ct.emu.ClientSecret)
	if err := moto.PutSecret(context.Background(), ct.secretID, rotated); err != nil {
		t.Fatal(err)
	}
	res, err := ct.result(t, fixture(t, "entra-risk-detection.json"))
	if err != nil || res.Targets[0].Status != outcome.Revoked {
		t.Fatalf("after rotation: %v %+v", err, res.Targets)
	}
	if n := ct.emu.TokenRequests(); n != 1 {
		t.Errorf("%d tokens issued", n)
	}
	if strings.Contains(logs.String(), "old-secret-before-rotation") {
		t.Error("the old secret is in the log")
	}
}

func TestVerifyRevocation(t *testing.T) {
	ct := newContainer(t, map[string]string{"VERIFY_REVOCATION": "true"}, nil)
	res, err := ct.result(t, fixture(t, "entra-risk-detection.json"))
	if err != nil || res.Targets[0].Status != outcome.Verified || res.Targets[0].RequestID == "" {
		t.Fatalf("%v %+v", err, res.Targets)
	}
	var sawRead bool
	for _, r := range ct.emu.Requests() {
		sawRead = sawRead || (r.Method == "GET" && strings.HasPrefix(r.Path, "/v1.0/users/"))
	}
	if !sawRead {
		t.Error("verified without reading the user back")
	}

	// No read permission: the revoke stands, unverified, and says why.
	ct = newContainer(t, map[string]string{"VERIFY_REVOCATION": "true"}, nil)
	ct.emu.Inject(graphemu.Fault{Match: graphemu.MatchGetUser, Status: 403, Times: -1})
	res, err = ct.result(t, fixture(t, "entra-risk-detection.json"))
	if err != nil || res.Targets[0].Status != outcome.Revoked || !strings.Contains(res.Targets[0].Reason, "not verified") {
		t.Fatalf("%v %+v", err, res.Targets)
	}
}

// BenchmarkWarmPath is one alert through a warm container's handler: recognition,
// decisions, one revoke call over TLS to the emulator, the audit line. The emulator's own
// time is reported apart so the function's overhead can be read off.
func BenchmarkWarmPath(b *testing.B) {
	ct := newContainer(b, nil, nil)
	payload := fixture(b, "graph-security-alert.json")
	if _, err := ct.invoke(b, payload); err != nil { // fetch the token first: warm
		b.Fatal(err)
	}
	busy := ct.emu.Busy()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ct.invoke(b, payload); err != nil {
			b.Fatal(err)
		}
	}
	emu := ct.emu.Busy() - busy
	b.ReportMetric(float64(emu.Nanoseconds())/float64(b.N), "emulator-ns/op")
	b.ReportMetric(float64((b.Elapsed()-emu).Nanoseconds())/float64(b.N), "beyond-emulator-ns/op")
}

// TestHostileInput: each is reported or refused, never sent to Graph, never a panic.
func TestHostileInput(t *testing.T) {
	ct := newContainer(t, nil, nil)
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf(`"u%d@contoso.onmicrosoft.com"`, i)
	}
	cases := map[string]struct {
		payload []byte
		want    string
	}{
		"over 1 MiB":         {append([]byte(`{"userId": "`), append(bytes.Repeat([]byte("a"), 1<<20), `"}`...)...), "larger than"},
		"deeply nested":      {[]byte(strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000)), "exceeded max depth"}, // refused by the runtime's own decoding
		"invalid UTF-8":      {[]byte("{\"userId\": \"Adele\xff\xfe@contoso.onmicrosoft.com\"}"), "non-ASCII"},
		"huge users list":    {[]byte(`{"users": [` + strings.Join(many, ",") + `]}`), "at most 1000"},
		"encoded slash":      {[]byte(`{"userId": "AdeleV%2F..%2Fgroups@contoso.onmicrosoft.com"}`), "invalid identifier"},
		"fullwidth solidus":  {[]byte(`{"userId": "AdeleV／x@contoso.onmicrosoft.com"}`), "non-ASCII"},
		"guest marker moved": {[]byte(`{"userId": "a#EXT#b@contoso.onmicrosoft.com"}`), "invalid identifier"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ct.invoke(t, c.payload)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if err != nil && len(err.Error()) > 2000 {
				t.Errorf("an error of %d bytes: it must not carry the payload", len(err.Error()))
			}
		})
	}
	if r := ct.emu.Requests(); len(r) != 0 {
		t.Errorf("hostile input reached the emulator: %+v", r)
	}
}
