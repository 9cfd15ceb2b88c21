package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// noResourceType lists the only actions a statement may grant on "*": IAM has no resource
// type for them. needsCondition: "*" only under a Condition.
var noResourceType = map[string]struct{ needsCondition bool }{
	"xray:PutTraceSegments":    {},
	"xray:PutTelemetryRecords": {},
	"sts:GetWebIdentityToken":  {needsCondition: true},
}

// scopedWildcard is the only wildcard a resource may hold: the log streams of one log
// group, the random suffix Secrets Manager appends to one secret's name, or the objects
// under one prefix of one bucket (the sweep lists the operator named).
var scopedWildcard = regexp.MustCompile(`^arn:aws:logs:[a-z0-9-]+:\d{12}:log-group:[^*?]+:\*$|^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^*?]+-\?\?\?\?\?\?$|^arn:aws:s3:::[a-z0-9.-]+/[^*?]*\*$`)

// statement is one identity-policy statement and where it is.
type statement struct {
	Where string // resource/policy/Sid
	Role  string // the role's logical id, or "" for a standalone policy
	Doc   map[string]any
	Body  map[string]any
}

// identityStatements lists every statement of every identity policy in the stack; it
// fails on a managed policy, whose statements the template cannot show.
func identityStatements(t *testing.T, st *stack) []statement {
	t.Helper()
	var out []statement
	add := func(where, role string, doc any) {
		d, _ := doc.(map[string]any)
		var list []any
		switch s := d["Statement"].(type) {
		case []any:
			list = s
		case map[string]any:
			list = []any{s}
		}
		if len(list) == 0 {
			t.Errorf("%s: a policy document without statements", where)
		}
		for i, s := range list {
			body, _ := s.(map[string]any)
			sid := str(body, "Sid")
			if sid == "" {
				sid = "#" + string(rune('0'+i))
			}
			out = append(out, statement{Where: where + "/" + sid, Role: role, Doc: d, Body: body})
		}
	}
	for _, role := range st.ofType("AWS::IAM::Role") {
		if arns := strs(role.Properties["ManagedPolicyArns"]); len(arns) > 0 {
			t.Errorf("%s attaches managed policies %v: their statements are not in the template (define the role's policies inline)", role.ID, arns)
		}
		policies, _ := role.Properties["Policies"].([]any)
		for _, p := range policies {
			add(role.ID+"/"+str(p, "PolicyName"), role.ID, path(p, "PolicyDocument"))
		}
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"} {
		for _, p := range st.ofType(typ) {
			add(p.ID, "", p.Properties["PolicyDocument"])
		}
	}
	return out
}

// TestLeastPrivilege: every identity policy the transformed stack deploys, SAM's own roles
// included, grants named actions on named resources.
func TestLeastPrivilege(t *testing.T) {
	eachSet(t, func(t *testing.T, st *stack) {
		sts := identityStatements(t, st)
		if len(sts) < 8 {
			t.Fatalf("found %d statements: the walk is broken", len(sts))
		}
		for _, s := range sts {
			checkStatement(t, s)
		}
	})
}

func checkStatement(t *testing.T, s statement) {
	t.Helper()
	for _, banned := range []string{"NotAction", "NotResource", "NotPrincipal"} {
		if _, ok := s.Body[banned]; ok {
			t.Errorf("%s: %s grants everything but a list", s.Where, banned)
		}
	}
	if str(s.Body, "Effect") != "Allow" {
		return // a Deny narrows
	}
	actions := strs(s.Body["Action"])
	if len(actions) == 0 {
		t.Errorf("%s: no Action", s.Where)
	}
	for _, a := range actions {
		if strings.ContainsAny(a, "*?") {
			t.Errorf("%s: wildcard action %q", s.Where, a)
		}
	}
	resources := strs(s.Body["Resource"])
	if len(resources) == 0 {
		t.Errorf("%s: no Resource", s.Where)
	}
	for _, r := range resources {
		if r == "*" {
			for _, a := range actions {
				nrt, ok := noResourceType[a]
				switch {
				case !ok:
					t.Errorf("%s: %s on Resource \"*\": it has resource-level permissions, name the ARN", s.Where, a)
				case nrt.needsCondition && s.Body["Condition"] == nil:
					t.Errorf("%s: %s on \"*\" without its Condition", s.Where, a)
				}
			}
			continue
		}
		if strings.Contains(r, "${") || !strings.HasPrefix(r, "arn:aws:") {
			t.Errorf("%s: resource %q is not a resolved ARN", s.Where, r)
		}
		if strings.ContainsAny(r, "*?") && !scopedWildcard.MatchString(r) {
			t.Errorf("%s: resource %q has a wildcard beyond one log group's streams, one secret's suffix or one bucket prefix's objects", s.Where, r)
		}
		service := strings.SplitN(r, ":", 4)[2]
		for _, a := range actions {
			if svc, _, _ := strings.Cut(a, ":"); svc != service {
				t.Errorf("%s: %s granted on %s resource %q", s.Where, a, service, r)
			}
		}
	}
}

