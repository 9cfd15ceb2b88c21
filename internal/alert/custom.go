package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/functions"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Custom formats: rules an operator declares in ALERT_MAPPINGS for a product no built-in
// format knows. A rule says how to recognise the product's alerts and, in JMESPath (the
// language of the AWS CLI's --query and of Powertools envelopes), where the users are.
// This is the rule for events/custom/acme-idp.json:
//
//	[{"name": "acme-idp",
//	  "match": {"source": "com.acme.idp", "detailType": "Account Compromised",
//	            "field": "alert_kind", "equals": "ato"},
//	  "users": "accounts[?role=='victim'].{upn: upn, id: aad_id}",
//	  "id": "alert_id", "title": "rule.name", "severity": "severity"}]
//
//   - name: lowercase letters, digits and dashes; the alerts' format is "custom:<name>".
//   - match: at least one condition, and all given must hold. source and detailType compare
//     with the EventBridge envelope, exactly or, ending in "*", by prefix. field (a
//     top-level key or any JMESPath expression) must yield a string, number or boolean
//     whose text is equals.
//   - users (required): strings, each classified by shape later (a UPN, an object id, a
//     login), or objects {upn, id} (also userPrincipalName, userId, objectId) naming one
//     user by both, as a JMESPath multiselect hash yields them: one user, one target.
//     userIds (optional): values that are Entra object ids. Two separate lists cannot be
//     paired (a projection drops nulls, so positions shift): a user named in both counts
//     twice, which is why the object form exists.
//   - id, title, severity (optional): a string or a number.
//
// Expressions read the alert itself (the EventBridge detail, the SQS body), never the
// envelope. A rule whose match names a source is tried first for events from that
// source, before any built-in format: it is the operator's word on what that product sends
// (a product's top-level "userId" may be whoever reported the incident, not the victim).
// Other rules are tried only when no built-in format matched, so they cannot take a
// document a built-in format knows. Two rules matching one document is an error naming
// both.

// customFormats are the loaded rules; recognise tries them after the built-in formats.
var customFormats []Format

// LoadMappings replaces the custom formats with the rules in raw, a JSON array (empty
// means none), and returns how many there are. Every expression is compiled here, so a
// bad rule stops the function at cold start with an error naming it; on error the
// previous rules stay. Call it before the first Recognise: the registry has no lock.
func LoadMappings(raw string) (int, error) {
	if strings.TrimSpace(raw) == "" {
		customFormats = nil
		return 0, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return 0, fmt.Errorf("expected a JSON array of rules, not a JSON %s", typeErr.Value)
		}
		return 0, fmt.Errorf("expected a JSON array of rules: %w", err)
	}
	loaded := make([]Format, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, item := range items {
		r, err := compileMapping(item)
		if err != nil {
			return 0, fmt.Errorf("rule %s: %w", ruleLabel(item, i), err)
		}
		if seen[r.name] {
			return 0, fmt.Errorf("rule %s: another rule has this name", ruleLabel(item, i))
		}
		seen[r.name] = true
		loaded = append(loaded, Format{Name: r.name, Match: r.match, Extract: r.extract, source: r.source})
	}
	customFormats = loaded
	return len(loaded), nil
}

// mapping is one rule as the operator writes it.
type mapping struct {
	Name  string `json:"name"`
	Match struct {
		Source     string  `json:"source"`
		DetailType string  `json:"detailType"`
		Field      string  `json:"field"`
		Equals     *string `json:"equals"` // a pointer: matching "" is allowed
	} `json:"match"`
	Users    string `json:"users"`
	UserIDs  string `json:"userIds"`
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
}

// ruleLabel names a rule in an error: by its name when it has one, else by position.
func ruleLabel(item json.RawMessage, i int) string {
	var named struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(item, &named) == nil && named.Name != "" {
		return clip(named.Name)
	}
	return fmt.Sprintf("#%d (unnamed)", i+1)
}

// customRule is a compiled mapping.
type customRule struct {
	name               string // custom:<name>
	source, detailType string
	// topKey is set when field is a plain top-level key, read from the scanned top level
	// without decoding the body; fieldExpr is set otherwise.
	topKey    string
	fieldExpr *expression
	equals    string

	users, userIDs, id, title, severity *expression // nil when not given
}

// expression is a compiled JMESPath expression and where it came from, for errors.
type expression struct {
	what, text string
	q          jmespath.JMESPath
}

