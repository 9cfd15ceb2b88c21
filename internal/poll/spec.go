// Package poll pulls Microsoft's own detections from Graph on a schedule: security alerts
// v2 (GET /security/alerts_v2: Defender XDR, Defender for Cloud Apps, Entra ID Protection
// and the rest) and Entra ID Protection risk detections (GET
// /identityProtection/riskDetections). Each alert a rule matches goes down the path a
// pushed alert takes (the same formats, decisions and outcomes), exactly once.
//
// A poll is asked for by an EventBridge Scheduler schedule whose input is {"poll": {...}}.
// Parsing it and matching alerts against its rules are pure; listing is behind Lister,
// and what must outlive an invocation (the watermark, which alerts were acted on) behind
// Store.
//
// It must never act on an alert no rule matched, act on one alert twice, or move the
// watermark past an alert it did not handle.
package poll

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Source is one Graph listing a poll reads.
type Source string

const (
	// Alerts is GET /security/alerts_v2 (SecurityAlert.Read.All).
	Alerts Source = "alerts"
	// RiskDetections is GET /identityProtection/riskDetections (IdentityRiskEvent.Read.All).
	RiskDetections Source = "riskDetections"
)

// Path is the listing's path under the Graph version root.
func (s Source) Path() string {
	if s == RiskDetections {
		return "/identityProtection/riskDetections"
	}
	return "/security/alerts_v2"
}

// updatedField is the listing's last-update property: Graph spells it differently on the
// two resources (alert.lastUpdateDateTime, riskDetection.lastUpdatedDateTime).
func (s Source) updatedField() string {
	if s == RiskDetections {
		return "lastUpdatedDateTime"
	}
	return "lastUpdateDateTime"
}

// pageSize is $top. alerts_v2 documents no maximum; 100 keeps one page's revokes to
// seconds. riskDetections allows 500, and Identity Protection answers one request a
// second per tenant, so its pages are as large as allowed.
func (s Source) pageSize() int {
	if s == RiskDetections {
		return 500
	}
	return 100
}

// Spec is one poll, as its schedule's input describes it.
type Spec struct {
	// Name identifies the poll's watermark across invocations.
	Name string
	// LookBack is how far the first run (no watermark yet) reads back.
	LookBack time.Duration
	// Overlap is read again before the watermark: Graph makes alerts visible, and
	// updates them, after the time they carry.
	Overlap time.Duration
	// AlertRules and RiskRules decide which alerts are acted on; a source with no rules is
	// not polled.
	AlertRules []AlertRule
	RiskRules  []RiskRule
	DryRun     bool
}

// AlertRule matches security alerts (alerts_v2). Within a field any value matches; all
// the fields given must match. Values compare without regard to case.
type AlertRule struct {
	Name             string   `json:"name"`
	Titles           []string `json:"titles,omitempty"` // exact, or a prefix ending in '*'
	ServiceSources   []string `json:"serviceSources,omitempty"`
	DetectionSources []string `json:"detectionSources,omitempty"`
	Categories       []string `json:"categories,omitempty"`
	Severities       []string `json:"severities,omitempty"`
	// Statuses defaults to new and inProgress: an alert an analyst resolved is not acted on.
	Statuses []string `json:"statuses,omitempty"`
}

// RiskRule matches Entra ID Protection risk detections.
type RiskRule struct {
	Name                 string   `json:"name"`
	RiskEventTypes       []string `json:"riskEventTypes,omitempty"`
	RiskLevels           []string `json:"riskLevels,omitempty"`
	DetectionTimingTypes []string `json:"detectionTimingTypes,omitempty"`
	// RiskStates defaults to atRisk and confirmedCompromised: a dismissed or remediated
	// detection is not acted on.
	RiskStates []string `json:"riskStates,omitempty"`
}

