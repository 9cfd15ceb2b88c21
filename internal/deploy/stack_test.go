package deploy

// The stack as AWS deploys it: template.yaml through the SAM transform (the translator
// itself, testdata/sam_transform.py), then rendered for one set of parameter values the
// way CloudFormation would: conditions evaluated, resources whose condition is false
// removed, every Ref, GetAtt, Sub, If, Join, Split and Select resolved to the values a
// stack named "session-revoker" in a fixed account and region would hold. Every test in
// this package reads that, never the YAML text.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

// The account and region every rendered ARN names: moto's default account, so the IAM
// run can create the same resources there.
const (
	account   = "123456789012"
	region    = "us-east-1"
	partition = "aws"
	stackName = "session-revoker"
)

var templatePath = filepath.Join("..", "..", "template.yaml")

// Parameter sets the tests deploy. Each is transformed on its own: CloudFormation hands the
// SAM transform the stack's parameter values.
var (
	// defaults: a first deployment, every optional source off.
	defaults = params{}
	// everything on: every optional source, the alert bus not the default one, sweeps on.
	allOn = params{
		"AlertBusName":          "security-alerts",
		"DatadogBusName":        "aws.partner/datadog.com/datadog-us1/7f3a9c2e-session-revoker",
		"OktaBusName":           "aws.partner/okta.com/contoso-1234/okta-logs",
		"EnableSecurityHubRule": "true",
		"AlertMappings":         `[{"name": "acme-idp", "match": {"source": "com.acme.idp"}, "users": "accounts[].upn"}]`,
		"AlertMappingSources":   "com.acme.idp,com.example.siem",
		"ResultBusName":         "soar-results",
		"RiskySweepState":       "ENABLED",
		"OffboardingGroupId":    "0f4c6b1e-8a2d-4e3f-9b7c-5d1a2e3f4b6c",
		"GroupSweepApproved":    "true",
		"AlarmEmail":            "soc@contoso.com",
		"DryRun":                "false",
		"LogLevel":              "DEBUG",
		"EnableWebhook":         "true",
		"PollState":             "ENABLED",
	}
	// federated: no secret anywhere.
	federated = params{
		"GraphAuth":     "federated",
		"GraphTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"GraphClientId": "3f9a1c2e-5b7d-4e8f-a0c1-2d3e4f5a6b7c",
	}
	// live: the defaults, acting, with DEBUG lines and both sweeps on (the group sweep
	// approved, over the emulator's offboarding group) and a bucket for explicit lists:
	// what the IAM-enforced run deploys.
	live = params{"DryRun": "false", "LogLevel": "DEBUG", "RiskySweepState": "ENABLED",
		"OffboardingGroupId": "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15", "GroupSweepApproved": "true",
		"SweepListBucket": "contoso-incident-lists", "SweepListPrefix": "session-revoker/"}

	// pollAlertsOnly: the poll reads security alerts only.
	pollAlertsOnly = params{"PollState": "ENABLED", "PollRiskDetectionRules": "[]"}

	// sets is every parameter set, by name, for messages.
	sets = map[string]params{"defaults": defaults, "all sources on": allOn, "federated": federated, "live": live, "poll alerts only": pollAlertsOnly}
)

type params map[string]string

func (p params) key() string {
	b, _ := json.Marshal(p) // sorted keys
	return string(b)
}

var transformed struct {
	once sync.Once
	out  map[string]map[string]any // params.key() -> CloudFormation template
	err  error
}