// TestExecutionRole: the function runs with the stack's own role, which SAM leaves alone,
// trusting only Lambda; every document states its Version (without it IAM reads the 2008
// language, which has no policy variables; moto refuses such a document).
func TestExecutionRole(t *testing.T) {
	eachSet(t, func(t *testing.T, st *stack) {
		fn := st.get(t, "RevokeFunction")
		role := st.get(t, "RevokeFunctionRole")
		if got, want := str(fn.Properties, "Role"), "arn:aws:iam::"+account+":role/"+role.Name; got != want {
			t.Fatalf("the function's role is %q, not the stack's RevokeFunctionRole (%s)", got, want)
		}
		trust := role.Properties["AssumeRolePolicyDocument"]
		st0, _ := path(trust, "Statement").([]any)
		if len(st0) != 1 || strings.Join(strs(path(st0[0], "Principal", "Service")), ",") != "lambda.amazonaws.com" || strings.Join(strs(path(st0[0], "Action")), ",") != "sts:AssumeRole" {
			t.Errorf("the role trusts more than lambda.amazonaws.com: %v", trust)
		}
		for _, s := range identityStatements(t, st) {
			if s.Role == role.ID && str(s.Doc, "Version") != "2012-10-17" {
				t.Errorf("%s: policy Version %q, want 2012-10-17", s.Where, str(s.Doc, "Version"))
			}
		}
	})
}

func TestFunctionRuntime(t *testing.T) {
	eachSet(t, func(t *testing.T, st *stack) {
		fn := st.get(t, "RevokeFunction")
		p := fn.Properties
		for key, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
			if got := str(p, key); got != want {
				t.Errorf("%s = %q, want %q", key, got, want)
			}
		}
		if got := strs(p["Architectures"]); len(got) != 1 || got[0] != "arm64" {
			t.Errorf("Architectures %v", got)
		}
		if str(p, "TracingConfig", "Mode") != "Active" {
			t.Error("tracing is not active")
		}
		if str(fn.Metadata, "BuildMethod") != "makefile" {
			t.Error("BuildMethod must be makefile: the Makefile adds -tags lambda.norpc")
		}
		if str(p, "LoggingConfig", "LogFormat") != "JSON" {
			t.Error("LogFormat must be JSON")
		}
		if got, want := str(p, "LoggingConfig", "ApplicationLogLevel"), scalar(st.Params["LogLevel"]); got != want {
			t.Errorf("ApplicationLogLevel %q, want the LogLevel parameter %q", got, want)
		}
		if got, want := str(p, "LoggingConfig", "LogGroup"), st.get(t, "RevokeLogGroup").Name; got != want {
			t.Errorf("the function logs to %q, not its own log group %q (its role may write only there)", got, want)
		}
		if p["ReservedConcurrentExecutions"] == nil {
			t.Error("no reserved concurrency")
		}
		if timeout(t, st) < 30 {
			t.Errorf("timeout %v s leaves too little for Graph retries", p["Timeout"])
		}
		env, _ := path(p, "Environment", "Variables").(map[string]any)
		if got, want := scalar(env["STATE_TABLE"]), st.get(t, "StateTable").Name; got != want {
			t.Errorf("STATE_TABLE=%q, want the stack's table %q", got, want)
		}
		if got, want := scalar(env["RESULT_BUS"]), scalar(st.Params["ResultBusName"]); got != want {
			t.Errorf("RESULT_BUS=%q, want ResultBusName %q", got, want)
		}

		cfgs := st.ofType("AWS::Lambda::EventInvokeConfig")
		if len(cfgs) != 1 {
			t.Fatalf("%d EventInvokeConfigs", len(cfgs))
		}
		cfg := cfgs[0].Properties
		if str(cfg, "FunctionName") != fn.Name {
			t.Errorf("EventInvokeConfig is for %q", str(cfg, "FunctionName"))
		}
		if got, want := str(cfg, "DestinationConfig", "OnFailure", "Destination"), arnOf(t, st, "FailedAlertsQueue"); got != want {
			t.Errorf("OnFailure goes to %q, not the failure queue %q: unhandled alerts would be dropped after retries", got, want)
		}
		if path(cfg, "DestinationConfig", "OnSuccess") != nil {
			t.Error("an OnSuccess destination: SOAR would see Lambda's result shape beside the function's own result event, for async invocations only")
		}
	})
}