// DefaultAlertRules: impossible travel and session-cookie theft (adversary in the
// middle), at high severity, still open. The titles are the alerts' names in Defender
// for Cloud Apps and Defender XDR.
var DefaultAlertRules = []AlertRule{
	{Name: "impossible-travel", Titles: []string{"Impossible travel activity"}, Severities: []string{"high"}},
	{Name: "token-theft", Titles: []string{"Stolen session cookie was used"}, Severities: []string{"high"}},
}

// DefaultRiskRules: travel and token anomalies Identity Protection rates high, still at
// risk or confirmed compromised.
var DefaultRiskRules = []RiskRule{
	{Name: "travel", RiskEventTypes: []string{"impossibleTravel", "unlikelyTravel"}, RiskLevels: []string{"high"}},
	{Name: "token", RiskEventTypes: []string{"anomalousToken", "tokenIssuerAnomaly"}, RiskLevels: []string{"high"}},
}

// Defaults and bounds of the request's numbers.
const (
	DefaultLookBack = time.Hour
	DefaultOverlap  = 15 * time.Minute
	// MaxCatchUp is the furthest back any listing reads: the look-back's bound, and how far
	// a poll that has not completed for longer catches up.
	MaxCatchUp = 24 * time.Hour

	maxRules  = 20
	maxValues = 50
	maxTitle  = 256
)

// Graph's closed enumerations (microsoft.graph.security.alertSeverity and alertStatus;
// microsoft.graph.riskLevel, riskState, riskDetectionTimingType). serviceSource and
// detectionSource are evolvable enumerations and riskEventType a plain string, so new
// values appear without notice: those are checked for shape only.
var (
	severities    = []string{"unknown", "informational", "low", "medium", "high"}
	statuses      = []string{"unknown", "new", "inProgress", "resolved"}
	riskLevels    = []string{"low", "medium", "high", "hidden", "none"}
	riskStates    = []string{"none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised"}
	timingTypes   = []string{"notDefined", "realtime", "nearRealtime", "offline"}
	defaultStatus = []string{"new", "inProgress"}
	defaultStates = []string{"atRisk", "confirmedCompromised"}
)

// Is reports whether a document asks for a poll.
func Is(top delivery.Object) bool { return top.Has("poll") }

// request is {"poll": {...}} as sent; the rule lists are raw so that an absent list
// (the defaults) differs from an empty one (the source off).
type request struct {
	Name            string           `json:"name"`
	LookBackMinutes *int             `json:"lookBackMinutes"`
	OverlapMinutes  *int             `json:"overlapMinutes"`
	Alerts          *json.RawMessage `json:"alerts"`
	RiskDetections  *json.RawMessage `json:"riskDetections"`
	DryRun          bool             `json:"dryRun"`
}

var (
	requestKeys   = []string{"name", "lookBackMinutes", "overlapMinutes", "alerts", "riskDetections", "dryRun"}
	alertRuleKeys = []string{"name", "titles", "serviceSources", "detectionSources", "categories", "severities", "statuses"}
	riskRuleKeys  = []string{"name", "riskEventTypes", "riskLevels", "detectionTimingTypes", "riskStates"}
)