// transform runs the SAM translator once for every parameter set.
func transform() (map[string]map[string]any, error) {
	transformed.once.Do(func() {
		py, err := moto.Python()
		if err != nil {
			transformed.err = err
			return
		}
		var keys []string
		var in []map[string]string
		for _, p := range sets {
			vals := map[string]string{"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": partition, "AWS::StackName": stackName}
			for k, v := range p {
				vals[k] = v
			}
			keys = append(keys, p.key())
			in = append(in, vals)
		}
		body, _ := json.Marshal(in)
		cmd := exec.Command(py, filepath.Join("testdata", "sam_transform.py"), templatePath)
		cmd.Stdin = bytes.NewReader(body)
		cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION="+region)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			transformed.err = fmt.Errorf("SAM transform: %v\n%s", err, stderr.String())
			return
		}
		var templates []map[string]any
		if err := json.Unmarshal(out, &templates); err != nil || len(templates) != len(keys) {
			transformed.err = fmt.Errorf("SAM transform output: %v (%d templates for %d parameter sets)", err, len(templates), len(keys))
			return
		}
		transformed.out = map[string]map[string]any{}
		for i, k := range keys {
			transformed.out[k] = templates[i]
		}
	})
	return transformed.out, transformed.err
}

// stack is one rendered deployment.
type stack struct {
	Params    map[string]any // every parameter's value (a list for a CommaDelimitedList)
	Resources map[string]resource
	Outputs   map[string]any
}

type resource struct {
	ID         string
	Type       string
	Name       string // physical name or id: what Ref gives
	Properties map[string]any
	Metadata   map[string]any
}

// deploy renders the transformed template for p.
func deploy(t testing.TB, p params) *stack {
	t.Helper()
	all, err := transform()
	if err != nil {
		t.Fatal(err)
	}
	tpl, ok := all[p.key()]
	if !ok {
		t.Fatalf("parameter set %v is not in sets: add it there", p)
	}
	st, err := render(tpl, p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// render resolves tpl for p, as CloudFormation would.
func render(tpl map[string]any, p params) (*stack, error) {
	r := &renderer{tpl: tpl, params: map[string]any{}, conds: map[string]bool{}, st: &stack{Resources: map[string]resource{}}}
	decl, _ := tpl["Parameters"].(map[string]any)
	for k := range p {
		if _, ok := decl[k]; !ok {
			return nil, fmt.Errorf("parameter %s is not declared by the template", k)
		}
	}
	for name, d := range decl {
		v, err := parameterValue(name, d.(map[string]any), p)
		if err != nil {
			return nil, err
		}
		r.params[name] = v
	}
	r.st.Params = r.params
	conds, _ := tpl["Conditions"].(map[string]any)
	for name := range conds {
		if _, err := r.condition(name); err != nil {
			return nil, err
		}
	}
	// Physical names first: a Ref or GetAtt may name any resource.
	resources, _ := tpl["Resources"].(map[string]any)
	r.names = map[string]string{}
	for id, v := range resources {
		res := v.(map[string]any)
		if c, ok := res["Condition"].(string); ok {
			on, err := r.condition(c)
			if err != nil {
				return nil, err
			}
			if !on {
				continue
			}
		}
		r.names[id] = ""
	}
	for id := range r.names {
		res := resources[id].(map[string]any)
		name, err := r.physicalName(id, res)
		if err != nil {
			return nil, err
		}
		r.names[id] = name
	}
	for id := range r.names {
		res := resources[id].(map[string]any)
		props, err := r.value(res["Properties"])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		pm, _ := props.(map[string]any)
		meta, _ := res["Metadata"].(map[string]any)
		r.st.Resources[id] = resource{ID: id, Type: res["Type"].(string), Name: r.names[id], Properties: pm, Metadata: meta}
	}
	// An output whose condition is false is not in the stack either.
	if outputs, ok := tpl["Outputs"].(map[string]any); ok {
		kept := map[string]any{}
		for name, o := range outputs {
			if c, ok := o.(map[string]any)["Condition"].(string); ok {
				on, err := r.condition(c)
				if err != nil {
					return nil, err
				}
				if !on {
					continue
				}
			}
			kept[name] = o
		}
		tpl = shallowWith(tpl, "Outputs", kept)
	}
	outs, err := r.value(tpl["Outputs"])
	if err != nil {
		return nil, fmt.Errorf("Outputs: %w", err)
	}
	r.st.Outputs, _ = outs.(map[string]any)
	return r.st, nil
}

// shallowWith is m with key set to v, m itself untouched (it is shared by every render).
func shallowWith(m map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	out[key] = v
	return out
}

// parameterValue is what CloudFormation takes for a parameter, refusing a value its
// constraints refuse (as a deploy would).
func parameterValue(name string, d map[string]any, p params) (any, error) {
	v, given := p[name]
	if !given {
		def, ok := d["Default"]
		if !ok {
			return nil, fmt.Errorf("parameter %s has no default and no value", name)
		}
		v = scalar(def)
	}
	if allowed, ok := d["AllowedValues"].([]any); ok {
		found := false
		for _, a := range allowed {
			found = found || scalar(a) == v
		}
		if !found {
			return nil, fmt.Errorf("parameter %s=%q is not one of %v", name, v, allowed)
		}
	}
	if pat, ok := d["AllowedPattern"].(string); ok && d["Type"] == "String" {
		if !regexp.MustCompile("^(?:" + pat + ")$").MatchString(v) {
			return nil, fmt.Errorf("parameter %s=%q does not match %s", name, v, pat)
		}
	}
	switch d["Type"] {
	case "Number":
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("parameter %s=%q is not a number", name, v)
		}
		if min, ok := d["MinValue"]; ok && n < toFloat(min) {
			return nil, fmt.Errorf("parameter %s=%v is below %v", name, n, min)
		}
	case "CommaDelimitedList":
		var list []any
		for _, item := range strings.Split(v, ",") {
			list = append(list, item)
		}
		return list, nil
	}
	return v, nil
}

func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(scalar(v), 64)
	return f
}

