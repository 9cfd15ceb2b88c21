package graphemu

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The two listings a scheduled poll reads, paged and filtered as Graph does:
//
//	GET /v1.0/security/alerts_v2?$filter=lastUpdateDateTime ge <time>&$top=N
//	    newest alerts first; @odata.nextLink carries $skip (the listing is evaluated again
//	    for every page, so an alert created meanwhile shifts the pages, as in Graph)
//	GET /v1.0/identityProtection/riskDetections?$filter=lastUpdatedDateTime ge <time>&$top=N
//	    $top up to 500 (default 20); @odata.nextLink carries an opaque $skiptoken
//
// Tests add and update alerts and detections while the server runs; an update sets the
// last-update time to now, as Graph's does. Evolvable enum members (serviceSource
// microsoftDefenderForCloud, ...) are answered as unknownFutureValue unless the request
// sends Prefer: include-unknown-enum-members, as Graph does.

// SecurityAlert is one alert of GET /security/alerts_v2 (microsoft.graph.security.alert).
type SecurityAlert struct {
	ID                                  string // default: a new id shaped as Defender's
	Title, Severity, Status             string // Severity default medium, Status new
	ServiceSource, DetectionSource      string
	Category, DetectorID, TenantID      string // TenantID default: the server's
	Classification, Determination       string
	CreatedDateTime, LastUpdateDateTime time.Time // default: now
	// Users are the directory users (object ids or UPNs) the alert names, each in a
	// userEvidence item with both identifiers; a key not in the directory is sent as a
	// UPN only.
	Users []string
	Roles []string // every user's evidence roles; default compromised
}

// RiskDetection is one Entra ID Protection risk detection (microsoft.graph.riskDetection).
type RiskDetection struct {
	ID                                  string // default: 64 hex digits, as Entra's
	RiskEventType, RiskLevel, RiskState string // RiskState default atRisk
	DetectionTimingType, Source         string // default offline, IdentityProtection
	User                                string // a directory user, by object id or UPN
	IPAddress                           string
	ActivityDateTime, DetectedDateTime  time.Time // default: now
	LastUpdatedDateTime                 time.Time // default: now
}

// feed holds the listings' contents; it has its own lock so the directory's is never
// held while a page is built.
type feed struct {
	mu         sync.Mutex
	alerts     []SecurityAlert
	detections []RiskDetection
}

const (
	alertsDefaultTop     = 100 // Graph documents none for alerts_v2
	detectionsDefaultTop = 20
	detectionsMaxTop     = 500
	alertsMaxTop         = 2000 // unverified: Graph documents no maximum
)

// AddAlert adds an alert to GET /security/alerts_v2 and returns its id.
func (s *Server) AddAlert(a SecurityAlert) string {
	now := time.Now().UTC()
	if a.ID == "" {
		a.ID = fmt.Sprintf("da%018d_%d", rand.Int64N(1e18), -rand.Int32N(1<<31-1))
	}
	a.Severity, a.Status = cmp.Or(a.Severity, "medium"), cmp.Or(a.Status, "new")
	a.TenantID = cmp.Or(a.TenantID, s.tenantID)
	if a.CreatedDateTime.IsZero() {
		a.CreatedDateTime = now
	}
	if a.LastUpdateDateTime.IsZero() {
		a.LastUpdateDateTime = now
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.alerts = append(s.feed.alerts, a)
	return a.ID
}

// UpdateAlert changes an alert as an analyst or Defender would; its lastUpdateDateTime
// becomes now unless change set it. It reports whether the alert exists.
func (s *Server) UpdateAlert(id string, change func(*SecurityAlert)) bool {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	for i := range s.feed.alerts {
		if a := &s.feed.alerts[i]; a.ID == id {
			before := a.LastUpdateDateTime
			change(a)
			a.ID = id
			if a.LastUpdateDateTime.Equal(before) {
				a.LastUpdateDateTime = time.Now().UTC()
			}
			return true
		}
	}
	return false
}

// AddRiskDetection adds a detection to GET /identityProtection/riskDetections and
// returns its id.
func (s *Server) AddRiskDetection(d RiskDetection) string {
	now := time.Now().UTC()
	if d.ID == "" {
		d.ID = fmt.Sprintf("%016x%016x%016x%016x", rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64())
	}
	d.RiskState, d.DetectionTimingType = cmp.Or(d.RiskState, "atRisk"), cmp.Or(d.DetectionTimingType, "offline")
	d.Source, d.IPAddress = cmp.Or(d.Source, "IdentityProtection"), cmp.Or(d.IPAddress, "102.89.34.17")
	for _, t := range []*time.Time{&d.ActivityDateTime, &d.DetectedDateTime, &d.LastUpdatedDateTime} {
		if t.IsZero() {
			*t = now
		}
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.detections = append(s.feed.detections, d)
	return d.ID
}

// UpdateRiskDetection changes a detection (an admin confirms or dismisses it); its
// lastUpdatedDateTime becomes now unless change set it.
func (s *Server) UpdateRiskDetection(id string, change func(*RiskDetection)) bool {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	for i := range s.feed.detections {
		if d := &s.feed.detections[i]; d.ID == id {
			before := d.LastUpdatedDateTime
			change(d)
			d.ID = id
			if d.LastUpdatedDateTime.Equal(before) {
				d.LastUpdatedDateTime = time.Now().UTC()
			}
			return true
		}
	}
	return false
}

// ClearAlerts removes every alert and detection.
func (s *Server) ClearAlerts() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.feed.alerts, s.feed.detections = nil, nil
}

// serveFeed answers the two listings; ok is false when segs is neither.
func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request, segs []string) (ok bool) {
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[0], "security") && strings.EqualFold(segs[1], "alerts_v2"):
		if !allowGet(w, r) || s.applyFault(w, r, MatchListAlerts, "", func(status int) { writeGraphFault(w, r, status) }) {
			return true
		}
		s.serveAlerts(w, r)
		return true
	case len(segs) == 2 && strings.EqualFold(segs[0], "identityProtection") && strings.EqualFold(segs[1], "riskDetections"):
		if !allowGet(w, r) || s.identityThrottled(w, r) || s.applyFault(w, r, MatchListRiskDetections, "", func(status int) { writeGraphFault(w, r, status) }) {
			return true
		}
		s.serveDetections(w, r)
		return true
	}
	return false
}

