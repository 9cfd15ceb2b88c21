package esm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// event is what Lambda sends the function for an SQS batch.
type event struct {
	Records []record `json:"Records"`
}

// record is one message as Lambda delivers it, members in the order Lambda writes them
// ("Using Lambda with Amazon SQS", example event; a logged event shows
// md5OfMessageAttributes null for a message without attributes).
type record struct {
	MessageID              string                      `json:"messageId"`
	ReceiptHandle          string                      `json:"receiptHandle"`
	Body                   string                      `json:"body"`
	Attributes             map[string]string           `json:"attributes"`
	MessageAttributes      map[string]messageAttribute `json:"messageAttributes"`
	Md5OfMessageAttributes *string                     `json:"md5OfMessageAttributes"`
	Md5OfBody              string                      `json:"md5OfBody"`
	EventSource            string                      `json:"eventSource"`
	EventSourceARN         string                      `json:"eventSourceARN"`
	AWSRegion              string                      `json:"awsRegion"`
}

// messageAttribute is SQS's MessageAttributeValue in Lambda's camel case; the two lists
// are always present, empty when unused.
type messageAttribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

func toRecord(m types.Message, queueARN, region string) record {
	attrs := make(map[string]string, len(m.Attributes))
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	mattrs := make(map[string]messageAttribute, len(m.MessageAttributes))
	for k, v := range m.MessageAttributes {
		a := messageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue,
			StringListValues: v.StringListValues, BinaryListValues: v.BinaryListValues, DataType: deref(v.DataType)}
		if a.StringListValues == nil {
			a.StringListValues = []string{}
		}
		if a.BinaryListValues == nil {
			a.BinaryListValues = [][]byte{}
		}
		mattrs[k] = a
	}
	return record{
		MessageID:              deref(m.MessageId),
		ReceiptHandle:          deref(m.ReceiptHandle),
		Body:                   deref(m.Body),
		Attributes:             attrs,
		MessageAttributes:      mattrs,
		Md5OfMessageAttributes: m.MD5OfMessageAttributes,
		Md5OfBody:              deref(m.MD5OfBody),
		EventSource:            "aws:sqs",
		EventSourceARN:         queueARN,
		AWSRegion:              region,
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// regionOf reads the region out of a queue ARN: arn:aws:sqs:<region>:<account>:<name>.
func regionOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 {
		return ""
	}
	return parts[3]
}

// errResponse says why a response made the whole batch a failure.
var errResponse = errors.New("the function's response is not a partial batch response")

// retries reads a partial batch response: the message ids the function asks to be retried.
// Lambda's rules ("Handling errors for an SQS event source in Lambda", success and failure
// conditions): an empty or null batchItemFailures list, or an empty or null response, is a
// complete success; an invalid JSON response, an itemIdentifier that is empty, null, under
// another key or not a message of the batch is a complete failure (err is then non-nil and
// the whole batch comes back). A response of valid JSON that is not an object is taken as
// invalid: it cannot be read as the response Lambda expects.
func retries(resp json.RawMessage, batch map[string]bool) ([]string, error) {
	text := strings.TrimSpace(string(resp))
	if text == "" || text == "null" {
		return nil, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		return nil, fmt.Errorf("%w: %v", errResponse, err)
	}
	raw, ok := top["batchItemFailures"]
	if !ok || strings.TrimSpace(string(raw)) == "null" {
		return nil, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%w: batchItemFailures: %v", errResponse, err)
	}
	var ids []string
	seen := map[string]bool{}
	for i, it := range items {
		v, ok := it["itemIdentifier"]
		if !ok {
			return nil, fmt.Errorf("%w: batchItemFailures[%d] has no itemIdentifier", errResponse, i)
		}
		var id *string
		if err := json.Unmarshal(v, &id); err != nil || id == nil || *id == "" {
			return nil, fmt.Errorf("%w: batchItemFailures[%d].itemIdentifier is null, empty or not a string", errResponse, i)
		}
		if !batch[*id] {
			return nil, fmt.Errorf("%w: batchItemFailures[%d].itemIdentifier %q is no message of the batch", errResponse, i, *id)
		}
		if !seen[*id] {
			seen[*id] = true
			ids = append(ids, *id)
		}
	}
	return ids, nil
}
