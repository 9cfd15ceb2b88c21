// Package delivery takes apart the shapes in which AWS hands a payload to the function:
// an EventBridge envelope, an SQS batch, an EventBridge Pipes array, or a bare document
// (a direct invocation, or a rule whose input transformer passed only the detail).
//
// It knows nothing of alert formats: each record it yields is one document for the alert
// package to recognise, with the envelope's metadata beside it.
package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// MaxPayload is the largest payload read at all. Lambda's own limit for a synchronous
// invocation is 6 MB; no real alert comes near 1 MiB, so anything larger is refused unread.
const MaxPayload = 1 << 20

// Kind says how the records arrived, which decides how failures are reported back.
type Kind uint8

const (
	Single Kind = iota // one document: a failure fails the invocation
	SQS                // an SQS event source batch: failures go in batchItemFailures
	Pipes              // an EventBridge Pipes batch: likewise
)

func (k Kind) String() string {
	switch k {
	case SQS:
		return "sqs"
	case Pipes:
		return "pipes"
	}
	return "single"
}

// Channel is how a record reached the function. It, not anything the record says about
// itself, decides what a record may ask for: an operator's approval or a sweep is honoured
// only on a channel that IAM reserves to operators and the scheduler.
type Channel uint8

const (
	// Direct: a bare document in a synchronous or asynchronous invocation that no
	// EventBridge rule wrapped, which is how an operator (aws lambda invoke, a Step
	// Functions task) and EventBridge Scheduler invoke the function: lambda:InvokeFunction
	// is granted to nobody else. (A rule with an input transformer would look the same;
	// the deployment tests check that no rule targeting the function has one.)
	Direct Channel = iota
	// Bus: an EventBridge event, whoever put it on the bus.
	Bus
	// Queue: an SQS record, whoever could send to the queue.
	Queue
	// Pipe: an EventBridge Pipes item.
	Pipe
)

func (c Channel) String() string {
	switch c {
	case Bus:
		return "eventbridge"
	case Queue:
		return "sqs"
	case Pipe:
		return "pipes"
	}
	return "direct"
}

// Trusted reports whether the channel may carry an operator's approval and sweeps.
func (c Channel) Trusted() bool { return c == Direct }

// Envelope is the metadata of an EventBridge event around a detail.
type Envelope struct {
	ID         string `json:"id"`
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Account    string `json:"account"`
	Region     string `json:"region"`
	Time       string `json:"time"`
}

// Record is one document to recognise.
type Record struct {
	// MessageID identifies the record to the batch's source (an SQS messageId); empty for
	// a single document.
	MessageID string
	Envelope  Envelope // zero when the document came bare
	Body      []byte   // a JSON object, validated
	Top       Object   // Body's top level
	// Err is set when this record could not be taken apart; the others still can be.
	Err error
	// Channel is how it arrived.
	Channel Channel
	// SourceARN is the queue an SQS record came from (its eventSourceARN), and Receives
	// how many times SQS has delivered it (attributes.ApproximateReceiveCount).
	SourceARN string
	Receives  int
}

// Batch is everything one invocation carries.
type Batch struct {
	Kind    Kind
	Records []Record
}

// ErrTooLarge is returned for payloads over MaxPayload.
var ErrTooLarge = fmt.Errorf("payload larger than %d bytes: refused without reading", MaxPayload)

// Unwrap splits a payload into records. It fails only when the payload as a whole is
// unusable; a bad record inside a batch is returned with its Err set. The payload is
// validated once; everything after that scans it in place.
func Unwrap(payload []byte) (Batch, error) {
	if len(payload) > MaxPayload {
		return Batch{}, ErrTooLarge
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return Batch{}, errors.New("empty payload: expected a JSON object (an alert or an EventBridge event) or an array (EventBridge Pipes)")
	}
	top, detail, ok := ValidObject(payload)
	if !ok {
		return Batch{}, errors.New("payload is not valid JSON")
	}
	switch payload[0] {
	case '[':
		return unwrapPipes(payload)
	case '{':
	default:
		return Batch{}, errors.New("payload is a JSON scalar: expected an object or an array")
	}
	if records := top.Get("Records"); len(records) > 0 && records[0] == '[' {
		if b, ok := unwrapSQS(records); ok {
			return b, nil
		}
	}
	rec := document("", payload, top, detail)
	if rec.Envelope.Source != "" {
		rec.Channel = Bus
	}
	return Batch{Kind: Single, Records: []Record{rec}}, nil
}