// timeClause is one comparison of the filter grammar the emulator reads:
// <property> ge|gt|le|lt <DateTimeOffset>, clauses joined by " and ".
var timeClause = regexp.MustCompile(`^([A-Za-z]+) (ge|gt|le|lt) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?(?:Z|[+-]\d\d:\d\d))$`)

// parseTimeFilter reads a filter on the given DateTimeOffset properties. bad is the
// message Graph would answer with.
func parseTimeFilter(f, entity string, props map[string]bool) (keep func(func(string) time.Time) bool, bad string) {
	if f == "" {
		return func(func(string) time.Time) bool { return true }, ""
	}
	type clause struct {
		prop, op string
		at       time.Time
	}
	var cs []clause
	for _, c := range strings.Split(f, " and ") {
		m := timeClause.FindStringSubmatch(c)
		if m == nil {
			return nil, "Invalid filter clause"
		}
		if !props[m[1]] {
			return nil, fmt.Sprintf("Could not find a property named '%s' on type '%s'.", m[1], entity)
		}
		at, err := time.Parse(time.RFC3339Nano, m[3])
		if err != nil {
			return nil, "Invalid filter clause"
		}
		cs = append(cs, clause{m[1], m[2], at})
	}
	return func(value func(string) time.Time) bool {
		for _, c := range cs {
			v := value(c.prop)
			ok := map[string]bool{"ge": !v.Before(c.at), "gt": v.After(c.at), "le": !v.After(c.at), "lt": v.Before(c.at)}[c.op]
			if !ok {
				return false
			}
		}
		return true
	}, ""
}

// onlyOptions refuses query options the listing does not support, so a client sending
// one that Graph would refuse or ignore (an $orderby on alerts_v2) fails here too.
func onlyOptions(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k := range r.URL.Query() {
		if strings.HasPrefix(k, "$") && !slices.Contains(allowed, k) {
			writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Query option '%s' is not allowed.", k))
			return false
		}
	}
	return true
}

var alertTimes = map[string]bool{"lastUpdateDateTime": true, "createdDateTime": true}

