package delivery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const envelope = `{"version":"0","id":"6f3c1e2a-9b4d-4a7e-8c51-2d0f7b9e4a13","detail-type":"Entra ID Risk Detection","source":"contoso.security.graph-relay","account":"123456789012","time":"2026-11-23T02:14:09Z","region":"us-east-1","resources":[],"detail":{"riskEventType":"impossibleTravel","userId":"x"}}`

func TestUnwrapEventBridge(t *testing.T) {
	b, err := Unwrap([]byte(envelope))
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != Single || len(b.Records) != 1 {
		t.Fatalf("got %v with %d records", b.Kind, len(b.Records))
	}
	r := b.Records[0]
	if r.Envelope.ID != "6f3c1e2a-9b4d-4a7e-8c51-2d0f7b9e4a13" || r.Envelope.Source != "contoso.security.graph-relay" || r.Envelope.DetailType != "Entra ID Risk Detection" {
		t.Errorf("envelope = %+v", r.Envelope)
	}
	if !strings.HasPrefix(string(r.Body), `{"riskEventType"`) {
		t.Errorf("body = %s, want the detail", r.Body)
	}
}

func TestUnwrapBare(t *testing.T) {
	b, err := Unwrap([]byte(`  {"userId": "AdeleV@contoso.com"}  `))
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != Single || b.Records[0].Envelope.Source != "" || string(b.Records[0].Body) != `{"userId": "AdeleV@contoso.com"}` {
		t.Fatalf("got %+v", b)
	}
	// A document with a "source" that is not an envelope stays whole.
	b, _ = Unwrap([]byte(`{"source":"MicrosoftCloudAppSecurity","riskEventType":"x","detail":"text"}`))
	if b.Records[0].Envelope.Source != "" {
		t.Errorf("riskDetection mistaken for an envelope: %+v", b.Records[0].Envelope)
	}
}

func TestUnwrapSQS(t *testing.T) {
	body, _ := json.Marshal(envelope)
	payload := `{"Records":[
		{"messageId":"m-1","receiptHandle":"h","body":` + string(body) + `,"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:revoke"},
		{"messageId":"m-2","body":"not json","eventSource":"aws:sqs"},
		{"messageId":"m-3","body":"{\"userId\":\"AdeleV@contoso.com\"}","eventSource":"aws:sqs"}]}`
	b, err := Unwrap([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != SQS || len(b.Records) != 3 {
		t.Fatalf("got %v with %d records", b.Kind, len(b.Records))
	}
	if b.Records[0].MessageID != "m-1" || b.Records[0].Envelope.DetailType != "Entra ID Risk Detection" {
		t.Errorf("record 0 = %+v", b.Records[0])
	}
	if b.Records[1].Err == nil || b.Records[1].MessageID != "m-2" {
		t.Errorf("record 1 should carry its own error and keep its id: %+v", b.Records[1])
	}
	if b.Records[2].Err != nil || string(b.Records[2].Body) != `{"userId":"AdeleV@contoso.com"}` {
		t.Errorf("record 2 = %+v", b.Records[2])
	}
}

func TestUnwrapPipes(t *testing.T) {
	b, err := Unwrap([]byte(`[{"messageId":"p-1","body":"{\"userId\":\"a@b.com\"}","eventSource":"aws:sqs"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != Pipes || len(b.Records) != 1 || b.Records[0].MessageID != "p-1" {
		t.Fatalf("got %+v", b)
	}
	// A Pipes transformer can hand over plain documents: no id, still records.
	b, _ = Unwrap([]byte(`[` + envelope + `, 42]`))
	if b.Records[0].Envelope.ID == "" || b.Records[1].Err == nil {
		t.Fatalf("got %+v", b)
	}
}

func TestUnwrapRefuses(t *testing.T) {
	for name, payload := range map[string]string{
		"empty":   "",
		"invalid": `{"userId": `,
		"scalar":  `"AdeleV@contoso.com"`,
		"pipes[]": `[]`,
	} {
		if _, err := Unwrap([]byte(payload)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	big := make([]byte, MaxPayload+1)
	if _, err := Unwrap(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized payload: %v", err)
	}
}
