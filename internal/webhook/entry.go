package webhook

import (
	"strconv"
	"unicode/utf8"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Entry is one PutEvents entry: the body, verbatim, as the detail.
type Entry struct {
	Source     string
	DetailType string
	Detail     []byte
}

// MaxEntrySize is EventBridge's limit on one PutEvents entry: "The total entry size must
// be less than 256KB" (docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
const MaxEntrySize = 256 * 1024

// Size is the entry's size as EventBridge counts it (the page above): the UTF-8 bytes of
// Source, DetailType and Detail, 14 bytes for Time and each Resource's bytes when set.
// The endpoint sets neither Time (EventBridge stamps the event) nor Resources.
func (e Entry) Size() int {
	return len(e.Source) + len(e.DetailType) + len(e.Detail)
}

// TooLarge reports whether EventBridge would refuse the entry for its size.
func (e Entry) TooLarge() bool { return e.Size() >= MaxEntrySize }

// MaxDepth is how deeply nested a detail PutEvents processes ("PutEvents will only process
// nested JSON up to 1100 levels deep", the PutEvents API reference).
const MaxDepth = 1100

// detailProblem says why EventBridge, or every alert format, would refuse body as a
// detail; "" when it is a JSON object PutEvents takes. Every format reads an object, and
// EventBridge requires one.
func detailProblem(body []byte) string {
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	if i == len(body) || body[i] != '{' || !delivery.Valid(body) {
		return "the body must be a JSON object"
	}
	// JSON text is UTF-8 (RFC 8259); encoding/json would accept other bytes in strings
	// and the SDK would rewrite them, so the detail put would not be the body signed.
	if !utf8.Valid(body) {
		return "the body must be UTF-8"
	}
	depth, bigInteger := scan(body)
	if depth > MaxDepth {
		return "the body nests deeper than EventBridge's 1100 levels"
	}
	if bigInteger {
		return "the body has an integer outside EventBridge's 64-bit range"
	}
	return ""
}

// scan walks valid JSON once for its nesting depth and any integer PutEvents would refuse
// (its integers are 64-bit signed).
func scan(b []byte) (maxDepth int, bigInteger bool) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				maxDepth = depth
			}
		case c == '}' || c == ']':
			depth--
		case c == '-' || c >= '0' && c <= '9':
			j, integer := i+1, true
			for ; j < len(b); j++ {
				d := b[j]
				if d == '.' || d == 'e' || d == 'E' {
					integer = false
				} else if !(d >= '0' && d <= '9' || d == '+' || d == '-') {
					break
				}
			}
			// Up to 18 digits always fits; only longer integers need the parse.
			if integer && j-i >= 19 {
				if _, err := strconv.ParseInt(string(b[i:j]), 10, 64); err != nil {
					bigInteger = true
				}
			}
			i = j - 1
		}
	}
	return maxDepth, bigInteger
}