type renderer struct {
	tpl    map[string]any
	params map[string]any
	conds  map[string]bool
	names  map[string]string // logical id -> physical name, for resources deployed
	st     *stack
}

// noValue marks AWS::NoValue: the key or list item holding it is removed.
type noValue struct{}

func (r *renderer) condition(name string) (bool, error) {
	if v, ok := r.conds[name]; ok {
		return v, nil
	}
	conds, _ := r.tpl["Conditions"].(map[string]any)
	def, ok := conds[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not declared", name)
	}
	v, err := r.evaluate(def)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.conds[name] = v
	return v, nil
}

func (r *renderer) evaluate(def any) (bool, error) {
	m, ok := def.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition function: %v", def)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return r.condition(arg.(string))
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals takes 2 values: %v", arg)
			}
			a, err := r.value(args[0])
			if err != nil {
				return false, err
			}
			b, err := r.value(args[1])
			if err != nil {
				return false, err
			}
			return scalar(a) == scalar(b), nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not takes 1 condition: %v", arg)
			}
			v, err := r.evaluate(args[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			for _, a := range args {
				v, err := r.evaluate(a)
				if err != nil {
					return false, err
				}
				if v != and {
					return v, nil
				}
			}
			return and, nil
		}
		return false, fmt.Errorf("unknown condition function %s", fn)
	}
	return false, nil
}