func timeout(t *testing.T, st *stack) float64 {
	t.Helper()
	v, ok := st.get(t, "RevokeFunction").Properties["Timeout"].(float64)
	if !ok {
		t.Fatal("the function has no Timeout")
	}
	return v
}

// arnOf is the ARN of a resource in the stack.
func arnOf(t *testing.T, st *stack, id string) string {
	t.Helper()
	res := st.get(t, id)
	switch res.Type {
	case "AWS::SQS::Queue":
		return "arn:aws:sqs:" + region + ":" + account + ":" + res.Name
	case "AWS::Lambda::Function":
		return "arn:aws:lambda:" + region + ":" + account + ":function:" + res.Name
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + region + ":" + account + ":" + res.Name
	}
	t.Fatalf("arnOf %s (%s)", id, res.Type)
	return ""
}

// TestEverySettingIsAParameter: each variable the function reads in production is set by
// the deployed template, and each one the template sets is read.
func TestEverySettingIsAParameter(t *testing.T) {
	// Overrides for emulators and what Lambda itself sets.
	exempt := map[string]bool{"GRAPH_BASE_URL": true, "AZURE_AUTHORITY_HOST": true, "AWS_LAMBDA_LOG_LEVEL": true}
	read := map[string]bool{}
	re := regexp.MustCompile(`getenv\("([A-Z_]+)"\)`)
	files, _ := filepath.Glob(filepath.Join("..", "app", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !exempt[m[1]] {
				read[m[1]] = true
			}
		}
	}
	if len(read) < 5 {
		t.Fatalf("found only %v: the scan is broken", read)
	}
	set := map[string]bool{}
	for _, p := range sets {
		env, _ := path(deploy(t, p).get(t, "RevokeFunction").Properties, "Environment", "Variables").(map[string]any)
		for k := range env {
			set[k] = true
		}
	}
	var missing, unread []string
	for v := range read {
		if !set[v] {
			missing = append(missing, v)
		}
	}
	for v := range set {
		if !read[v] {
			unread = append(unread, v)
		}
	}
	sort.Strings(missing)
	sort.Strings(unread)
	if len(missing) > 0 {
		t.Errorf("the function reads %v but no deployment sets them", missing)
	}
	if len(unread) > 0 {
		t.Errorf("the template sets %v but the function never reads them", unread)
	}
}

