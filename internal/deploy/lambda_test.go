package deploy

// The function as deployed, run as Lambda runs it: the real bootstrap (built as sam build
// builds it, for this machine's architecture) under the real Lambda Runtime Interface
// Emulator, with the environment the rendered template sets and the credentials of its
// execution role, created in moto with exactly the policies of the transformed template
// and enforced there. Graph and Entra are the project's emulator, over TLS.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/resultbus"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

// notCalled are grants of the execution role the run below does not call, and why each
// exists: mostly the Lambda service, which uses the role on the function's behalf. Every
// other grant must be called by the run, or the test fails: nothing is granted that
// nobody uses.
var notCalled = map[string]string{
	"WriteOwnLogGroup logs:CreateLogStream":            "Lambda writes the function's output to its log group",
	"WriteOwnLogGroup logs:PutLogEvents":               "Lambda writes the function's output to its log group",
	"ActiveTracing xray:PutTraceSegments":              "Lambda sends the invocation's trace (Tracing: Active)",
	"ActiveTracing xray:PutTelemetryRecords":           "Lambda sends the invocation's trace (Tracing: Active)",
	"PollSoarRequests sqs:ReceiveMessage":              "the SQS event source mapping polls SoarRequestsQueue",
	"PollSoarRequests sqs:DeleteMessage":               "the event source mapping deletes the records the function handled",
	"PollSoarRequests sqs:GetQueueAttributes":          "the event source mapping reads the queue's attributes",
	"OnFailureDestination sqs:SendMessage":             "Lambda's OnFailure destination puts failed async events on FailedAlertsQueue",
	"WebIdentityTokenForGraph sts:GetWebIdentityToken": "GraphAuth=federated only (not this run): the token Entra trusts instead of a secret",
}

// started checks a sweep's start: the run was recorded and its first step queued.
func started(t *testing.T, body []byte) {
	var res outcome.Result
	if err := json.Unmarshal(body, &res); err != nil || res.Sweep == nil || res.Sweep.Status != "started" {
		t.Fatalf("not started: %s", body)
	}
}

// sqsURL is a queue's URL in this moto.
func sqsURL(env *awsEnv, name string) string { return env.URL + "/" + account + "/" + name }

// drainSweepQueue consumes the sweep queue as Lambda's event source mapping does, with the
// function's role (its PollSweepWork grants): the queue's attributes, then one record an
// invocation, each handled record deleted, each failed one made visible again.
func drainSweepQueue(t *testing.T, r *rie, q *sqs.Client, _ map[string]any, arn, url string) {
	t.Helper()
	ctx := context.Background()
	if _, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout}}); err != nil {
		t.Fatalf("the event source mapping's GetQueueAttributes: %v", err)
	}
	for empty, n := 0, 0; empty < 2; n++ {
		if n > 500 {
			t.Fatal("the sweep queue never drained")
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		m := out.Messages[0]
		event, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
			"messageId": aws.ToString(m.MessageId), "receiptHandle": aws.ToString(m.ReceiptHandle), "eventSource": "aws:sqs", "eventSourceARN": arn,
			"attributes": map[string]string{"ApproximateReceiveCount": m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]},
			"body":       aws.ToString(m.Body),
		}}})
		body := r.invoke(t, string(event))
		if string(body) == `{"batchItemFailures":[]}` {
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("DeleteMessage: %v", err)
			}
			continue
		}
		t.Fatalf("a sweep record failed: %s", body)
	}
}

// grant is one action a statement of the role allows on one resource.
type grant struct{ sid, action, resource string }

func (g grant) key() string { return g.sid + " " + g.action }

