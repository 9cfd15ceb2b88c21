// Package alert recognises what a security product sent and says which users it names.
//
// Each product's format is one file: a few types mirroring the vendor's documented schema
// and one Format value registered in init. Recognition reads the document's top level once
// and asks each format whether it is its own. This package decides nothing about revoking:
// it reports who is named, in which role, under which identifiers, exactly as the alert
// says. It never calls anything.
package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/sources"
)

// Alert is one alert, incident or request naming users whose sessions may need revoking.
type Alert struct {
	Format     string      `json:"format"`
	ID         string      `json:"id,omitempty"`
	Title      string      `json:"title,omitempty"`
	Severity   string      `json:"severity,omitempty"`
	TenantID   string      `json:"tenantId,omitempty"`
	Principals []Principal `json:"principals"`

	// DryRun and Reason come from a direct invocation, like the cmdlet's -WhatIf.
	DryRun bool   `json:"dryRun,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Approved lifts MAX_TARGETS_PER_ALERT for a direct request: an operator's -Confirm.
	Approved bool `json:"approved,omitempty"`
	// NoUsers says why a format that knows the alert can name no Entra user in it, for
	// the error that sends the event to an operator.
	NoUsers string `json:"noUsers,omitempty"`
	// Listed: the principals come from a Graph listing (a sweep's page), so their ids,
	// UPNs and user types are Graph's own facts, not an alert's claims. No format sets it.
	Listed bool `json:"-"`
}

// Principal is a user as the alert names them. Fields hold what the alert claims; the
// identity package judges them before anything reaches Graph.
type Principal struct {
	UserID            string `json:"userId,omitempty"`            // claimed Entra object id
	UserPrincipalName string `json:"userPrincipalName,omitempty"` // claimed UPN
	// Account is an identifier whose kind the format cannot tell (a SIEM's "user" field:
	// a UPN, an object id, a login or a SID); it is classified by shape.
	Account  string   `json:"account,omitempty"`
	TenantID string   `json:"tenantId,omitempty"`
	UserType string   `json:"userType,omitempty"` // Member or Guest, when the alert says
	Roles    []string `json:"roles,omitempty"`    // evidence roles: compromised, attacker, ...

	// What the vendor says about the user or the alert that may mean nothing is to be
	// done. Claims like the rest: policy decides what they are worth.

	// RiskState is Entra ID Protection's riskState for the user (atRisk,
	// confirmedCompromised, remediated, dismissed, confirmedSafe, none).
	RiskState string `json:"riskState,omitempty"`
	// Deleted: the vendor says the user is deleted (a riskyUser's isDeleted).
	Deleted bool `json:"deleted,omitempty"`
	// Closed is the vendor's own word that what named this user needs no action, quoted
	// for the report: the alert was resolved or dismissed, classified a false positive,
	// the monitor recovered. Empty while it is open.
	Closed string `json:"closed,omitempty"`
}

// Format is one product's alert shape.
type Format struct {
	Name string
	// Match says whether a document is this format's, from its top level and envelope.
	Match func(*Document) bool
	// Extract reads the alerts out of a document Match accepted. When some items of a
	// list in it cannot be read, it returns the others' alerts and an *ItemErrors.
	Extract func(*Document) ([]Alert, error)

	// source is set on a custom rule that names an EventBridge source: for documents from
	// that source it is tried before the built-in formats.
	source string
}

// Document is what a format sees: the body, its top-level members and the EventBridge
// envelope it arrived in, if any.
type Document struct {
	Body     []byte
	Top      delivery.Object
	Envelope delivery.Envelope
}

var formats []Format

// register adds a format. Formats must not overlap; init order does not matter.
func register(f Format) { formats = append(formats, f) }

// Formats lists the registered format names.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

// ErrUnrecognised wraps every "no format knows this document" error.
var ErrUnrecognised = errors.New("unrecognised payload")

// ItemErrors lists the items of a list (a Graph collection's "value", an incident's
// "alerts", a webhook's alerts, Security Hub's findings) that could not be read. It comes
// with the alerts of the items that could: one foreign or broken item must not keep the
// others from being handled, and must not be lost either, so the caller handles those
// alerts and still fails the delivery.
type ItemErrors struct {
	List  string // the list's member, as the payload spells it: "value", "alerts", "findings"
	Items []ItemError
}

// ItemError is one item not read: its position in the list, and why.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemErrors) Error() string {
	const most = 3
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d item(s) of %q could not be read", len(e.Items), e.List)
	for i, it := range e.Items {
		if i == most {
			fmt.Fprintf(&sb, "; and %d more", len(e.Items)-most)
			break
		}
		fmt.Fprintf(&sb, "; %q[%d]: %v", e.List, it.Index, it.Err)
	}
	return sb.String()
}

// Unwrap gives the items' errors to errors.Is and errors.As.
func (e *ItemErrors) Unwrap() []error {
	errs := make([]error, len(e.Items))
	for i, it := range e.Items {
		errs[i] = it.Err
	}
	return errs
}

// add records one item that could not be read.
func (e *ItemErrors) add(list string, index int, err error) *ItemErrors {
	if e == nil {
		e = &ItemErrors{List: list}
	}
	e.Items = append(e.Items, ItemError{Index: index, Err: err})
	return e
}

// orNil returns e as an error, nil when no item failed (a nil *ItemErrors in an error
// interface would not be nil).
func (e *ItemErrors) orNil() error {
	if e == nil {
		return nil
	}
	return e
}

// Recognise returns the alerts in one delivered record. Alerts without an id of their own
// take the envelope's event id or the record's message id, so every alert can be named.
// When some items of a list could not be read it returns the other items' alerts and an
// *ItemErrors naming the rest; any other error comes without alerts.
func Recognise(rec delivery.Record) ([]Alert, error) {
	if rec.Err != nil {
		return nil, rec.Err
	}
	if len(rec.Body) == 0 || rec.Top == nil {
		// Records come from delivery.Unwrap, which validated and scanned them.
		return nil, fmt.Errorf("%w: expected a JSON object", ErrUnrecognised)
	}
	alerts, err := recognise(&Document{Body: rec.Body, Top: rec.Top, Envelope: rec.Envelope}, 0)
	var partial *ItemErrors
	if err != nil && (!errors.As(err, &partial) || len(alerts) == 0) {
		return nil, err
	}
	fallback := rec.Envelope.ID
	if fallback == "" {
		fallback = rec.MessageID
	}
	for i := range alerts {
		if alerts[i].ID == "" {
			alerts[i].ID = fallback
		}
	}
	return alerts, err
}

// maxListDepth bounds lists of lists ({"value": [{"value": [...]}]}); real APIs nest one.
const maxListDepth = 2

func recognise(doc *Document, depth int) ([]Alert, error) {
	// An operator's rule (custom.go) that names the document's EventBridge source is the
	// operator saying what that product's payloads mean: it is tried first, so a built-in
	// format that happens to fit (a top-level "userId" naming the reporter) cannot take it.
	// Other rules come only after every built-in format declined.
	matched, err := matchOne(sourceRules(doc.Envelope.Source), doc)
	if err == nil && matched == nil {
		matched, err = matchOne(formats, doc)
	}
	if err == nil && matched == nil {
		matched, err = matchOne(customFormats, doc)
	}
	if err != nil {
		return nil, err
	}
	if matched != nil {
		return matched.Extract(doc)
	}
	if depth < maxListDepth && doc.Top.IsArray("value") {
		return recogniseList(doc, depth)
	}
	return nil, fmt.Errorf("%w: no known alert format has top-level keys [%s]%s%s; expected one of: %s, or a direct request {\"userId\": \"<object id or UPN>\"}",
		ErrUnrecognised, doc.Top.Keys(), envelopeHint(doc.Envelope), falconNotificationHint(doc), strings.Join(Formats(), ", "))
}

// sourceRules are the custom rules naming source, nil for a document without an envelope.
func sourceRules(source string) []Format {
	if source == "" {
		return nil
	}
	var named []Format
	for _, f := range customFormats {
		if f.source != "" && envelopeIs(source, f.source) {
			named = append(named, f)
		}
	}
	return named
}

// directRequestEnvelope: the direct format reads only what arrives bare (a direct
// invocation, an SQS body, a rule's input transformer) or under the project's own request
// detail-type. A product's event that happens to carry a top-level "userId" is not a
// request to revoke that user.
func directRequestEnvelope(e delivery.Envelope) bool {
	return e.Source == "" || e.DetailType == sources.RequestDetailType
}

func matchOne(set []Format, doc *Document) (*Format, error) {
	var matched *Format
	for i := range set {
		if set[i].Match(doc) {
			if matched != nil {
				// Two formats claiming one document is a bug in a Match, never a guess.
				return nil, fmt.Errorf("%w: both %s and %s match", ErrUnrecognised, matched.Name, set[i].Name)
			}
			matched = &set[i]
		}
	}
	return matched, nil
}

// recogniseList reads a Graph collection response ({"value": [...]}), as returned by
// GET /security/alerts_v2 or /identityProtection/riskDetections: each item is recognised
// on its own.
//
// An item that cannot be read is reported in an *ItemErrors beside the other items'
// alerts: a page of alerts must not wait on the one no format knows.
func recogniseList(doc *Document, depth int) ([]Alert, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(doc.Top.Get("value"), &items); err != nil {
		return nil, fmt.Errorf("%w: \"value\" list: %v", ErrUnrecognised, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: \"value\" list is empty", ErrUnrecognised)
	}
	var all []Alert
	var failed *ItemErrors
	for i, item := range items {
		if len(item) == 0 || item[0] != '{' {
			failed = failed.add("value", i, fmt.Errorf("%w: not a JSON object", ErrUnrecognised))
			continue
		}
		alerts, err := recognise(&Document{Body: item, Top: delivery.TopLevel(item), Envelope: doc.Envelope}, depth+1)
		if err != nil {
			failed = failed.add("value", i, err)
		}
		all = append(all, alerts...)
	}
	return all, failed.orNil()
}

func envelopeHint(e delivery.Envelope) string {
	if e.Source == "" {
		return ""
	}
	return fmt.Sprintf(" (EventBridge source %s, detail-type %s)", clip(e.Source), clip(e.DetailType))
}

func clip(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// odataType reads "@odata.type", which Graph payloads use to say what they are.
func (d *Document) odataType() string { return d.Top.String("@odata.type") }

// decode unmarshals the body into v, naming the format in the error.
func (d *Document) decode(format string, v any) error {
	if err := json.Unmarshal(d.Body, v); err != nil {
		return fmt.Errorf("%s: %w", format, describe(err))
	}
	return nil
}

// describe words a decoding error by field and type, never by value.
func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("field %q has the wrong JSON type (%s, expected %s)", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return err
}
