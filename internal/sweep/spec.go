// Package sweep runs a scheduled compliance sweep: it lists users from Graph (the tenant's
// risky users, or a group's members) page by page, and sends each page down the path an
// alert takes, decisions then outcomes, so the same guardrails hold for both.
//
// A sweep is asked for by an EventBridge Scheduler schedule whose input is
// {"sweep": {...}}. Parsing it here is pure; listing is behind the Lister interface.
package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/identity"
)

// Format names a sweep's pages in results and audit lines, where an alert's format would be.
const Format = "sweep"

// Spec is one sweep, as its schedule's input describes it.
type Spec struct {
	// Name identifies the sweep across invocations: its cursor, its audit lines.
	Name string `json:"name"`
	// RiskyUsers lists Identity Protection's risky users (IdentityRiskyUser.Read.All).
	RiskyUsers *RiskyUsers `json:"riskyUsers,omitempty"`
	// Group lists a group's members, nested groups included (GroupMember.Read.All).
	Group string `json:"group,omitempty"`
	// Users is an explicit list, inline: object ids and UPNs.
	Users []string `json:"users,omitempty"`
	// List is an explicit list in S3: one identifier a line, or JSON lines.
	List *Object `json:"list,omitempty"`

	DryRun bool   `json:"dryRun,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Approved lifts MAX_TARGETS_PER_SWEEP and lets the sweep span invocations: the
	// operator's -Confirm for a tenant-scale sweep.
	Approved bool `json:"approved,omitempty"`
}

// Object names an S3 object.
type Object struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// RiskyUsers selects risky users by level and state.
type RiskyUsers struct {
	RiskLevels []string `json:"riskLevels,omitempty"` // default: high
	RiskStates []string `json:"riskStates,omitempty"` // default: atRisk, confirmedCompromised
}

// Graph's values: https://learn.microsoft.com/graph/api/resources/riskyuser
var (
	riskLevels = []string{"low", "medium", "high"}
	riskStates = []string{"atRisk", "confirmedCompromised", "remediated", "dismissed"}
)

// pageSize keeps one page's revokes to seconds (Graph allows 20 writes a second per app),
// so a sweep stops between pages, never halfway through one, when its time runs out.
const pageSize = 100

// Is reports whether a document asks for a sweep.
func Is(top delivery.Object) bool { return top.Has("sweep") }

// Parse reads {"sweep": {...}} strictly: an operator's instruction means exactly what it
// says or is refused. Keys are spelled exactly and given once (encoding/json would take
// "APPROVED" for "approved", and a second "dryRun" for the first), nothing else stands
// beside "sweep" (a "users" list there would be silently ignored), and a misspelt
// "aproved" is an error, not false. Errors name the field, never echo a value beyond a
// clipped name.
func Parse(top delivery.Object) (Spec, error) {
	raw := top.Get("sweep")
	if len(raw) == 0 || raw[0] != '{' {
		return Spec{}, errors.New(`sweep request: "sweep" must be an object such as {"name": "risky-high", "riskyUsers": {}}`)
	}
	if len(top) != 1 {
		return Spec{}, fmt.Errorf(`sweep request: nothing may stand beside "sweep" (top-level keys [%s]): a sweep lists its own users`, top.Keys())
	}
	if err := delivery.Strict(raw, "sweep request", "name", "riskyUsers", "group", "users", "list", "dryRun", "reason", "approved"); err != nil {
		return Spec{}, err
	}
	inner := delivery.TopLevel(raw)
	if ru := inner.Get("riskyUsers"); len(ru) > 0 && ru[0] == '{' {
		if err := delivery.Strict(ru, "sweep request: riskyUsers", "riskLevels", "riskStates"); err != nil {
			return Spec{}, err
		}
	}
	if l := inner.Get("list"); len(l) > 0 && l[0] == '{' {
		if err := delivery.Strict(l, "sweep request: list", "bucket", "key"); err != nil {
			return Spec{}, err
		}
	}
	var s Spec
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("sweep request: %s", describe(err))
	}
	return s, s.check()
}

func describe(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q has the wrong JSON type (%s, expected %s)", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ") + "; expected name, riskyUsers, group, users, list, dryRun, reason, approved"
	}
	return "not valid JSON"
}

func (s *Spec) check() error {
	if !delivery.ValidName(s.Name) {
		return errors.New(`sweep request: "name" must be 1-64 letters, digits, '-', '_' or '.': it names the sweep's progress across runs`)
	}
	sources := 0
	for _, given := range []bool{s.RiskyUsers != nil, s.Group != "", s.Users != nil, s.List != nil} {
		if given {
			sources++
		}
	}
	switch {
	case sources != 1:
		return fmt.Errorf("sweep %s: give exactly one of \"riskyUsers\", \"group\", \"users\" or \"list\"", s.Name)
	case s.Users != nil:
		if len(s.Users) == 0 || len(s.Users) > MaxListUsers {
			return fmt.Errorf("sweep %s: \"users\" must name 1 to %d users", s.Name, MaxListUsers)
		}
	case s.List != nil:
		if !validBucket(s.List.Bucket) {
			return fmt.Errorf("sweep %s: list.bucket is not an S3 bucket name", s.Name)
		}
		if s.List.Key == "" || len(s.List.Key) > 1024 || !utf8.ValidString(s.List.Key) {
			return fmt.Errorf("sweep %s: list.key must be an S3 object key (1 to 1024 bytes)", s.Name)
		}
	case s.Group != "":
		if !identity.IsObjectID(s.Group) {
			return fmt.Errorf("sweep %s: \"group\" must be the group's object id (a GUID)", s.Name)
		}
		s.Group = strings.ToLower(s.Group)
	default:
		r := s.RiskyUsers
		if len(r.RiskLevels) == 0 {
			r.RiskLevels = []string{"high"}
		}
		if len(r.RiskStates) == 0 {
			r.RiskStates = []string{"atRisk", "confirmedCompromised"}
		}
		for _, l := range r.RiskLevels {
			if !slices.Contains(riskLevels, l) {
				return fmt.Errorf("sweep %s: riskLevels: %q is not one of %s", s.Name, delivery.Clip(l, 40), strings.Join(riskLevels, ", "))
			}
		}
		for _, st := range r.RiskStates {
			if !slices.Contains(riskStates, st) {
				return fmt.Errorf("sweep %s: riskStates: %q is not one of %s", s.Name, delivery.Clip(st, 40), strings.Join(riskStates, ", "))
			}
		}
	}
	return nil
}