func TestDeployedFunctionUnderIAM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap and runs it under the Runtime Interface Emulator")
	}
	ctx := context.Background()
	st := deploy(t, live)
	fn := st.get(t, "RevokeFunction")
	env := launch(t)
	admin := env.admin()

	emu := graphemu.NewServer(graphemu.DefaultUsers())
	t.Cleanup(emu.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "graphemu-ca.pem")
	if err := os.WriteFile(caFile, emu.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	// What the stack creates, created in moto under the names the rendered template gives.
	secretName := scalar(st.Params["GraphSecretName"])
	secretValue := fmt.Sprintf(`{"tenantId": %q, "clientId": %q, "clientSecret": %q}`, emu.TenantID, emu.ClientID, emu.ClientSecret)
	if _, err := secretsmanager.NewFromConfig(admin).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(secretValue)}); err != nil {
		t.Fatal(err)
	}
	if err := moto.CreateStateTable(ctx, dynamodb.NewFromConfig(admin), st.get(t, "StateTable").Name); err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(admin)
	for _, id := range []string{"FailedAlertsQueue", "SoarRequestsQueue", "SweepQueue"} {
		if _, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(st.get(t, id).Name)}); err != nil {
			t.Fatal(err)
		}
	}
	// An incident team's list, under the prefix the stack may read, and one beside it that
	// it may not.
	lists := s3.NewFromConfig(admin)
	bucket, prefix := scalar(st.Params["SweepListBucket"]), scalar(st.Params["SweepListPrefix"])
	if _, err := lists.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{
		prefix + "inc-4711.txt": "NestorW@contoso.onmicrosoft.com\n{\"userPrincipalName\": \"LynneR@contoso.onmicrosoft.com\"}\nnot a user\n",
		"hr/leavers.txt":        "shane.o'brien@contoso.onmicrosoft.com\n",
	} {
		if _, err := lists.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	listSweep := func(key string) string {
		return fmt.Sprintf(`{"sweep": {"name": "inc-4711", "list": {"bucket": %q, "key": %q}, "reason": "INC-4711"}}`, bucket, key)
	}
	// A SOAR platform's rule on the result bus, into a queue the test reads.
	results := watchResults(t, env, scalar(st.Params["ResultBusName"]))
	role := st.get(t, "RevokeFunctionRole")
	creds := env.deployedRole(t, role, nil)
	key, _ := creds.Credentials.Retrieve(ctx)
	env.enforce(t, true)

	fnEnv := lambdaEnvironment(t, st, fn)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": key.AccessKeyID, "AWS_SECRET_ACCESS_KEY": key.SecretAccessKey, "AWS_SESSION_TOKEN": key.SessionToken,
		"AWS_ENDPOINT_URL": env.URL,
		"SSL_CERT_FILE":    caFile, "GRAPH_BASE_URL": emu.GraphRoot(), "AZURE_AUTHORITY_HOST": emu.AuthorityHost(),
	} {
		fnEnv[k] = v
	}
	rie := startRIE(t, buildBootstrap(t, dir, "./functions/revoke"), fnEnv)

	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sqsBatch, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"messageId": "0c2d9a4e-1b7f-4e3a-9c5d-6f8e0a2b4c61", "eventSource": "aws:sqs", "body": string(fixture("entra-risk-detection.json")),
		"eventSourceARN": arnOf(t, st, "SoarRequestsQueue"),
	}}})
	emu.SetDenied("MeganB@contoso.onmicrosoft.com")
	// What the Graph poll's schedule finds in Graph (its State only switches it on).
	emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", ServiceSource: "microsoftDefenderForCloudApps",
		DetectionSource: "cloudAppSecurity", Users: []string{"DiegoS@contoso.onmicrosoft.com"}})
	emu.AddRiskDetection(graphemu.RiskDetection{RiskEventType: "unlikelyTravel", RiskLevel: "high", User: "LeeG@contoso.onmicrosoft.com"})
	type invocation struct {
		name, payload string
		check         func(t *testing.T, body []byte)
	}
	revoked := func(upn string) func(t *testing.T, body []byte) {
		return func(t *testing.T, body []byte) {
			var res outcome.Result
			if err := json.Unmarshal(body, &res); err != nil || len(res.Targets) == 0 {
				t.Fatalf("not a result: %s", body)
			}
			for _, tg := range res.Targets {
				if strings.EqualFold(tg.UserPrincipalName, upn) && tg.Status == outcome.Revoked {
					return
				}
			}
			t.Errorf("%s not revoked: %s", upn, body)
		}
	}
	for _, inv := range []invocation{
		{"cold: an EventBridge alert", string(fixture("graph-security-alert.json")), revoked("AdeleV@contoso.onmicrosoft.com")},
		{"warm: an SQS record", string(sqsBatch), func(t *testing.T, body []byte) {
			if string(body) != `{"batchItemFailures":[]}` {
				t.Errorf("batch response %s", body)
			}
		}},
		{"the same event redelivered", string(fixture("graph-security-alert.json")), func(t *testing.T, body []byte) {
			var res outcome.Result
			if json.Unmarshal(body, &res) != nil || !res.Replayed {
				t.Errorf("not replayed: %s", body)
			}
		}},
		// What EventBridge Scheduler sends: the shipped schedules' own input. Each starts a
		// run; its work is drained from the sweep queue below, as the event source
		// mapping does, under the role.
		{"the risky-user schedule", str(st.get(t, "RevokeFunctionRiskyUserSweep").Properties, "Target", "Input"), started},
		{"the group schedule, approved", str(st.get(t, "RevokeFunctionGroupSweep").Properties, "Target", "Input"), started},
		{"a direct request", string(fixture("direct-user-id.json")), revoked("PattiF@contoso.onmicrosoft.com")},
		// An explicit list in S3, read under ReadSweepLists; one outside the prefix is
		// refused by the function before S3 is asked (and IAM would refuse it too).
		{"a list sweep from S3", listSweep(prefix + "inc-4711.txt"), started},
		{"a list outside the prefix", listSweep("hr/leavers.txt"), func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), "errorMessage") || !strings.Contains(string(body), prefix) {
				t.Errorf("a list outside SweepListPrefix was not refused naming the prefix: %s", body)
			}
		}},
		{"the Graph poll's schedule", str(st.get(t, "RevokeFunctionGraphPoll").Properties, "Target", "Input"), func(t *testing.T, body []byte) {
			revoked("DiegoS@contoso.onmicrosoft.com")(t, body)
			revoked("LeeG@contoso.onmicrosoft.com")(t, body)
		}},
		{"a user Graph refuses", `{"userId": "MeganB@contoso.onmicrosoft.com", "reason": "test"}`, func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), "errorMessage") || !strings.Contains(string(body), "User.RevokeSessions.All") {
				t.Errorf("a failed revoke did not fail the invocation naming the permission: %s", body)
			}
		}},
	} {
		t.Run(inv.name, func(t *testing.T) { inv.check(t, rie.invoke(t, inv.payload)) })
	}
	drainSweepQueue(t, rie, sqs.NewFromConfig(creds), st.Resources["SweepQueue"].Properties, arnOf(t, st, "SweepQueue"), sqsURL(env, st.get(t, "SweepQueue").Name))
	if revokes := revokeCalls(emu); strings.Join(revokes, ",") != "AdeleV,AlexW,DiegoS,GradyA,HenriettaM,IsaiahL,JohannaL,JoniS,LeeG,LynneR,NestorW,PattiF" {
		t.Errorf("Graph revoked %v", revokes)
	}

	t.Run("every AWS action allowed, every grant used", func(t *testing.T) {
		granted := append(roleGrants(t, deploy(t, federated), role.ID), roleGrants(t, st, role.ID)...)
		problems, report := judgeGrants(env.authorisations(t), role.Name, roleGrants(t, st, role.ID), granted, notCalled)
		for _, p := range problems {
			t.Error(p)
		}
		t.Logf("the execution role's grants:\n%s", strings.Join(report, "\n"))
	})

	// IAM too keeps the role to the prefix: the object beside it is refused (asked after
	// the check above, which holds every call the function made to be allowed).
	if _, err := s3.NewFromConfig(creds).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("hr/leavers.txt")}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("the role read a list outside SweepListPrefix: %v", err)
	}
	env.enforce(t, false)
	t.Run("a result event for every invocation, and one summary per sweep", func(t *testing.T) {
		events := results(t)
		// The sweep queue's records are the engine's work, not deliveries: no event each.
		// The Graph poll acted on two alerts, so it publishes one; the list outside the
		// prefix was refused before anything ran, and publishes none.
		if len(events) != 9+3 {
			t.Fatalf("%d result events for the 9 invocations that publish one and 3 sweeps: %v", len(events), events)
		}
		replayed, summaries, polls := 0, 0, 0
		for _, e := range events {
			if s := e.Detail.Sweep; s != nil && s.Status == "complete" && e.Detail.Summary[outcome.Revoked] > 0 {
				summaries++
			}
			if e.Source != resultbus.Source || e.DetailType != resultbus.DetailType || len(e.Detail.Alerts) == 0 {
				t.Errorf("event %+v", e)
			}
			if e.Detail.Replayed {
				replayed++
			}
			if summaries > 3 {
				t.Errorf("more than one summary a sweep: %+v", e)
			}
			if p := e.Detail.Poll; p != nil && e.Detail.Summary[outcome.Revoked] == 2 {
				polls++
			}
		}
		if replayed != 1 {
			t.Errorf("%d replayed results, want the redelivery's", replayed)
		}
		if summaries != 3 {
			t.Errorf("%d sweep summaries, want one for each of the 3 sweeps", summaries)
		}
		if polls != 1 {
			t.Errorf("%d poll results with its 2 revokes, want 1", polls)
		}
	})

	t.Run("logs", func(t *testing.T) {
		out := rie.output()
		for _, secret := range []string{emu.ClientSecret, key.SecretAccessKey, key.SessionToken} {
			if strings.Contains(out, secret) {
				t.Error("a secret or credential is in the function's output")
			}
		}
		if bearer := regexp.MustCompile(`(?i)bearer\s+[a-z0-9._-]{8,}`); bearer.MatchString(out) {
			t.Error("a bearer token is in the function's output")
		}
		var graphCalls, decisions int
		emf := map[string]bool{} // metric name, with a FunctionName-only dimension set
		for _, line := range strings.Split(out, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			switch rec["msg"] {
			case "graph call":
				graphCalls++
				if rec["level"] != "DEBUG" || rec["graphRequestId"] == "" || rec["status"] == nil || rec["requestId"] == nil {
					t.Errorf("graph call line %s", line)
				}
			case "decision":
				decisions++
			case "metrics":
				if rec["FunctionName"] != fn.Name {
					t.Errorf("metrics for FunctionName %v, not %s", rec["FunctionName"], fn.Name)
				}
				for _, cwm := range path(rec, "_aws", "CloudWatchMetrics").([]any) {
					for _, dims := range path(cwm, "Dimensions").([]any) {
						if d := strs(dims); len(d) == 1 && d[0] == "FunctionName" {
							for _, m := range path(cwm, "Metrics").([]any) {
								emf[str(m, "Name")] = true
							}
						}
					}
				}
			}
		}
		if graphCalls < 5 || decisions < 5 {
			t.Errorf("LogLevel=DEBUG wrote %d Graph call and %d decision lines", graphCalls, decisions)
		}
		// Each alarm on the function's own metrics watches one it emits, per function.
		for _, a := range st.ofType("AWS::CloudWatch::Alarm") {
			if str(a.Properties, "Namespace") == "SessionRevoker" && !emf[str(a.Properties, "MetricName")] {
				t.Errorf("alarm %s watches %s, which the function does not emit per FunctionName", a.ID, str(a.Properties, "MetricName"))
			}
		}
	})
}

