package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/sources"
)

// TestWebhookIsOptIn: the public endpoint exists only when the operator enables it.
func TestWebhookIsOptIn(t *testing.T) {
	for _, id := range deploy(t, defaults).ids() {
		if strings.HasPrefix(id, "Webhook") {
			t.Errorf("%s deployed with EnableWebhook off", id)
		}
	}
	st := deploy(t, allOn)
	if _, ok := st.Outputs["WebhookUrl"]; !ok {
		t.Error("no WebhookUrl output with the endpoint on")
	}
}

// TestWebhookFunction: the endpoint as deployed: the runtime, its own role and log group,
// a public function URL that the function authenticates, bounded concurrency, and every
// variable it reads set.
func TestWebhookFunction(t *testing.T) {
	st := deploy(t, allOn)
	fn := st.get(t, "WebhookFunction").Properties
	for key, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "Role": st.arnOf(t, "WebhookRole")} {
		if got := str(fn, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if got := strs(fn["Architectures"]); len(got) != 1 || got[0] != "arm64" {
		t.Errorf("Architectures %v", got)
	}
	if str(fn, "LoggingConfig", "LogFormat") != "JSON" || str(fn, "LoggingConfig", "LogGroup") == "" {
		t.Error("JSON logs into its own log group")
	}
	if fn["ReservedConcurrentExecutions"] == nil {
		t.Error("no reserved concurrency: bursts unbounded")
	}
	url := st.get(t, "WebhookFunctionUrl").Properties
	if str(url, "AuthType") != "NONE" {
		t.Error("the function URL must be public: each request is authenticated by the function")
	}
	vars, _ := path(fn, "Environment", "Variables").(map[string]any)
	if got, want := str(vars, "ALERT_BUS_NAME"), scalar(st.Params["AlertBusName"]); got != want {
		t.Errorf("ALERT_BUS_NAME %q, want the alert bus %q", got, want)
	}
	re := regexp.MustCompile(`getenv\("([A-Z_]+)"\)`)
	files, _ := filepath.Glob(filepath.Join("..", "webhookaws", "*.go"))
	read := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			read++
			if _, ok := vars[m[1]]; !ok {
				t.Errorf("the endpoint reads %s but the stack does not set it", m[1])
			}
		}
	}
	if read < 2 {
		t.Fatalf("found %d variables read: the scan is broken", read)
	}
}

// TestWebhookRole: the role may put events on the alert bus as the webhook source, read
// its own secret and write its own logs: nothing else, and never the Graph secret.
func TestWebhookRole(t *testing.T) {
	st := deploy(t, allOn)
	role := st.get(t, "WebhookRole").Properties
	if role["ManagedPolicyArns"] != nil {
		t.Error("managed policies on the webhook role")
	}
	bus := "arn:aws:events:" + region + ":" + account + ":event-bus/" + scalar(st.Params["AlertBusName"])
	secret := "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + scalar(st.Params["WebhookSecretName"]) + "-??????"
	want := map[string]struct {
		actions  []string
		resource string
	}{
		"PutAlertsOnTheAlertBus": {[]string{"events:PutEvents"}, bus},
		"ReadWebhookKeys":        {[]string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}, secret},
		"OwnLogGroup":            {[]string{"logs:CreateLogStream", "logs:PutLogEvents"}, st.arnOf(t, "WebhookLogGroup")},
	}
	seen := map[string]bool{}
	policies, _ := role["Policies"].([]any)
	for _, p := range policies {
		list, _ := path(p, "PolicyDocument", "Statement").([]any)
		for _, raw := range list {
			sid := str(raw, "Sid")
			w, ok := want[sid]
			if !ok {
				t.Errorf("unexpected statement %s", sid)
				continue
			}
			seen[sid] = true
			actions := strs(path(raw, "Action"))
			slices.Sort(actions)
			if !slices.Equal(actions, w.actions) {
				t.Errorf("%s: actions %v, want %v", sid, actions, w.actions)
			}
			if res := strs(path(raw, "Resource")); len(res) != 1 || res[0] != w.resource {
				t.Errorf("%s: resource %v, want %s", sid, res, w.resource)
			}
			if strings.Contains(strings.Join(strs(path(raw, "Resource")), " "), scalar(st.Params["GraphSecretName"])+"-") {
				t.Errorf("%s reaches the Graph secret", sid)
			}
			if sid == "PutAlertsOnTheAlertBus" && str(raw, "Condition", "StringEquals", "events:source") != sources.WebhookSource {
				t.Errorf("PutEvents is not limited to the source %s", sources.WebhookSource)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("statements %v, want %v", seen, want)
	}
}