// document turns one valid JSON object into a record, lifting an EventBridge envelope
// off it: an object with a string "source" and "detail-type" and an object "detail".
// detailTop is the detail's top level when ValidObject scanned it, else nil.
func document(messageID string, body []byte, top, detailTop Object) Record {
	rec := Record{MessageID: messageID, Body: body, Top: top}
	detail := top.Get("detail")
	source, detailType := top.String("source"), top.String("detail-type")
	if source == "" || detailType == "" || len(detail) == 0 || detail[0] != '{' {
		return rec
	}
	rec.Envelope = Envelope{
		ID: top.String("id"), Source: source, DetailType: detailType,
		Account: top.String("account"), Region: top.String("region"), Time: top.String("time"),
	}
	rec.Body = detail
	if rec.Top = detailTop; rec.Top == nil {
		rec.Top = TopLevel(detail)
	}
	return rec
}

// unwrapSQS reads an SQS event source batch; ok is false when "Records" is not one (an
// S3 or SNS event, which no format here knows, falls through to recognition).
func unwrapSQS(records []byte) (Batch, bool) {
	var items []json.RawMessage
	if json.Unmarshal(records, &items) != nil || len(items) == 0 {
		return Batch{}, false
	}
	if first := TopLevel(items[0]); first.String("eventSource") != "aws:sqs" {
		return Batch{}, false
	}
	b := Batch{Kind: SQS, Records: make([]Record, 0, len(items))}
	for i, raw := range items {
		rec := message(i, raw)
		rec.Channel = Queue
		top := TopLevel(raw)
		rec.SourceARN = top.String("eventSourceARN")
		if n, err := strconv.Atoi(TopLevel(top.Get("attributes")).String("ApproximateReceiveCount")); err == nil && n > 0 {
			rec.Receives = n
		}
		b.Records = append(b.Records, rec)
	}
	return b, true
}

// unwrapPipes reads an EventBridge Pipes batch: always an array, even for one item. Items
// from an SQS source keep their messageId so partial failures can name them.
func unwrapPipes(payload []byte) (Batch, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(payload, &items); err != nil {
		return Batch{}, fmt.Errorf("EventBridge Pipes batch: %w", err)
	}
	if len(items) == 0 {
		return Batch{}, errors.New("EventBridge Pipes batch is empty")
	}
	b := Batch{Kind: Pipes, Records: make([]Record, 0, len(items))}
	for i, raw := range items {
		rec := message(i, raw)
		rec.Channel = Pipe
		b.Records = append(b.Records, rec)
	}
	return b, nil
}

// message reads one batch item: an SQS message whose body is a JSON string, or (from a
// Pipes enrichment or transformer) a document in its own right.
func message(i int, raw json.RawMessage) Record {
	if len(raw) == 0 || raw[0] != '{' {
		return Record{Err: fmt.Errorf("record %d: not a JSON object", i)}
	}
	top := TopLevel(raw)
	id := top.String("messageId")
	if id == "" {
		return document("", raw, top, nil)
	}
	var body string
	if err := json.Unmarshal(top.Get("body"), &body); err != nil {
		return Record{MessageID: id, Err: fmt.Errorf("record %d (messageId %s): no string \"body\"", i, clip(id))}
	}
	// The body is JSON inside a string: decoded once above, validated here.
	b := bytes.TrimSpace([]byte(body))
	if len(b) == 0 || b[0] != '{' {
		return Record{MessageID: id, Err: fmt.Errorf("record %d (messageId %s): body is not a JSON object", i, clip(id))}
	}
	bodyTop, detail, ok := ValidObject(b)
	if !ok {
		return Record{MessageID: id, Err: fmt.Errorf("record %d (messageId %s): body is not a JSON object", i, clip(id))}
	}
	return document(id, b, bodyTop, detail)
}

// clip bounds a value from the payload before it goes into an error message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