func (s *Server) serveAlerts(w http.ResponseWriter, r *http.Request) {
	if !onlyOptions(w, r, "$filter", "$top", "$skip", "$count") {
		return
	}
	q := r.URL.Query()
	keep, bad := parseTimeFilter(q.Get("$filter"), "microsoft.graph.security.alert", alertTimes)
	if bad != "" {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", bad)
		return
	}
	top, ok := count(w, r, "$top", alertsDefaultTop, 1, alertsMaxTop)
	if !ok {
		return
	}
	skip, ok := count(w, r, "$skip", 0, 0, 1<<30)
	if !ok {
		return
	}
	unknown := preferUnknownEnums(r)
	s.feed.mu.Lock()
	list := slices.Clone(s.feed.alerts)
	s.feed.mu.Unlock()
	// Newest first, as Graph lists them.
	slices.SortStableFunc(list, func(a, b SecurityAlert) int { return b.CreatedDateTime.Compare(a.CreatedDateTime) })
	var items []any
	for _, a := range list {
		if keep(func(p string) time.Time {
			if p == "createdDateTime" {
				return a.CreatedDateTime
			}
			return a.LastUpdateDateTime
		}) {
			items = append(items, rawFields(s.alertFields(a, unknown)))
		}
	}
	if s.pageSize > 0 && s.pageSize < top {
		top = s.pageSize
	}
	from := min(skip, len(items))
	to := min(from+top, len(items))
	fs := []field{{"@odata.context", graphMetadata + "#security/alerts_v2"}, {"value", orEmpty(items[from:to])}}
	if to < len(items) {
		q.Set("$skip", strconv.Itoa(to))
		if !q.Has("$top") {
			q.Set("$top", strconv.Itoa(top))
		}
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		fs = append(fs, field{"@odata.nextLink", next.String()})
	}
	writeGraphJSON(w, r, http.StatusOK, fs)
}

var detectionTimes = map[string]bool{"lastUpdatedDateTime": true, "detectedDateTime": true, "activityDateTime": true}

func (s *Server) serveDetections(w http.ResponseWriter, r *http.Request) {
	if !onlyOptions(w, r, "$filter", "$top", "$skiptoken", "$select") {
		return
	}
	q := r.URL.Query()
	keep, bad := parseTimeFilter(q.Get("$filter"), "microsoft.graph.riskDetection", detectionTimes)
	if bad != "" {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", bad)
		return
	}
	top, ok := count(w, r, "$top", detectionsDefaultTop, 1, detectionsMaxTop)
	if !ok {
		return
	}
	from := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, aerr := strconv.Atoi(strings.TrimPrefix(string(b), "detections:"))
		if err != nil || aerr != nil || !strings.HasPrefix(string(b), "detections:") || n < 0 {
			writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		from = n
	}
	s.feed.mu.Lock()
	list := slices.Clone(s.feed.detections)
	s.feed.mu.Unlock()
	slices.SortStableFunc(list, func(a, b RiskDetection) int { return b.DetectedDateTime.Compare(a.DetectedDateTime) })
	var items []any
	for _, d := range list {
		if keep(func(p string) time.Time {
			switch p {
			case "detectedDateTime":
				return d.DetectedDateTime
			case "activityDateTime":
				return d.ActivityDateTime
			}
			return d.LastUpdatedDateTime
		}) {
			items = append(items, rawFields(s.detectionFields(d)))
		}
	}
	if s.pageSize > 0 && s.pageSize < top {
		top = s.pageSize
	}
	from = min(from, len(items))
	to := min(from+top, len(items))
	fs := []field{{"@odata.context", graphMetadata + "#identityProtection/riskDetections"}, {"value", orEmpty(items[from:to])}}
	if to < len(items) {
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("detections:"+strconv.Itoa(to))))
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		fs = append(fs, field{"@odata.nextLink", next.String()})
	}
	writeGraphJSON(w, r, http.StatusOK, fs)
}

func orEmpty(items []any) []any {
	if items == nil {
		return []any{}
	}
	return items
}

// count reads a whole-number query option within [lo, hi].
func count(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid value '%s' for query option '%s'.", v, name))
		return 0, false
	}
	return n, true
}

func preferUnknownEnums(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "include-unknown-enum-members") {
				return true
			}
		}
	}
	return false
}

// Evolvable enum members after unknownFutureValue, by property
// (https://learn.microsoft.com/graph/api/resources/security-alert).
var evolvable = map[string][]string{
	"serviceSource": {"microsoftDefenderForCloud"},
	"detectionSource": {"microsoftDefenderForCloud", "microsoftDefenderForIoT", "microsoftDefenderForServers", "microsoftDefenderForStorage",
		"microsoftDefenderForDNS", "microsoftDefenderForDatabases", "microsoftDefenderForContainers", "microsoftDefenderForNetwork",
		"microsoftDefenderForAppService", "microsoftDefenderForKeyVault", "microsoftDefenderForResourceManager", "microsoftDefenderForApiManagement"},
}