// lambdaEnvironment is what Lambda puts in the function's environment: the template's
// variables and Lambda's own.
func lambdaEnvironment(t *testing.T, st *stack, fn resource) map[string]string {
	t.Helper()
	env := map[string]string{
		"AWS_REGION": region, "AWS_DEFAULT_REGION": region,
		"AWS_LAMBDA_FUNCTION_NAME":        fn.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     scalar(fn.Properties["Timeout"]),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": scalar(fn.Properties["MemorySize"]),
		"AWS_LAMBDA_LOG_FORMAT":           str(fn.Properties, "LoggingConfig", "LogFormat"),
		"AWS_LAMBDA_LOG_LEVEL":            str(fn.Properties, "LoggingConfig", "ApplicationLogLevel"),
		"AWS_LAMBDA_LOG_GROUP_NAME":       str(fn.Properties, "LoggingConfig", "LogGroup"),
		// Never a developer's profile or IMDS.
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"LOG_LEVEL": "error", // the emulator's own log, not the function's
	}
	vars, _ := path(fn.Properties, "Environment", "Variables").(map[string]any)
	for k, v := range vars {
		env[k] = scalar(v)
	}
	return env
}

// deployedRole creates role (an AWS::IAM::Role of the rendered stack) in moto with
// exactly its policies, under its rendered name, and returns credentials of a session of
// it. edit, if not nil, changes a copy of each policy document first: the tests that prove
// a wrong policy fails use it.
func (e *awsEnv) deployedRole(t *testing.T, role resource, edit func(doc map[string]any)) aws.Config {
	t.Helper()
	return e.namedRole(t, role.Name, role, edit)
}

