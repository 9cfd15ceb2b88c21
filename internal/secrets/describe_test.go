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
		"AccessDeniedException":     "secretsmanager:GetSecretValue",
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