// TestEverySourceDeadLettersToTheFailureQueue: whatever way an event reaches the function,
// if it cannot be delivered or handled it ends in FailedAlertsQueue, the one queue the
// alarm watches, and no rule rewrites what the function receives.
func TestEverySourceDeadLettersToTheFailureQueue(t *testing.T) {
	eachSet(t, func(t *testing.T, st *stack) {
		fnArn := arnOf(t, st, "RevokeFunction")
		failures := arnOf(t, st, "FailedAlertsQueue")
		rules := 0
		for _, rule := range st.ofType("AWS::Events::Rule") {
			targets, _ := rule.Properties["Targets"].([]any)
			for _, tg := range targets {
				if str(tg, "Arn") != fnArn {
					continue
				}
				rules++
				if got := str(tg, "DeadLetterConfig", "Arn"); got != failures {
					t.Errorf("%s: dead-letters to %q, not the failure queue", rule.ID, got)
				}
				if path(tg, "RetryPolicy") == nil {
					t.Errorf("%s: no retry policy", rule.ID)
				}
				// The function reads a bare payload as a direct invocation, a trusted
				// channel: a rule must hand it the whole event, envelope and all.
				for _, k := range []string{"Input", "InputPath", "InputTransformer"} {
					if path(tg, k) != nil {
						t.Errorf("%s: its target sets %s: the function would take the rewritten event for a direct request", rule.ID, k)
					}
				}
			}
		}
		if rules == 0 {
			t.Fatal("no rule targets the function")
		}
		for _, sch := range st.ofType("AWS::Scheduler::Schedule") {
			if str(sch.Properties, "Target", "Arn") != fnArn {
				continue
			}
			if got := str(sch.Properties, "Target", "DeadLetterConfig", "Arn"); got != failures {
				t.Errorf("%s: dead-letters to %q, not the failure queue", sch.ID, got)
			}
			if _, named := sch.Properties["Name"]; named {
				t.Errorf("%s: a fixed Name collides with a second stack's schedule in the same account (OmitName)", sch.ID)
			}
		}
		for _, esm := range st.ofType("AWS::Lambda::EventSourceMapping") {
			queue := str(esm.Properties, "EventSourceArn")
			q := queueByArn(t, st, queue)
			if got := str(q.Properties, "RedrivePolicy", "deadLetterTargetArn"); got != failures {
				t.Errorf("%s: queue %s redrives to %q, not the failure queue", esm.ID, q.ID, got)
			}
			if !contains(strs(esm.Properties["FunctionResponseTypes"]), "ReportBatchItemFailures") {
				t.Errorf("%s: without ReportBatchItemFailures one failed record retries the whole batch", esm.ID)
			}
		}
		var queues []string
		for _, q := range st.ofType("AWS::SQS::Queue") {
			queues = append(queues, q.ID)
		}
		if strings.Join(queues, ",") != "FailedAlertsQueue,SoarRequestsQueue,SweepQueue" {
			t.Errorf("queues %v: a queue nobody watches (SAM makes one for a DeadLetterConfig it does not read as an ARN)", queues)
		}
		// EventBridge puts its dead letters with its own identity: the queue policy must let it.
		pol := st.get(t, "FailedAlertsQueuePolicy")
		ok := false
		statements, _ := path(pol.Properties, "PolicyDocument", "Statement").([]any)
		for _, s := range statements {
			if contains(strs(path(s, "Principal", "Service")), "events.amazonaws.com") && contains(strs(path(s, "Action")), "sqs:SendMessage") && contains(strs(path(s, "Resource")), failures) {
				ok = true
			}
		}
		if !ok {
			t.Error("FailedAlertsQueuePolicy does not let EventBridge send dead letters")
		}
	})
}