// Parse reads a whole poll request document, {"poll": {...}}, strictly: every key spelt
// exactly, none twice, nothing else beside it, so a misspelt or repeated field never
// silently changes what is acted on. Errors name the field, never echo more than a
// clipped value.
func Parse(body []byte) (Spec, error) {
	top, err := members(body, "poll request", []string{"poll"})
	if err != nil {
		return Spec{}, err
	}
	raw, ok := top["poll"]
	if !ok {
		return Spec{}, errors.New(`poll request: expected {"poll": {"name": "graph"}}`)
	}
	if _, err := members(raw, "poll request: \"poll\"", requestKeys); err != nil {
		return Spec{}, err
	}
	var r request
	if err := json.Unmarshal(raw, &r); err != nil {
		return Spec{}, fmt.Errorf("poll request: %s", describe(err))
	}
	s := Spec{Name: r.Name, DryRun: r.DryRun, LookBack: DefaultLookBack, Overlap: DefaultOverlap}
	if !delivery.ValidName(s.Name) {
		return Spec{}, errors.New(`poll request: "name" must be 1-64 letters, digits, '-', '_' or '.': it names the poll's watermark across runs`)
	}
	if s.LookBack, err = minutes(r.LookBackMinutes, DefaultLookBack, MaxCatchUp, "lookBackMinutes"); err != nil {
		return Spec{}, fmt.Errorf("poll %s: %w", s.Name, err)
	}
	if s.Overlap, err = minutes(r.OverlapMinutes, DefaultOverlap, MaxCatchUp, "overlapMinutes"); err != nil {
		return Spec{}, fmt.Errorf("poll %s: %w", s.Name, err)
	}
	s.AlertRules = DefaultAlertRules
	if r.Alerts != nil {
		if s.AlertRules, err = parseRules(*r.Alerts, "alerts", alertRuleKeys, checkAlertRule); err != nil {
			return Spec{}, fmt.Errorf("poll %s: %w", s.Name, err)
		}
	}
	s.RiskRules = DefaultRiskRules
	if r.RiskDetections != nil {
		if s.RiskRules, err = parseRules(*r.RiskDetections, "riskDetections", riskRuleKeys, checkRiskRule); err != nil {
			return Spec{}, fmt.Errorf("poll %s: %w", s.Name, err)
		}
	}
	s.AlertRules, s.RiskRules = normalAlertRules(s.AlertRules), normalRiskRules(s.RiskRules)
	if len(s.AlertRules) == 0 && len(s.RiskRules) == 0 {
		return Spec{}, fmt.Errorf("poll %s: both \"alerts\" and \"riskDetections\" are empty: the poll would read nothing", s.Name)
	}
	return s, nil
}

// members reads one JSON object's members, refusing a key spelt other than one of allowed
// (encoding/json would take "Alerts" for "alerts") and a key given twice (it would take
// the last).
func members(raw []byte, what string, allowed []string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s must be a JSON object", what)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s is not valid JSON", what)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s is not valid JSON", what)
		}
		if !slices.Contains(allowed, key) {
			return nil, fmt.Errorf("%s: unknown field %q; expected %s", what, delivery.Clip(key, 40), strings.Join(allowed, ", "))
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s: field %q is given twice", what, key)
		}
		out[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("%s is not valid JSON", what)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%s: unexpected data after the object", what)
	}
	return out, nil
}

func minutes(v *int, def, most time.Duration, field string) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	d := time.Duration(*v) * time.Minute
	if *v < 1 || d > most {
		return 0, fmt.Errorf("%q must be 1 to %d minutes", field, int(most/time.Minute))
	}
	return d, nil
}

func parseRules[R any](raw json.RawMessage, field string, keys []string, check func(*R) error) ([]R, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%q must be a list of rules", field)
	}
	if len(items) > maxRules {
		return nil, fmt.Errorf("%q has %d rules: at most %d", field, len(items), maxRules)
	}
	rules := make([]R, 0, len(items))
	names := map[string]bool{}
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", field, i)
		if _, err := members(item, at, keys); err != nil {
			return nil, err
		}
		var r R
		if err := json.Unmarshal(item, &r); err != nil {
			return nil, fmt.Errorf("%s: %s", at, describe(err))
		}
		if err := check(&r); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		name := ruleName(r)
		if names[name] {
			return nil, fmt.Errorf("%s: rule name %q is used twice", at, name)
		}
		names[name] = true
		rules = append(rules, r)
	}
	return rules, nil
}

func ruleName(r any) string {
	switch r := r.(type) {
	case AlertRule:
		return r.Name
	case RiskRule:
		return r.Name
	}
	return ""
}