// validBucket checks S3's bucket naming rules (3-63 lowercase letters, digits, '.', '-').
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 || strings.Contains(b, "..") {
		return false
	}
	for i, c := range b {
		edge := i == 0 || i == len(b)-1
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || !edge && (c == '.' || c == '-')) {
			return false
		}
	}
	return true
}

// Source says in words what the sweep lists, for results and logs.
func (s Spec) Source() string {
	switch {
	case s.Group != "":
		return "members of group " + s.Group
	case s.Users != nil:
		return fmt.Sprintf("an inline list of %d users", len(s.Users))
	case s.List != nil:
		return "the list s3://" + s.List.Bucket + "/" + s.List.Key
	}
	return fmt.Sprintf("risky users (level %s; state %s)", strings.Join(s.RiskyUsers.RiskLevels, ", "), strings.Join(s.RiskyUsers.RiskStates, ", "))
}

// FirstPage is the Graph request, relative to the version root, for the first page.
// Values come from the fixed sets check allows or from a validated GUID, so nothing from
// the input is put into the URL unchecked.
func (s Spec) FirstPage() string {
	q := url.Values{}
	q.Set("$top", fmt.Sprint(pageSize))
	if s.Group != "" {
		// microsoft.graph.user: only users; a nested group or device has no sessions.
		q.Set("$select", "id,userPrincipalName,userType")
		return "/groups/" + s.Group + "/transitiveMembers/microsoft.graph.user?" + q.Encode()
	}
	q.Set("$filter", "("+eqAny("riskLevel", s.RiskyUsers.RiskLevels)+") and ("+eqAny("riskState", s.RiskyUsers.RiskStates)+")")
	return "/identityProtection/riskyUsers?" + q.Encode()
}

// OwnsLink reports whether link, a saved or @odata.nextLink page link, continues this
// sweep's own listing: the same path under a Graph version root, the first page's query
// options unchanged, and nothing added but Graph's paging token. A state item, or a
// listing, that names anything else is never followed.
func (s Spec) OwnsLink(link string) bool {
	first, err := url.Parse(s.FirstPage())
	if err != nil {
		return false
	}
	u, err := url.Parse(link)
	if err != nil || u.Fragment != "" || u.User != nil || strings.Contains(u.Path, "..") {
		return false
	}
	if u.Path != first.Path && !strings.HasSuffix(u.Path, "/v1.0"+first.Path) {
		return false
	}
	want, got := first.Query(), u.Query()
	for k, v := range got {
		switch {
		case k == "$skiptoken" || k == "$skip":
			if len(v) != 1 {
				return false
			}
		case !slices.Equal(v, want[k]):
			return false
		}
	}
	return true
}

func eqAny(field string, values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = field + " eq '" + v + "'"
	}
	return strings.Join(parts, " or ")
}