// namedRole is deployedRole under another name: a variant of the role beside the real one.
func (e *awsEnv) namedRole(t *testing.T, name string, role resource, edit func(doc map[string]any)) aws.Config {
	t.Helper()
	inline := map[string]any{}
	policies, _ := role.Properties["Policies"].([]any)
	for _, p := range policies {
		doc := path(p, "PolicyDocument")
		if edit != nil {
			var copied map[string]any
			b, _ := json.Marshal(doc)
			json.Unmarshal(b, &copied)
			edit(copied)
			doc = copied
		}
		inline[str(p, "PolicyName")] = doc
	}
	return e.role(t, name, role.Properties["AssumeRolePolicyDocument"], inline, strs(role.Properties["ManagedPolicyArns"]))
}

// judgeGrants judges what one role did in a run under enforcement: every request it made
// must have been allowed, and each of its grants either called (on a resource the grant
// covers) or listed in notCalled with the reason it exists. granted is every grant the role
// has in any parameter set, against which notCalled itself is checked. It returns the
// problems, and a line per grant saying which it is.
func judgeGrants(calls []authorised, roleName string, grants, granted []grant, notCalled map[string]string) (problems, report []string) {
	called := map[string][]string{}
	for _, a := range calls {
		if !strings.Contains(a.Principal, ":assumed-role/"+roleName+"/") {
			continue
		}
		if !a.Allowed {
			problems = append(problems, fmt.Sprintf("the role was denied %s on %s", a.Action, a.Resource))
		}
		called[a.Action] = append(called[a.Action], a.Resource)
	}
	if len(called) == 0 {
		return append(problems, "the function made no AWS call under the role: the run is broken"), nil
	}
	for _, g := range grants {
		used := false
		for _, r := range called[g.action] {
			used = used || globMatch(g.resource, r)
		}
		reason, listed := notCalled[g.key()]
		switch {
		case used && listed:
			problems = append(problems, fmt.Sprintf("%s is called by the function: drop it from notCalled", g.key()))
		case used:
			report = append(report, fmt.Sprintf("%-28s %-32s called by the function", g.sid, g.action))
		case listed:
			report = append(report, fmt.Sprintf("%-28s %-32s not called: %s", g.sid, g.action, reason))
		default:
			problems = append(problems, fmt.Sprintf("%s is granted on %s but never called: remove it, or say who uses it in notCalled", g.key(), g.resource))
		}
	}
	for k := range notCalled {
		found := false
		for _, g := range granted {
			found = found || g.key() == k
		}
		if !found {
			problems = append(problems, fmt.Sprintf("notCalled lists %s, which the role does not grant", k))
		}
	}
	sort.Strings(problems)
	sort.Strings(report)
	return problems, report
}

