package deploy

// The webhook endpoint as deployed, run as Lambda runs it: functions/webhook's bootstrap
// (built as sam build builds it, for this machine's architecture) under the Runtime
// Interface Emulator, with the environment the rendered template sets and the credentials
// of WebhookRole, created in the IAM-enforced moto with exactly the transformed template's
// policies. Each product's request goes in as the function URL event Lambda would hand
// the function; what comes out is judged where the revoke function sees it: out of the
// deployed RevokeFunctionRiskAlerts rule, as rendered, on the rendered alert bus.
//
// moto evaluates no Condition of an identity policy but sts:ExternalId's, so the events:source
// restriction on PutEvents is not enforced here: TestWebhookRole checks it statically, and
// this test checks that every entry the role put carried the very source it allows.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/sources"
	"github.com/session-revoker/session-revoker/internal/webhook"
	"github.com/session-revoker/session-revoker/internal/webhook/webhooktest"
)

// webhookNotCalled are WebhookRole's grants the endpoint does not call, and why each exists.
var webhookNotCalled = map[string]string{
	"OwnLogGroup logs:CreateLogStream": "Lambda writes the function's output to its log group",
	"OwnLogGroup logs:PutLogEvents":    "Lambda writes the function's output to its log group",
}

// webhookEnv is the endpoint's environment as Lambda sets it, with the credentials of one
// session of its role, its AWS calls aimed at moto.
func webhookEnv(t *testing.T, st *stack, env *awsEnv, creds aws.Config) map[string]string {
	t.Helper()
	key, err := creds.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := lambdaEnvironment(t, st, st.get(t, "WebhookFunction"))
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": key.AccessKeyID, "AWS_SECRET_ACCESS_KEY": key.SecretAccessKey, "AWS_SESSION_TOKEN": key.SessionToken,
		"AWS_ENDPOINT_URL": env.URL,
	} {
		out[k] = v
	}
	return out
}