// value resolves every intrinsic in v.
func (r *renderer) value(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, item := range v {
			x, err := r.value(item)
			if err != nil {
				return nil, err
			}
			if _, drop := x.(noValue); !drop {
				out = append(out, x)
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, item := range v {
			x, err := r.value(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := x.(noValue); !drop {
				out[k] = x
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *renderer) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return r.ref(arg.(string))
	case "Fn::GetAtt":
		var id, attr string
		switch a := arg.(type) {
		case []any:
			id, attr = a[0].(string), a[1].(string)
		case string:
			id, attr, _ = strings.Cut(a, ".")
		}
		return r.getAtt(id, attr)
	case "Fn::If":
		a := arg.([]any)
		on, err := r.condition(a[0].(string))
		if err != nil {
			return nil, err
		}
		if on {
			return r.value(a[1])
		}
		return r.value(a[2])
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		a := arg.([]any)
		list, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, item := range list.([]any) {
			parts = append(parts, scalar(item))
		}
		return strings.Join(parts, a[0].(string)), nil
	case "Fn::Split":
		a := arg.([]any)
		s, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, part := range strings.Split(scalar(s), a[0].(string)) {
			out = append(out, part)
		}
		return out, nil
	case "Fn::Select":
		a := arg.([]any)
		list, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		i, _ := strconv.Atoi(scalar(a[0]))
		l := list.([]any)
		if i < 0 || i >= len(l) {
			return nil, fmt.Errorf("Fn::Select index %d out of %d", i, len(l))
		}
		return l[i], nil
	}
	return nil, fmt.Errorf("intrinsic %s is not rendered: teach stack_test.go", fn)
}

func (r *renderer) ref(name string) (any, error) {
	switch name {
	case "AWS::Region":
		return region, nil
	case "AWS::AccountId":
		return account, nil
	case "AWS::Partition":
		return partition, nil
	case "AWS::StackName":
		return stackName, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackId":
		return "arn:aws:cloudformation:" + region + ":" + account + ":stack/" + stackName + "/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9", nil
	case "AWS::NoValue":
		return noValue{}, nil
	}
	if v, ok := r.params[name]; ok {
		return v, nil
	}
	res, ok := r.resource(name)
	if !ok {
		return nil, fmt.Errorf("Ref %s: no such parameter or deployed resource", name)
	}
	physical := r.names[name]
	switch res["Type"] {
	case "AWS::SQS::Queue":
		return "https://sqs." + region + ".amazonaws.com/" + account + "/" + physical, nil
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + region + ":" + account + ":" + physical, nil
	}
	return physical, nil
}

func (r *renderer) resource(id string) (map[string]any, bool) {
	if _, deployed := r.names[id]; !deployed {
		return nil, false
	}
	resources := r.tpl["Resources"].(map[string]any)
	res, ok := resources[id].(map[string]any)
	return res, ok
}

// physicalName is the name a resource gets: the one its properties give, or one
// CloudFormation generates (stack-LogicalId-SUFFIX).
func (r *renderer) physicalName(id string, res map[string]any) (string, error) {
	props, _ := res["Properties"].(map[string]any)
	for _, key := range []string{"FunctionName", "TableName", "QueueName", "RoleName", "TopicName", "AlarmName", "DashboardName", "LogGroupName"} {
		if v, ok := props[key]; ok {
			x, err := r.value(v)
			if err != nil {
				return "", fmt.Errorf("%s.%s: %w", id, key, err)
			}
			return scalar(x), nil
		}
	}
	if v, ok := props["Name"]; ok && (res["Type"] == "AWS::Events::Rule" || res["Type"] == "AWS::Scheduler::Schedule" || res["Type"] == "AWS::Events::EventBus") {
		x, err := r.value(v)
		if err != nil {
			return "", err
		}
		return scalar(x), nil
	}
	return stackName + "-" + id + "-1AB2CD3EF4GH5", nil
}

func (r *renderer) getAtt(id, attr string) (any, error) {
	res, ok := r.resource(id)
	if !ok {
		return nil, fmt.Errorf("GetAtt %s.%s: no such deployed resource", id, attr)
	}
	name := r.names[id]
	arn := func(service, rest string) string {
		return "arn:" + partition + ":" + service + ":" + region + ":" + account + ":" + rest
	}
	typ, _ := res["Type"].(string)
	switch typ + "." + attr {
	case "AWS::Lambda::Function.Arn":
		return arn("lambda", "function:"+name), nil
	case "AWS::SQS::Queue.Arn":
		return arn("sqs", name), nil
	case "AWS::SQS::Queue.QueueName":
		return name, nil
	case "AWS::SQS::Queue.QueueUrl":
		return r.ref(id)
	case "AWS::DynamoDB::Table.Arn":
		return arn("dynamodb", "table/"+name), nil
	case "AWS::IAM::Role.Arn":
		return "arn:" + partition + ":iam::" + account + ":role/" + name, nil
	case "AWS::Logs::LogGroup.Arn":
		return arn("logs", "log-group:"+name+":*"), nil
	case "AWS::SNS::Topic.TopicArn":
		return arn("sns", name), nil
	case "AWS::SNS::Topic.TopicName":
		return name, nil
	case "AWS::CloudWatch::Alarm.Arn":
		return arn("cloudwatch", "alarm:"+name), nil
	case "AWS::Events::EventBus.Arn":
		return arn("events", "event-bus/"+name), nil
	case "AWS::Lambda::Url.FunctionUrl":
		return "https://" + strings.ToLower(strings.ReplaceAll(name, "-", "")[:20]) + ".lambda-url." + region + ".on.aws/", nil
	case "AWS::Scheduler::Schedule.Arn":
		return arn("scheduler", "schedule/default/"+name), nil
	case "AWS::Events::Rule.Arn":
		// A rule on a bus other than the default one has the bus in its ARN.
		props, _ := res["Properties"].(map[string]any)
		bus := "default"
		if b, ok := props["EventBusName"]; ok {
			v, err := r.value(b)
			if err != nil {
				return nil, err
			}
			bus = scalar(v)
			if i := strings.LastIndex(bus, ":event-bus/"); i >= 0 {
				bus = bus[i+len(":event-bus/"):]
			}
		}
		if bus == "default" {
			return arn("events", "rule/"+name), nil
		}
		return arn("events", "rule/"+bus+"/"+name), nil
	}
	return nil, fmt.Errorf("GetAtt %s.%s (%s) is not rendered: teach stack_test.go", id, attr, typ)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *renderer) sub(arg any) (any, error) {
	var s string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		s = a[0].(string)
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			x, err := r.value(v)
			if err != nil {
				return nil, err
			}
			vars[k] = x
		}
	}
	var failed error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}" // ${!Literal} is the literal ${Literal}
		}
		var v any
		var err error
		if x, ok := vars[name]; ok {
			v = x
		} else if id, attr, ok := strings.Cut(name, "."); ok {
			v, err = r.getAtt(id, attr)
		} else {
			v, err = r.ref(name)
		}
		if err != nil {
			failed = err
			return ""
		}
		if list, ok := v.([]any); ok {
			failed = fmt.Errorf("Fn::Sub ${%s} is a list (%v)", name, list)
		}
		return scalar(v)
	})
	return out, failed
}