// roleGrants lists every (statement, action, resource) the role roleID allows.
func roleGrants(t *testing.T, st *stack, roleID string) []grant {
	t.Helper()
	var out []grant
	for _, s := range identityStatements(t, st) {
		if s.Role != roleID || str(s.Body, "Effect") != "Allow" {
			continue
		}
		for _, a := range strs(s.Body["Action"]) {
			for _, r := range strs(s.Body["Resource"]) {
				out = append(out, grant{sid: str(s.Body, "Sid"), action: a, resource: r})
			}
		}
	}
	return out
}

// globMatch is IAM's resource matching: "*" any run, "?" one character.
func globMatch(pattern, value string) bool {
	var re strings.Builder
	for _, c := range pattern {
		switch c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return regexp.MustCompile("^" + re.String() + "$").MatchString(value)
}

func revokeCalls(emu *graphemu.Server) []string {
	var out []string
	for _, r := range emu.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/revokeSignInSessions") && r.Status/100 == 2 {
			user := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/v1.0/users/"), "/revokeSignInSessions")
			if u, ok := emu.User(user); ok {
				user = u.UserPrincipalName
			}
			user, _, _ = strings.Cut(user, "@")
			out = append(out, user)
		}
	}
	sort.Strings(out)
	return out
}

// buildBootstrap builds a function (pkg, "./functions/<name>") as the Makefile's
// build-<Function> targets do (-tags lambda.norpc), into dir, for this machine's
// architecture so that it runs here.
func buildBootstrap(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, "bootstrap")
	// The flags of functions/*'s own tests, so the build cache serves both.
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// rie is a running Runtime Interface Emulator with the bootstrap under it.
type rie struct {
	url string
	out lockedWriter
}