func compileMapping(item json.RawMessage) (*customRule, error) {
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.DisallowUnknownFields()
	var m mapping
	if err := dec.Decode(&m); err != nil {
		if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, fmt.Errorf("unknown key %s: a rule has name, match {source, detailType, field, equals}, users, userIds, id, title, severity", key)
		}
		return nil, describe(err)
	}
	if !validName(m.Name) {
		return nil, errors.New(`"name" must be lowercase letters, digits and dashes`)
	}
	r := &customRule{name: "custom:" + m.Name, source: m.Match.Source, detailType: m.Match.DetailType}
	switch c := m.Match; {
	case c.Source == "" && c.DetailType == "" && c.Field == "":
		return nil, errors.New(`"match" needs at least one of "source", "detailType" or "field"`)
	case (c.Field == "") != (c.Equals == nil):
		return nil, errors.New(`"match": "field" and "equals" go together`)
	case c.Field != "":
		r.equals = *c.Equals
		if isIdentifier(c.Field) {
			r.topKey = c.Field
		} else {
			var err error
			if r.fieldExpr, err = compile("match.field", c.Field); err != nil {
				return nil, err
			}
		}
	}
	if m.Users == "" {
		return nil, errors.New(`"users" is required: an expression yielding the users' UPNs or object ids`)
	}
	for _, e := range [...]struct {
		dst        **expression
		what, text string
	}{{&r.users, "users", m.Users}, {&r.userIDs, "userIds", m.UserIDs}, {&r.id, "id", m.ID}, {&r.title, "title", m.Title}, {&r.severity, "severity", m.Severity}} {
		if e.text == "" {
			continue
		}
		var err error
		if *e.dst, err = compile(e.what, e.text); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// isIdentifier reports whether s is a JMESPath unquoted identifier: a key read as is.
func isIdentifier(s string) bool {
	for i, c := range []byte(s) {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// compile parses an expression and checks its function calls, which the library would
// otherwise only reject when the first alert reaches them.
func compile(what, text string) (*expression, error) {
	ast, err := jmespath.NewParser().Parse(text)
	if err != nil {
		var syn jmespath.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("%s: %v at offset %d of %s", what, err, syn.Offset, clip(text))
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkFunctions(ast); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	q, err := jmespath.Compile(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &expression{what: what, text: text, q: q}, nil
}

func checkFunctions(n parsing.ASTNode) error {
	if n.NodeType == parsing.ASTFunctionExpression {
		name, _ := n.Value.(string)
		f, ok := builtinFunction(name)
		if !ok {
			return fmt.Errorf("unknown function %s()", name)
		}
		least, most := 0, len(f.Arguments)
		for _, a := range f.Arguments {
			if !a.Optional {
				least++
			}
			if a.Variadic {
				most = -1
			}
		}
		if got := len(n.Children); got < least || (most >= 0 && got > most) {
			return fmt.Errorf("%s() takes %s, not %d", name, arity(least, most), got)
		}
	}
	for _, c := range n.Children {
		if err := checkFunctions(c); err != nil {
			return err
		}
	}
	return nil
}

func builtinFunction(name string) (functions.FunctionEntry, bool) {
	for _, f := range functions.GetDefaultFunctions() {
		if f.Name == name {
			return f, true
		}
	}
	return functions.FunctionEntry{}, false
}

func arity(least, most int) string {
	switch {
	case most < 0:
		return fmt.Sprintf("%d or more arguments", least)
	case least == 1 && most == 1:
		return "1 argument"
	case least == most:
		return fmt.Sprintf("%d arguments", least)
	}
	return fmt.Sprintf("%d to %d arguments", least, most)
}

func (r *customRule) match(d *Document) bool {
	if r.source != "" && !envelopeIs(d.Envelope.Source, r.source) {
		return false
	}
	if r.detailType != "" && !envelopeIs(d.Envelope.DetailType, r.detailType) {
		return false
	}
	if r.topKey == "" && r.fieldExpr == nil {
		return true
	}
	var v any
	if r.topKey != "" {
		raw := d.Top.Get(r.topKey)
		if raw == nil {
			return false
		}
		if raw[0] == '"' {
			v = delivery.Unquote(raw) // the common case, without a decoder
		} else {
			var err error
			if v, err = decodeValue(raw); err != nil {
				return false
			}
		}
	} else {
		body, err := decodeValue(d.Body)
		if err != nil {
			return false
		}
		if v, err = r.fieldExpr.q.Search(body); err != nil {
			return false
		}
	}
	s, kind := text(v)
	return (kind == "string" || kind == "number" || kind == "boolean") && s == r.equals
}

// envelopeIs compares an envelope value with a pattern: exact, or a prefix ending in "*".
// A document without an envelope matches no pattern.
func envelopeIs(v, pattern string) bool {
	if v == "" {
		return false
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(v, prefix)
	}
	return v == pattern
}

func (r *customRule) extract(d *Document) ([]Alert, error) {
	body, err := decodeValue(d.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, describe(err))
	}
	a := Alert{Format: r.name}
	users, err := r.list(r.users, body)
	if err != nil {
		return nil, err
	}
	a.Principals = users
	ids, err := r.list(r.userIDs, body)
	if err != nil {
		return nil, err
	}
	for _, p := range ids {
		if p.Account != "" {
			p = Principal{UserID: p.Account}
		}
		a.Principals = append(a.Principals, p)
	}
	for _, f := range [...]struct {
		e   *expression
		dst *string
	}{{r.id, &a.ID}, {r.title, &a.Title}, {r.severity, &a.Severity}} {
		if *f.dst, err = r.scalar(f.e, body); err != nil {
			return nil, err
		}
	}
	return []Alert{a}, nil
}

// search runs e; the error names the rule and the expression, never the alert's values.
func (r *customRule) search(e *expression, body any) (any, error) {
	v, err := e.q.Search(body)
	if err != nil {
		msg := err.Error()
		if strings.HasPrefix(msg, "invalid type for:") {
			msg = "a function was given an argument of the wrong type" // the library's message quotes the value
		}
		return nil, r.fail(e, msg)
	}
	return v, nil
}

func (r *customRule) fail(e *expression, msg string) error {
	return fmt.Errorf("%s: %s %s: %s", r.name, e.what, clip(e.text), msg)
}

// list reads users: strings (into Account), {upn, id} objects, or lists of them at any
// depth. Nulls and empty strings are absent values, skipped.
func (r *customRule) list(e *expression, body any) ([]Principal, error) {
	if e == nil {
		return nil, nil
	}
	v, err := r.search(e, body)
	if err != nil {
		return nil, err
	}
	var out []Principal
	var walk func(any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case nil:
		case string:
			if v != "" {
				out = append(out, Principal{Account: v})
			}
		case map[string]any:
			p := Principal{
				UserPrincipalName: firstString(v, "upn", "userPrincipalName"),
				UserID:            firstString(v, "id", "userId", "objectId"),
			}
			if p.UserPrincipalName == "" && p.UserID == "" {
				return r.fail(e, "yields an object without upn or id")
			}
			out = append(out, p)
		case []any:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		default:
			_, kind := text(v)
			return r.fail(e, "yields "+article(kind)+", expected strings")
		}
		return nil
	}
	return out, walk(v)
}

// firstString is the first of keys holding a non-empty string.
func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// scalar reads a single value as text: a string, or a number written out.
func (r *customRule) scalar(e *expression, body any) (string, error) {
	if e == nil {
		return "", nil
	}
	v, err := r.search(e, body)
	if err != nil {
		return "", err
	}
	switch s, kind := text(v); kind {
	case "string", "number", "null":
		return s, nil
	case "list":
		return "", r.fail(e, "yields a list, expected one value (end the expression with `| [0]` to take the first)")
	default:
		return "", r.fail(e, "yields "+article(kind)+", expected a string or a number")
	}
}

// text writes a scalar JSON value out and names its kind.
func text(v any) (string, string) {
	switch v := v.(type) {
	case nil:
		return "", "null"
	case string:
		return v, "string"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), "number"
	case json.Number:
		return v.String(), "number"
	case bool:
		return strconv.FormatBool(v), "boolean"
	case []any:
		return "", "list"
	case map[string]any:
		return "", "object"
	}
	return "", "value"
}

func article(kind string) string {
	if kind == "object" {
		return "an object"
	}
	return "a " + kind
}

// decodeValue decodes JSON for JMESPath, whose numbers are float64. Numbers are read
// with UseNumber first: an integer too large for a float64 to hold exactly (a 19-digit
// alert id) stays a json.Number, written out digit for digit, instead of being rounded.
func decodeValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return jmespathNumbers(v), nil
}

func jmespathNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = jmespathNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = jmespathNumbers(x)
		}
	case json.Number:
		if f, ok := exactFloat(v); ok {
			return f
		}
	}
	return v
}

// exactFloat converts n unless it is an integer beyond float64's 2^53.
func exactFloat(n json.Number) (float64, bool) {
	if !strings.ContainsAny(string(n), ".eE") {
		i, err := n.Int64()
		if err != nil || i > 1<<53 || i < -(1<<53) {
			return 0, false
		}
		return float64(i), true
	}
	f, err := n.Float64()
	return f, err == nil
}
