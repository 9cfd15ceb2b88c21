package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/session-revoker/session-revoker/internal/sources"
)

// TestWebhookIsOptIn: the public endpoint exists only when the operator enables it.
func TestWebhookIsOptIn(t *testing.T) {
	tpl := load(t)
	if d := get(tpl, "Parameters", "EnableWebhook", "Default"); d == nil || d.Value != "false" {
		t.Error("EnableWebhook must default to false")
	}
	for _, name := range []string{"WebhookFunction", "WebhookRole", "WebhookLogGroup"} {
		if c := get(tpl, "Resources", name, "Condition"); c == nil || c.Value != "HasWebhook" {
			t.Errorf("%s is not conditional on HasWebhook", name)
		}
	}
	if c := get(tpl, "Outputs", "WebhookUrl", "Condition"); c == nil || c.Value != "HasWebhook" {
		t.Error("WebhookUrl output is not conditional")
	}
}

func TestWebhookFunction(t *testing.T) {
	fn := get(load(t), "Resources", "WebhookFunction")
	props := get(fn, "Properties")
	for path, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
		if got := get(props, path); got == nil || got.Value != want {
			t.Errorf("%s = %v, want %s", path, got, want)
		}
	}
	if got := scalars(get(props, "Architectures")); len(got) != 1 || got[0] != "arm64" {
		t.Errorf("Architectures %v", got)
	}
	if got := get(fn, "Metadata", "BuildMethod"); got == nil || got.Value != "makefile" {
		t.Error("BuildMethod must be makefile: the Makefile adds -tags lambda.norpc")
	}
	if get(props, "LoggingConfig", "LogFormat").Value != "JSON" || get(props, "LoggingConfig", "LogGroup") == nil {
		t.Error("JSON logs into its own log group")
	}
	if get(props, "ReservedConcurrentExecutions") == nil {
		t.Error("no reserved concurrency: bursts unbounded")
	}
	if r := get(props, "Role"); r == nil || r.Tag != "!GetAtt" || r.Value != "WebhookRole.Arn" {
		t.Error("the function must use WebhookRole, or SAM generates a role with managed policies")
	}
	if get(props, "Policies") != nil {
		t.Error("Policies beside Role: SAM would ignore or merge them")
	}
	if a := get(props, "FunctionUrlConfig", "AuthType"); a == nil || a.Value != "NONE" {
		t.Error("the function URL must be public: each request is authenticated by the function")
	}

	// Every variable the endpoint reads is set by the template.
	re := regexp.MustCompile(`getenv\("([A-Z_]+)"\)`)
	files, _ := filepath.Glob(filepath.Join("..", "webhookaws", "*.go"))
	vars := get(props, "Environment", "Variables")
	read := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			read++
			if get(vars, m[1]) == nil {
				t.Errorf("the endpoint reads %s but the template does not set it", m[1])
			}
		}
	}
	if read < 2 {
		t.Fatalf("found %d variables read: the scan is broken", read)
	}
	if v := get(vars, "ALERT_BUS_NAME"); v == nil || v.Tag != "!Ref" || v.Value != "AlertBusName" {
		t.Error("ALERT_BUS_NAME must be the bus the alert rules are on")
	}
}

// TestWebhookRole: the role may put events on the alert bus as the webhook source, read
// its own secret and write its own logs: nothing else, and never the Graph secret.
func TestWebhookRole(t *testing.T) {
	role := get(load(t), "Resources", "WebhookRole", "Properties")
	if get(role, "ManagedPolicyArns") != nil {
		t.Error("managed policies on the webhook role")
	}
	var sts []*yaml.Node
	statements(get(role, "Policies"), &sts)
	want := map[string]struct {
		actions  []string
		resource string
	}{
		"PutAlertsOnTheAlertBus": {[]string{"events:PutEvents"}, ":event-bus/${AlertBusName}"},
		"ReadWebhookKeys":        {[]string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}, ":secret:${WebhookSecretName}-??????"},
		"OwnLogGroup":            {[]string{"logs:CreateLogStream", "logs:PutLogEvents"}, "WebhookLogGroup.Arn"},
	}
	seen := map[string]bool{}
	for _, st := range sts {
		sid := get(st, "Sid").Value
		w, ok := want[sid]
		if !ok {
			t.Errorf("unexpected statement %s", sid)
			continue
		}
		seen[sid] = true
		actions := scalars(get(st, "Action"))
		slices.Sort(actions)
		if !slices.Equal(actions, w.actions) {
			t.Errorf("%s: actions %v, want %v", sid, actions, w.actions)
		}
		res := get(st, "Resource")
		if res == nil || res.Kind != yaml.ScalarNode || !strings.HasSuffix(res.Value, w.resource) {
			t.Errorf("%s: resource %v, want one ending %s", sid, scalars(res), w.resource)
		}
		if strings.Contains(strings.Join(scalars(st), " "), "GraphSecretName") {
			t.Errorf("%s reaches the Graph secret", sid)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("statements %v, want %v", seen, want)
	}
	var put *yaml.Node
	for _, st := range sts {
		if get(st, "Sid").Value == "PutAlertsOnTheAlertBus" {
			put = st
		}
	}
	if c := get(put, "Condition", "StringEquals", "events:source"); c == nil || c.Value != sources.WebhookSource {
		t.Errorf("PutEvents is not limited to the source %s", sources.WebhookSource)
	}
}
