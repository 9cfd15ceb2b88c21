package deploy

// The launcher corrects moto (testdata/moto_launcher.py). A correction that made every
// request pass would make every test here pass too; these prove the corrected checks still
// deny what AWS denies: an action the role lacks, and a policy scoped to the wrong ARN.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/session-revoker/session-revoker/internal/secrets"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

// role creates a role holding the given inline policy documents and managed policy ARNs,
// and returns credentials of a session of it.
func (e *awsEnv) role(t *testing.T, name string, trust any, inline map[string]any, managed []string) aws.Config {
	t.Helper()
	ctx := context.Background()
	admin := e.admin()
	ic := iam.NewFromConfig(admin)
	doc := func(v any) *string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return aws.String(string(b))
	}
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: doc(trust)}); err != nil {
		t.Fatalf("role %s: %v", name, err)
	}
	for pname, d := range inline {
		if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pname), PolicyDocument: doc(d)}); err != nil {
			t.Fatalf("policy %s of %s: %v", pname, name, err)
		}
	}
	for _, arn := range managed {
		if _, err := ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(arn)}); err != nil {
			t.Fatalf("attach %s to %s: %v", arn, name, err)
		}
	}
	// Assumed by the test, before enforcement is on: it plays the Lambda service, which
	// the trust policy names.
	out, err := sts.NewFromConfig(admin).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + name), RoleSessionName: aws.String(name + "-session")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return e.config(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

var lambdaTrust = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
	"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}}}

func allow(actions []string, resource string) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": resource}}}
}

// denied reports whether err is AWS's AccessDeniedException, parsed by the Go SDK, and
// names the action.
func denied(t *testing.T, err error, action string) bool {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	if api.ErrorCode() != "AccessDeniedException" {
		t.Errorf("error code %q (%v): the Go SDK must see AccessDeniedException", api.ErrorCode(), err)
		return false
	}
	if !strings.Contains(api.ErrorMessage(), action) {
		t.Errorf("the denial does not name %s: %s", action, api.ErrorMessage())
	}
	return true
}