// post is a product's request to route, as the function URL hands it to the function;
// it returns the function's answer.
func (r *rie) post(t *testing.T, route webhook.Route, body []byte) events.LambdaFunctionURLResponse {
	t.Helper()
	ev, err := json.Marshal(webhooktest.FunctionURLEvent(webhooktest.Request(route, body, time.Now().Add(-time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.LambdaFunctionURLResponse
	if out := r.invoke(t, string(ev)); json.Unmarshal(out, &resp) != nil || resp.StatusCode == 0 {
		t.Fatalf("not a function URL response: %s", out)
	}
	return resp
}

func TestDeployedWebhookUnderIAM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the webhook bootstrap and runs it under the Runtime Interface Emulator")
	}
	ctx := context.Background()
	st := deploy(t, allOn)
	role := st.get(t, "WebhookRole")
	env := launch(t)

	// What the stack and the operator create: the deployed rules on their buses (the
	// alert bus among them), each into a queue, and the webhook secret under its rendered name.
	routes := deployRules(t, env, st)
	if _, ok := routes.queues["RevokeFunctionRiskAlerts"]; !ok {
		t.Fatal("the deployed stack has no RevokeFunctionRiskAlerts rule aimed at the revoke function")
	}
	secretName := scalar(st.Params["WebhookSecretName"])
	if _, err := secretsmanager.NewFromConfig(env.admin()).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(webhooktest.Secret())}); err != nil {
		t.Fatal(err)
	}

	// The role as deployed, and variants of it that must fail: the proof that the checks
	// below would catch a template missing an action or scoped to the wrong ARN.
	statement := func(doc map[string]any, sid string) map[string]any {
		list, _ := doc["Statement"].([]any)
		for _, s := range list {
			if m, _ := s.(map[string]any); str(m, "Sid") == sid {
				return m
			}
		}
		t.Fatalf("WebhookRole has no statement %s", sid)
		return nil
	}
	arn := func(service, rest string) string {
		return "arn:aws:" + service + ":" + region + ":" + account + ":" + rest
	}
	type variant struct {
		name   string
		edit   func(doc map[string]any)
		status int    // what the endpoint must answer
		denied string // the denial judgeGrants must report
	}
	variants := []variant{
		{"without DescribeSecret", func(doc map[string]any) {
			statement(doc, "ReadWebhookKeys")["Action"] = []any{"secretsmanager:GetSecretValue"}
		}, 503, "denied secretsmanager:DescribeSecret on " + arn("secretsmanager", "secret:"+secretName)},
		{"its keys scoped to the Graph secret", func(doc map[string]any) {
			statement(doc, "ReadWebhookKeys")["Resource"] = arn("secretsmanager", "secret:"+scalar(st.Params["GraphSecretName"])+"-??????")
		}, 503, "denied secretsmanager:DescribeSecret on " + arn("secretsmanager", "secret:"+secretName)},
		{"PutEvents scoped to the default bus", func(doc map[string]any) {
			statement(doc, "PutAlertsOnTheAlertBus")["Resource"] = arn("events", "event-bus/default")
		}, 500, "denied events:PutEvents on " + arn("events", "event-bus/"+scalar(st.Params["AlertBusName"]))},
	}
	creds := env.deployedRole(t, role, nil)
	variantCreds := make([]aws.Config, len(variants))
	for i, v := range variants {
		variantCreds[i] = env.namedRole(t, fmt.Sprintf("%s-v%d", role.Name, i), role, v.edit)
	}
	env.enforce(t, true)

	bootstrap := buildBootstrap(t, t.TempDir(), "./functions/webhook")
	fnEnv := webhookEnv(t, st, env, creds)
	endpoint := startRIE(t, bootstrap, fnEnv)
	// The test reads the queues as itself, which enforcement would refuse.
	drain := func(t *testing.T) []routed {
		env.enforce(t, false)
		defer env.enforce(t, true)
		return routes.drain(t)
	}
	condition := ""
	for _, s := range identityStatements(t, st) {
		if s.Role == role.ID && str(s.Body, "Sid") == "PutAlertsOnTheAlertBus" {
			condition = str(s.Body, "Condition", "StringEquals", "events:source")
		}
	}

	// Every product's request, then what the rules delivered, each event found by the id
	// the endpoint answered with.
	type sent struct {
		route webhook.Route
		body  []byte
		resp  events.LambdaFunctionURLResponse
	}
	var requests []sent
	for _, route := range webhook.Routes() {
		body, err := webhooktest.Body(route.Source)
		if err != nil {
			t.Fatal(err)
		}
		requests = append(requests, sent{route, body, endpoint.post(t, route, body)})
	}
	delivered := map[string][]routed{} // event id -> deliveries
	for _, d := range drain(t) {
		var e struct{ ID string }
		json.Unmarshal(d.event, &e)
		delivered[e.ID] = append(delivered[e.ID], d)
	}
	for _, req := range requests {
		t.Run(req.route.Source.Name, func(t *testing.T) {
			var answer struct {
				Accepted bool   `json:"accepted"`
				EventID  string `json:"eventId"`
			}
			if req.resp.StatusCode != 200 || json.Unmarshal([]byte(req.resp.Body), &answer) != nil || !answer.Accepted || answer.EventID == "" {
				t.Fatalf("answered %d %s", req.resp.StatusCode, req.resp.Body)
			}
			got := delivered[answer.EventID]
			delete(delivered, answer.EventID)
			if len(got) != 1 || got[0].rule != "RevokeFunctionRiskAlerts" {
				var rules []string
				for _, g := range got {
					rules = append(rules, g.rule)
				}
				t.Fatalf("delivered by %v, want RevokeFunctionRiskAlerts alone", rules)
			}
			var e struct {
				Source     string          `json:"source"`
				DetailType string          `json:"detail-type"`
				Detail     json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal(got[0].event, &e); err != nil {
				t.Fatal(err)
			}
			if e.DetailType != req.route.Source.DetailType || e.Source != sources.WebhookSource {
				t.Errorf("delivered %s / %s, want %s / %s", e.Source, e.DetailType, sources.WebhookSource, req.route.Source.DetailType)
			}
			// The role may put events only as the source its Condition names: moto does not
			// evaluate that, so every entry that arrived must carry it.
			if condition == "" || e.Source != condition {
				t.Errorf("the entry's source %q is not the one WebhookRole's Condition allows (%q)", e.Source, condition)
			}
			if !sameJSON(e.Detail, req.body) {
				t.Error("the delivered detail is not the body the product posted")
			}
			// What the revoke function reads of the event as the rule hands it over.
			batch, err := delivery.Unwrap(got[0].event)
			if err != nil || len(batch.Records) != 1 {
				t.Fatalf("the delivered event does not unwrap: %v", err)
			}
			alerts, err := alert.Recognise(batch.Records[0])
			if err != nil || len(alerts) == 0 {
				t.Fatalf("the revoke function cannot read what the rule delivers: %v", err)
			}
			for _, a := range alerts {
				if !slices.Contains(req.route.Source.Formats, a.Format) || len(a.Principals) == 0 {
					t.Errorf("read as %s naming %d users, want %v naming at least one", a.Format, len(a.Principals), req.route.Source.Formats)
				}
			}
		})
	}
	for id, d := range delivered {
		t.Errorf("event %s was delivered (by %s) but answers no request", id, d[0].rule)
	}

	t.Run("every AWS action allowed, every grant used", func(t *testing.T) {
		problems, report := judgeGrants(env.authorisations(t), role.Name, roleGrants(t, st, role.ID), roleGrants(t, st, role.ID), webhookNotCalled)
		for _, p := range problems {
			t.Error(p)
		}
		t.Logf("WebhookRole's grants:\n%s", strings.Join(report, "\n"))
	})

	t.Run("a wrong policy fails the check", func(t *testing.T) {
		route := webhook.Routes()[0]
		body, err := webhooktest.Body(route.Source)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range variants {
			name := fmt.Sprintf("%s-v%d", role.Name, i)
			resp := startRIE(t, bootstrap, webhookEnv(t, st, env, variantCreds[i])).post(t, route, body)
			if resp.StatusCode != v.status {
				t.Errorf("%s: answered %d %s, want %d", v.name, resp.StatusCode, resp.Body, v.status)
			}
			if got := drain(t); len(got) != 0 {
				t.Errorf("%s: %d events delivered", v.name, len(got))
			}
			problems, _ := judgeGrants(env.authorisations(t), name, roleGrants(t, st, role.ID), roleGrants(t, st, role.ID), webhookNotCalled)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, v.denied) }) {
				t.Errorf("%s: the check did not report %q: %v", v.name, v.denied, problems)
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		out := endpoint.output()
		for _, secret := range []string{webhooktest.BearerToken, webhooktest.NextToken, webhooktest.SplunkToken, webhooktest.CrowdStrikeKey, fnEnv["AWS_SECRET_ACCESS_KEY"], fnEnv["AWS_SESSION_TOKEN"]} {
			if strings.Contains(out, secret) {
				t.Error("a key or credential is in the endpoint's output")
			}
		}
		lines := 0
		for _, line := range strings.Split(out, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "webhook" && rec["status"] == 200.0 && rec["eventId"] != nil {
				lines++
			}
		}
		if lines != len(webhook.Routes()) {
			t.Errorf("%d accepted-request lines for %d requests:\n%s", lines, len(webhook.Routes()), out)
		}
	})
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}