func checkAlertRule(r *AlertRule) error {
	if !delivery.ValidName(r.Name) {
		return errors.New(`"name" must be 1-64 letters, digits, '-', '_' or '.'`)
	}
	if len(r.Titles)+len(r.ServiceSources)+len(r.DetectionSources)+len(r.Categories)+len(r.Severities) == 0 {
		return fmt.Errorf("rule %s has no condition (titles, serviceSources, detectionSources, categories or severities): it would act on every alert", r.Name)
	}
	for _, f := range []struct {
		name   string
		values []string
		check  func(string) bool
		closed []string
	}{
		{"titles", r.Titles, validTitle, nil},
		{"serviceSources", r.ServiceSources, validIdentifier, nil},
		{"detectionSources", r.DetectionSources, validIdentifier, nil},
		{"categories", r.Categories, validIdentifier, nil},
		{"severities", r.Severities, nil, severities},
		{"statuses", r.Statuses, nil, statuses},
	} {
		if err := checkValues(r.Name, f.name, f.values, f.check, f.closed); err != nil {
			return err
		}
	}
	return nil
}

func checkRiskRule(r *RiskRule) error {
	if !delivery.ValidName(r.Name) {
		return errors.New(`"name" must be 1-64 letters, digits, '-', '_' or '.'`)
	}
	if len(r.RiskEventTypes)+len(r.RiskLevels) == 0 {
		return fmt.Errorf("rule %s has no condition (riskEventTypes or riskLevels): it would act on every detection", r.Name)
	}
	for _, f := range []struct {
		name   string
		values []string
		check  func(string) bool
		closed []string
	}{
		{"riskEventTypes", r.RiskEventTypes, validIdentifier, nil},
		{"riskLevels", r.RiskLevels, nil, riskLevels},
		{"detectionTimingTypes", r.DetectionTimingTypes, nil, timingTypes},
		{"riskStates", r.RiskStates, nil, riskStates},
	} {
		if err := checkValues(r.Name, f.name, f.values, f.check, f.closed); err != nil {
			return err
		}
	}
	return nil
}

func checkValues(rule, field string, values []string, check func(string) bool, closed []string) error {
	if len(values) > maxValues {
		return fmt.Errorf("rule %s: %q has %d values: at most %d", rule, field, len(values), maxValues)
	}
	for _, v := range values {
		switch {
		case closed != nil && !containsFold(closed, v):
			return fmt.Errorf("rule %s: %s: %q is not one of %s", rule, field, delivery.Clip(v, 40), strings.Join(closed, ", "))
		case check != nil && !check(v):
			if field == "titles" {
				return fmt.Errorf("rule %s: titles: %q must be 1-%d printable characters, with '*' only at the end", rule, delivery.Clip(v, 40), maxTitle)
			}
			return fmt.Errorf("rule %s: %s: %q must be a name of letters and digits, as Graph spells it (for example microsoftDefenderForCloudApps)", rule, field, delivery.Clip(v, 40))
		}
	}
	return nil
}

// normalAlertRules applies the status default, spells closed values as Graph does, and
// makes an empty list no list (both mean "any"), so a rule has one form.
func normalAlertRules(rs []AlertRule) []AlertRule {
	out := make([]AlertRule, len(rs))
	for i, r := range rs {
		r.Titles, r.ServiceSources = canonical(r.Titles, nil), canonical(r.ServiceSources, nil)
		r.DetectionSources, r.Categories = canonical(r.DetectionSources, nil), canonical(r.Categories, nil)
		r.Severities = canonical(r.Severities, severities)
		r.Statuses = canonical(r.Statuses, statuses)
		if len(r.Statuses) == 0 {
			r.Statuses = defaultStatus
		}
		out[i] = r
	}
	return out
}

func normalRiskRules(rs []RiskRule) []RiskRule {
	out := make([]RiskRule, len(rs))
	for i, r := range rs {
		r.RiskEventTypes = canonical(r.RiskEventTypes, nil)
		r.RiskLevels = canonical(r.RiskLevels, riskLevels)
		r.DetectionTimingTypes = canonical(r.DetectionTimingTypes, timingTypes)
		r.RiskStates = canonical(r.RiskStates, riskStates)
		if len(r.RiskStates) == 0 {
			r.RiskStates = defaultStates
		}
		out[i] = r
	}
	return out
}

