package secrets

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

// TestDescribe: each Secrets Manager failure an operator can meet is named with its fix.
// moto has no IAM, throttling or KMS, so these are the SDK's own error values.
func TestDescribe(t *testing.T) {
	for code, want := range map[string]string{
		"ResourceNotFoundException": "does not exist (check GRAPH_SECRET_ID",
		"AccessDeniedException":     "secretsmanager:DescribeSecret and secretsmanager:GetSecretValue",
		"ThrottlingException":       "throttled",
		"DecryptionFailure":         "kms:Decrypt",
		"InternalServiceError":      "InternalServiceError",
	} {
		err := describe(&smithy.GenericAPIError{Code: code, Message: "hunter2 is the value"}, "session-revoker/graph-app")
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "session-revoker/graph-app") {
			t.Errorf("%s: %q lacks %q", code, err, want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the service's message is repeated: %q", code, err)
		}
	}
	if err := describe(errors.New("dial tcp: connection refused"), "x"); !strings.Contains(err.Error(), "reading secret x") {
		t.Errorf("network: %v", err)
	}
}

// TestDescribeNamesTheDeniedAction: an operator is told the action the role lacks, not one
// it already has. The caching library calls DescribeSecret before GetSecretValue.
func TestDescribeNamesTheDeniedAction(t *testing.T) {
	denied := func(op, msg string) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: op, Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: msg}}
	}
	for name, c := range map[string]struct {
		err  error
		want string
	}{
		"describe, by its operation": {denied("DescribeSecret", "hunter2"), "denied secretsmanager:DescribeSecret on it"},
		"read, by AWS's message": {denied("GetSecretValue", "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: secretsmanager:GetSecretValue on resource: hunter2"),
			"denied secretsmanager:GetSecretValue on it"},
		"the key, by AWS's message": {denied("GetSecretValue", "User: x is not authorized to perform: kms:Decrypt on resource: hunter2"), "denied kms:Decrypt on it"},
	} {
		err := describe(c.err, "session-revoker/graph-app")
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q lacks %q", name, err, c.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the service's message is repeated: %q", name, err)
		}
	}
}