// ---- reading the rendered stack ----

func (s *stack) get(t testing.TB, id string) resource {
	t.Helper()
	res, ok := s.Resources[id]
	if !ok {
		t.Fatalf("no resource %s in the deployed stack; it has %v", id, s.ids())
	}
	return res
}

func (s *stack) ids() []string {
	var ids []string
	for id := range s.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ofType lists the resources of one type, by logical id.
func (s *stack) ofType(typ string) []resource {
	var out []resource
	for _, id := range s.ids() {
		if s.Resources[id].Type == typ {
			out = append(out, s.Resources[id])
		}
	}
	return out
}

// path walks nested maps; nil when absent.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str is path for a string; "" when absent or not a string.
func str(v any, keys ...string) string {
	s, _ := path(v, keys...).(string)
	return s
}

// strs reads a string or a list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, item := range v {
			out = append(out, scalar(item))
		}
		return out
	}
	return nil
}

// arnOf is the ARN a role or log group of the stack has, as GetAtt renders it.
func (s *stack) arnOf(t testing.TB, id string) string {
	t.Helper()
	res := s.get(t, id)
	switch res.Type {
	case "AWS::IAM::Role":
		return "arn:" + partition + ":iam::" + account + ":role/" + res.Name
	case "AWS::Logs::LogGroup":
		return "arn:" + partition + ":logs:" + region + ":" + account + ":log-group:" + res.Name + ":*"
	}
	t.Fatalf("arnOf %s: a %s", id, res.Type)
	return ""
}

// eachSet runs f on every parameter set.
func eachSet(t *testing.T, f func(t *testing.T, st *stack)) {
	var names []string
	for name := range sets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { f(t, deploy(t, sets[name])) })
	}
}