// startRIE runs `go tool aws-lambda-rie` (pinned in go.mod) with bootstrap as the function.
func startRIE(t *testing.T, bootstrap string, env map[string]string) *rie {
	t.Helper()
	tool, err := exec.Command("go", "tool", "-n", "aws-lambda-rie").Output()
	if err != nil {
		t.Fatalf("go tool -n aws-lambda-rie: %v (the emulator is a tool in go.mod)", err)
	}
	invokeAddr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(strings.TrimSpace(string(tool)), "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &rie{url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations", out: lockedWriter{mu: new(sync.Mutex), w: &bytes.Buffer{}}}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so the bootstrap under it ends too
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", r.output())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", invokeAddr); err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Runtime Interface Emulator did not listen on %s:\n%s", invokeAddr, r.output())
		}
	}
}

func (r *rie) output() string { return r.out.String() }

// invoke is Lambda's Invoke API: the function's response body (a result, a batch
// response, or Lambda's error document).
func (r *rie) invoke(t *testing.T, payload string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 90 * time.Second}
	resp, err := client.Post(r.url, "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: %s %s", resp.Status, b.String())
	}
	return b.Bytes()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type resultEvent struct {
	Source     string         `json:"source"`
	DetailType string         `json:"detail-type"`
	Detail     outcome.Result `json:"detail"`
}

// watchResults puts a SOAR platform's rule on the result bus; the function returned reads
// every result event it received.
func watchResults(t *testing.T, env *awsEnv, bus string) func(t *testing.T) []resultEvent {
	t.Helper()
	ctx := context.Background()
	cfg := env.admin()
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	if bus != "default" {
		if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
			t.Fatal(err)
		}
	}
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("soar-results")})
	if err != nil {
		t.Fatal(err)
	}
	pattern := fmt.Sprintf(`{"source": [%q], "detail-type": [%q]}`, resultbus.Source, resultbus.DetailType)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("soar"), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("soar"), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:" + region + ":" + account + ":soar-results")}}}); err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T) []resultEvent {
		var out []resultEvent
		for {
			msgs, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs.Messages) == 0 {
				return out
			}
			for _, m := range msgs.Messages {
				var e resultEvent
				if err := json.NewDecoder(bufio.NewReader(strings.NewReader(aws.ToString(m.Body)))).Decode(&e); err != nil {
					t.Fatal(err)
				}
				out = append(out, e)
				q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle})
			}
		}
	}
}