func canonical(values, set []string) []string {
	if len(values) == 0 {
		return nil
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v
		for _, c := range set {
			if strings.EqualFold(v, c) {
				out[i] = c
			}
		}
	}
	return out
}

func containsFold(set []string, v string) bool {
	return slices.ContainsFunc(set, func(c string) bool { return strings.EqualFold(c, v) })
}

// validIdentifier accepts Graph's enum and type names: letters and digits, at most 64.
func validIdentifier(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func validTitle(v string) bool {
	t := strings.TrimSuffix(v, "*")
	if strings.TrimSpace(t) == "" || utf8.RuneCountInString(v) > maxTitle || !utf8.ValidString(v) || strings.Contains(t, "*") {
		return false
	}
	for _, c := range v {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

func describe(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q has the wrong JSON type (%s, expected %s)", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return "not valid JSON"
}

// Sources lists the sources this poll reads, alerts first.
func (s Spec) Sources() []Source {
	var out []Source
	if len(s.AlertRules) > 0 {
		out = append(out, Alerts)
	}
	if len(s.RiskRules) > 0 {
		out = append(out, RiskDetections)
	}
	return out
}

func mode(dryRun bool) string {
	if dryRun {
		return "dry-run"
	}
	return "live"
}

// WatermarkKey names the poll's place in one source. It is bound to the poll's name, the
// source's rules and the dry-run flag: a dry run's progress never stands in for a live
// run, and changed rules read the look-back again (alerts already acted on are still
// recognised by AlertKey).
func (s Spec) WatermarkKey(src Source, dryRun bool) string {
	var rules any = s.AlertRules
	if src == RiskDetections {
		rules = s.RiskRules
	}
	b, _ := json.Marshal(rules)
	sum := sha256.Sum256(b)
	return s.Name + "/" + string(src) + "/" + mode(dryRun) + "/" + hex.EncodeToString(sum[:6])
}

// AlertKey names one alert across every poll of its source: whichever poll acted on it,
// no other acts on it again. A dry run's marks are its own.
func AlertKey(src Source, dryRun bool, id string) string {
	return string(src) + "/" + mode(dryRun) + "/" + id
}

// FirstPage is the Graph request, relative to the version root, for the listing of
// alerts last updated at or after from. Only the time is filtered in Graph: every other
// condition is matched here, so an alert updated while the listing is paged (its
// severity raised, its status changed) never leaves the listing and shifts a page.
func FirstPage(src Source, from time.Time) string {
	q := url.Values{}
	q.Set("$filter", src.updatedField()+" ge "+from.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"))
	q.Set("$top", fmt.Sprint(src.pageSize()))
	return src.Path() + "?" + q.Encode()
}

// SameListing reports whether a next link Graph returned stays on the listing it came
// from: a link to any other path (the state of a compromised proxy, a crafted page) is
// not followed, whatever host it names (the Graph client checks the host).
func SameListing(src Source, next string) bool {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return false
	}
	p := u.EscapedPath()
	i := strings.LastIndex(strings.ToLower(p), "/v1.0/")
	return i >= 0 && strings.EqualFold(p[i+len("/v1.0"):], src.Path())
}

// Describe says in words what the poll reads and acts on, for `make extract` and logs.
func (s Spec) Describe() string {
	var parts []string
	if len(s.AlertRules) > 0 {
		names := make([]string, len(s.AlertRules))
		for i, r := range s.AlertRules {
			names[i] = r.Name
		}
		parts = append(parts, "security alerts matching "+strings.Join(names, ", "))
	}
	if len(s.RiskRules) > 0 {
		names := make([]string, len(s.RiskRules))
		for i, r := range s.RiskRules {
			names[i] = r.Name
		}
		parts = append(parts, "risk detections matching "+strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ") + fmt.Sprintf(" (a first run reads back %v; each run reads again the %v before the previous run's start)", s.LookBack, s.Overlap)
}