func TestEnforcementDeniesWhatAWSDenies(t *testing.T) {
	ctx := context.Background()
	env := launch(t)
	admin := env.admin()
	sm := secretsmanager.NewFromConfig(admin)
	for _, name := range []string{"session-revoker/graph-app", "session-revoker/graph-app-old"} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(`{"tenantId": "t", "clientId": "c", "clientSecret": "s"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	db := dynamodb.NewFromConfig(admin)
	for _, table := range []string{"state", "other"} {
		if err := moto.CreateStateTable(ctx, db, table); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eventbridge.NewFromConfig(admin).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("soar-results")}); err != nil {
		t.Fatal(err)
	}
	secretArn := "arn:aws:secretsmanager:" + region + ":" + account + ":secret:session-revoker/graph-app-??????"
	fn := env.role(t, "fn", lambdaTrust, map[string]any{
		// The template's pattern for one secret: moto's matcher crashed on "?".
		"secret": allow([]string{"secretsmanager:GetSecretValue"}, secretArn),
		"table":  allow([]string{"dynamodb:PutItem", "dynamodb:BatchGetItem"}, "arn:aws:dynamodb:"+region+":"+account+":table/state"),
		"bus":    allow([]string{"events:PutEvents"}, "arn:aws:events:"+region+":"+account+":event-bus/soar-results"),
	}, nil)
	env.enforce(t, true)

	fsm := secretsmanager.NewFromConfig(fn)
	if _, err := fsm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("session-revoker/graph-app")}); err != nil {
		t.Errorf("the granted read: %v", err)
	}
	_, err := fsm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("session-revoker/graph-app")})
	if !denied(t, err, "secretsmanager:DescribeSecret") {
		t.Errorf("an action the role lacks: %v", err)
	}
	// "-??????" is six characters: a longer name sharing the prefix is another secret.
	_, err = fsm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("session-revoker/graph-app-old")})
	if !denied(t, err, "secretsmanager:GetSecretValue") {
		t.Errorf("another secret: %v", err)
	}
	// The function's own store, through the caching library, tells the operator what to grant.
	store, err := secrets.NewStore(fsm, "session-revoker/graph-app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Credentials(ctx); err == nil || !strings.Contains(err.Error(), "denied secretsmanager:DescribeSecret") {
		t.Errorf("the store's error does not name the denied action: %v", err)
	}

	fdb := dynamodb.NewFromConfig(fn)
	item := map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "user#x"}}
	if _, err := fdb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("state"), Item: item}); err != nil {
		t.Errorf("the granted put: %v", err)
	}
	_, err = fdb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("other"), Item: item})
	if !denied(t, err, "dynamodb:PutItem") {
		t.Errorf("another table: %v", err)
	}
	_, err = fdb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("state"), Key: item})
	if !denied(t, err, "dynamodb:GetItem") {
		t.Errorf("an action the role lacks: %v", err)
	}
	// BatchGetItem names its tables in RequestItems: authorised on each, as AWS does.
	batch := func(tables ...string) *dynamodb.BatchGetItemInput {
		in := &dynamodb.BatchGetItemInput{RequestItems: map[string]dbtypes.KeysAndAttributes{}}
		for _, tb := range tables {
			in.RequestItems[tb] = dbtypes.KeysAndAttributes{Keys: []map[string]dbtypes.AttributeValue{item}}
		}
		return in
	}
	if _, err := fdb.BatchGetItem(ctx, batch("state")); err != nil {
		t.Errorf("the granted batch read: %v", err)
	}
	_, err = fdb.BatchGetItem(ctx, batch("state", "other"))
	if !denied(t, err, "dynamodb:BatchGetItem") {
		t.Errorf("a batch read that also names another table: %v", err)
	}

	feb := eventbridge.NewFromConfig(fn)
	entry := func(bus string) *eventbridge.PutEventsInput {
		return &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{EventBusName: aws.String(bus), Source: aws.String("session-revoker"), DetailType: aws.String("x"), Detail: aws.String("{}")}}}
	}
	if _, err := feb.PutEvents(ctx, entry("soar-results")); err != nil {
		t.Errorf("the granted put: %v", err)
	}
	_, err = feb.PutEvents(ctx, entry("default"))
	if !denied(t, err, "events:PutEvents") {
		t.Errorf("another bus: %v", err)
	}

	var allowed, refused int
	for _, a := range env.authorisations(t) {
		if a.Allowed {
			allowed++
		} else {
			refused++
		}
	}
	// The batch read naming two tables is authorised on each: allowed on one, refused on
	// the other.
	if allowed != 5 || refused != 7 {
		t.Errorf("the launcher logged %d allowed and %d refused requests, want the 5 granted and the 7 denied above", allowed, refused)
	}
}

// TestPatternsMatchInsideArrays: EventBridge matches a field under an array of objects
// against every element; moto did not, so Security Hub's rule (detail.findings.class_uid)
// matched nothing.
func TestPatternsMatchInsideArrays(t *testing.T) {
	env := launch(t)
	st := &stack{Params: map[string]any{"AlertBusName": "default"}, Resources: map[string]resource{
		"RevokeFunction": {ID: "RevokeFunction", Type: "AWS::Lambda::Function", Name: "fn"},
		"FindingsRule": {ID: "FindingsRule", Type: "AWS::Events::Rule", Name: "findings", Properties: map[string]any{
			"EventPattern": map[string]any{"source": []any{"aws.securityhub"}, "detail": map[string]any{"findings": map[string]any{"class_uid": []any{2004.0, 3002.0}}}},
			"Targets":      []any{map[string]any{"Arn": "arn:aws:lambda:" + region + ":" + account + ":function:fn"}},
		}},
	}}
	r := deployRules(t, env, st)
	for detail, want := range map[string]string{
		`{"findings": [{"class_uid": 2003}, {"class_uid": 2004}]}`: "FindingsRule",
		`{"findings": [{"class_uid": 2003}, {"class_uid": 5001}]}`: "",
		`{"findings": []}`: "",
	} {
		if got := strings.Join(r.deliver(t, "default", "aws.securityhub", "Findings Imported V2", []byte(detail)), ","); got != want {
			t.Errorf("%s: matched %q, want %q", detail, got, want)
		}
	}
}