func enum(prop, v string, unknown bool) any {
	if v == "" {
		return nil
	}
	if !unknown && slices.Contains(evolvable[prop], v) {
		return "unknownFutureValue"
	}
	return v
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// alertFields renders an alert as GET /security/alerts_v2 returns one.
func (s *Server) alertFields(a SecurityAlert, unknown bool) []field {
	var evidence []any
	roles := a.Roles
	if roles == nil {
		roles = []string{"compromised"}
	}
	for _, key := range a.Users {
		acct := []field{{"accountName", nil}, {"domainName", nil}, {"userSid", nil}, {"azureAdUserId", nil}, {"userPrincipalName", key}, {"displayName", nil}}
		if u, ok := s.User(key); ok {
			name, domain, _ := strings.Cut(u.UserPrincipalName, "@")
			acct = []field{{"accountName", name}, {"domainName", domain}, {"userSid", nil}, {"azureAdUserId", u.ID},
				{"userPrincipalName", u.UserPrincipalName}, {"displayName", nullIfEmpty(u.DisplayName)}}
		}
		evidence = append(evidence, rawFields([]field{
			{"@odata.type", "#microsoft.graph.security.userEvidence"}, {"createdDateTime", graphTime(a.CreatedDateTime)},
			{"verdict", "suspicious"}, {"remediationStatus", "none"}, {"remediationStatusDetails", nil},
			{"roles", roles}, {"tags", []string{}}, {"userAccount", rawFields(acct)},
		}))
	}
	return []field{
		{"@odata.type", "#microsoft.graph.security.alert"},
		{"id", a.ID}, {"providerAlertId", a.ID}, {"incidentId", nil}, {"status", a.Status}, {"severity", a.Severity},
		{"classification", nullIfEmpty(a.Classification)}, {"determination", nullIfEmpty(a.Determination)},
		{"serviceSource", enum("serviceSource", a.ServiceSource, unknown)}, {"detectionSource", enum("detectionSource", a.DetectionSource, unknown)},
		{"detectorId", nullIfEmpty(a.DetectorID)}, {"tenantId", a.TenantID}, {"title", a.Title},
		{"description", nullIfEmpty(a.Title)}, {"recommendedActions", nil}, {"category", nullIfEmpty(a.Category)}, {"assignedTo", nil},
		{"alertWebUrl", "https://security.microsoft.com/alerts/" + a.ID + "?tid=" + a.TenantID},
		{"incidentWebUrl", nil}, {"actorDisplayName", nil}, {"threatDisplayName", nil}, {"threatFamilyName", nil},
		{"mitreTechniques", []string{}},
		{"createdDateTime", graphTime(a.CreatedDateTime)}, {"lastUpdateDateTime", graphTime(a.LastUpdateDateTime)},
		{"resolvedDateTime", nil}, {"firstActivityDateTime", graphTime(a.CreatedDateTime)}, {"lastActivityDateTime", graphTime(a.CreatedDateTime)},
		{"comments", []string{}}, {"evidence", orEmpty(evidence)}, {"systemTags", []string{}},
	}
}

// detectionFields renders a risk detection as GET /identityProtection/riskDetections does.
func (s *Server) detectionFields(d RiskDetection) []field {
	id, upn, name := any(nil), any(nil), any(nil)
	if u, ok := s.User(d.User); ok {
		id, upn, name = u.ID, u.UserPrincipalName, nullIfEmpty(u.DisplayName)
	} else if d.User != "" {
		upn = d.User
	}
	return []field{
		{"@odata.type", "#microsoft.graph.riskDetection"}, {"id", d.ID}, {"requestId", newGUID()}, {"correlationId", newGUID()},
		{"riskEventType", d.RiskEventType}, {"riskState", d.RiskState}, {"riskLevel", d.RiskLevel}, {"riskDetail", "none"},
		{"source", d.Source}, {"detectionTimingType", d.DetectionTimingType}, {"activity", "signin"}, {"tokenIssuerType", "AzureAD"},
		{"ipAddress", d.IPAddress},
		{"location", rawFields([]field{{"city", "Lagos"}, {"state", "Lagos"}, {"countryOrRegion", "NG"}, {"geoCoordinates", nil}})},
		{"activityDateTime", graphTime(d.ActivityDateTime)}, {"detectedDateTime", graphTime(d.DetectedDateTime)},
		{"lastUpdatedDateTime", graphTime(d.LastUpdatedDateTime)},
		{"userId", id}, {"userDisplayName", name}, {"userPrincipalName", upn},
		{"additionalInfo", `[{"Key":"userAgent","Value":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}]`},
	}
}

// AddUsers adds users to the directory while the server runs (the alerts of a benchmark
// name more users than the default directory holds). It refuses, changing nothing, a
// user that is invalid or shares an id or UPN with another.
func (s *Server) AddUsers(users ...User) error {
	if err := validateUsers(users); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		for _, k := range []string{u.ID, u.UserPrincipalName} {
			if _, dup := s.lookup(k); dup {
				return fmt.Errorf("graphemu: %q is already in the directory", k)
			}
		}
	}
	for _, u := range users {
		s.addUser(normalizeUser(u))
	}
	return nil
}