func queueByArn(t *testing.T, st *stack, arn string) resource {
	for _, q := range st.ofType("AWS::SQS::Queue") {
		if arnOf(t, st, q.ID) == arn {
			return q
		}
	}
	t.Fatalf("no queue %s in the stack", arn)
	return resource{}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSweepSchedules: each shipped schedule's input is a sweep request the function
// accepts, on when its parameters say so, and the group sweep carries the operator's
// approval.
func TestSweepSchedules(t *testing.T) {
	eachSet(t, func(t *testing.T, st *stack) {
		risky := st.get(t, "RevokeFunctionRiskyUserSweep").Properties
		group := st.get(t, "RevokeFunctionGroupSweep").Properties
		if got, want := str(risky, "State"), scalar(st.Params["RiskySweepState"]); got != want {
			t.Errorf("risky-user sweep %s, want %s", got, want)
		}
		groupID := scalar(st.Params["OffboardingGroupId"])
		if got := str(group, "State"); got != map[bool]string{true: "ENABLED", false: "DISABLED"}[groupID != ""] {
			t.Errorf("group sweep %s with OffboardingGroupId %q", got, groupID)
		}
		for name, sch := range map[string]map[string]any{"risky": risky, "group": group} {
			if str(sch, "State") != "ENABLED" {
				continue
			}
			input := []byte(str(sch, "Target", "Input"))
			spec, err := sweep.Parse(delivery.TopLevel(input))
			if err != nil {
				t.Errorf("%s sweep input %s: %v", name, input, err)
				continue
			}
			if name == "group" {
				if spec.Group != groupID {
					t.Errorf("group sweep lists %q, not OffboardingGroupId %q", spec.Group, groupID)
				}
				if got, want := spec.Approved, scalar(st.Params["GroupSweepApproved"]) == "true"; got != want {
					t.Errorf("group sweep approved=%v, GroupSweepApproved=%v", got, want)
				}
			}
		}
	})
}

// TestAlarms: operators are told when alerts fail, users are not revoked, approvals wait
// or the function nears its timeout; the dashboard shows every alarm.
func TestAlarms(t *testing.T) {
	eachSet(t, func(t *testing.T, st *stack) {
		topic := arnOf(t, st, "AlarmTopic")
		fn := st.get(t, "RevokeFunction").Name
		queue, sweepQueue := st.get(t, "FailedAlertsQueue").Name, st.get(t, "SweepQueue").Name
		type metric struct{ namespace, name, dimension, value string }
		want := map[metric]string{
			{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue}: "messages in the failure queue",
			{"AWS/Lambda", "Errors", "FunctionName", fn}:                          "function errors",
			{"AWS/Lambda", "Throttles", "FunctionName", fn}:                       "throttles",
			{"AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", fn}:     "failed events the failure queue did not get",
			{"AWS/Lambda", "Duration", "FunctionName", fn}:                        "duration near the timeout",
			{"SessionRevoker", "Failed", "FunctionName", fn}:                      "failed users",
			{"SessionRevoker", "NeedsApproval", "FunctionName", fn}:               "alerts waiting for approval",
		}
		var arns []string
		for _, a := range st.ofType("AWS::CloudWatch::Alarm") {
			arns = append(arns, "arn:aws:cloudwatch:"+region+":"+account+":alarm:"+a.Name)
			p := a.Properties
			dims, _ := p["Dimensions"].([]any)
			if len(dims) != 1 {
				t.Errorf("%s: dimensions %v: one alarm per function (the metrics carry a FunctionName-only set)", a.ID, dims)
				continue
			}
			m := metric{str(p, "Namespace"), str(p, "MetricName"), str(dims[0], "Name"), str(dims[0], "Value")}
			if _, ok := want[m]; !ok {
				t.Errorf("%s watches %v, which nothing here emits for this stack", a.ID, m)
				continue
			}
			delete(want, m)
			if !contains(strs(p["AlarmActions"]), topic) {
				t.Errorf("%s notifies %v, not the alarm topic", a.ID, p["AlarmActions"])
			}
			threshold, _ := p["Threshold"].(float64)
			if m.name == "Duration" {
				if limit := timeout(t, st) * 1000; threshold < 0.7*limit || threshold >= limit {
					t.Errorf("%s: threshold %v ms for a %v ms timeout", a.ID, threshold, limit)
				}
			} else if threshold != 0 || str(p, "ComparisonOperator") != "GreaterThanThreshold" {
				t.Errorf("%s: alarms above %v, not on the first one", a.ID, threshold)
			}
			if str(p, "TreatMissingData") != "notBreaching" {
				t.Errorf("%s: a quiet period (no data) would alarm", a.ID)
			}
		}
		for m, what := range want {
			t.Errorf("no alarm on %s (%v)", what, m)
		}
		subs := st.ofType("AWS::SNS::Subscription")
		if email := scalar(st.Params["AlarmEmail"]); email == "" {
			if len(subs) != 0 {
				t.Errorf("a subscription without AlarmEmail")
			}
		} else if len(subs) != 1 || str(subs[0].Properties, "Endpoint") != email || str(subs[0].Properties, "TopicArn") != topic {
			t.Errorf("AlarmEmail %s: subscriptions %v", email, subs)
		}

		var body struct {
			Widgets []struct {
				Type       string `json:"type"`
				Properties struct {
					Title   string   `json:"title"`
					Alarms  []string `json:"alarms"`
					Metrics [][]any  `json:"metrics"`
				} `json:"properties"`
			} `json:"widgets"`
		}
		if err := json.Unmarshal([]byte(str(st.get(t, "Dashboard").Properties, "DashboardBody")), &body); err != nil {
			t.Fatalf("dashboard body: %v", err)
		}
		shown := map[string]bool{}
		for _, w := range body.Widgets {
			for _, a := range w.Properties.Alarms {
				shown[a] = true
			}
			for _, m := range w.Properties.Metrics {
				if len(m) >= 4 && (m[2] == "FunctionName" && m[3] != fn || m[2] == "QueueName" && m[3] != queue && m[3] != sweepQueue) {
					t.Errorf("dashboard %q shows %v, not this stack's", w.Properties.Title, m)
				}
			}
		}
		for _, a := range arns {
			if !shown[a] {
				t.Errorf("the dashboard does not show alarm %s", a)
			}
		}
	})
}
