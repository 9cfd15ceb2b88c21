package graphemu

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The two listings a scheduled sweep reads, paged as Graph pages them: $top up to the
// endpoint's cap, then @odata.nextLink with an opaque $skiptoken until the last page.
//
//	GET /v1.0/identityProtection/riskyUsers?$filter=...&$top=N
//	GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user?$select=...&$top=N

// WithPageSize caps every listing page at n users (tests use 1 or 2 to make paging
// happen); without it the caps are Graph's own (500 risky users, 999 members).
func WithPageSize(n int) Option {
	return func(s *Server) { s.pageSize = n }
}

const (
	riskyUsersCap = 500
	membersCap    = 999
	// riskUpdated is the fixed riskLastUpdatedDateTime of every emulated risky user.
	riskUpdated = "2026-11-20T08:14:03.112Z"
)

// serveListing answers the listings; ok is false when segs is neither.
func (s *Server) serveListing(w http.ResponseWriter, r *http.Request, segs []string) (ok bool) {
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[0], "identityProtection") && strings.EqualFold(segs[1], "riskyUsers"):
		if !allowGet(w, r) || s.identityThrottled(w, r) || s.applyFault(w, r, MatchListRiskyUsers, "", func(status int) { writeGraphFault(w, r, status) }) {
			return true
		}
		s.serveRiskyUsers(w, r)
		return true
	case len(segs) == 4 && strings.EqualFold(segs[0], "groups") && strings.EqualFold(segs[2], "transitiveMembers") && strings.EqualFold(segs[3], "microsoft.graph.user"):
		if !allowGet(w, r) || s.applyFault(w, r, MatchListMembers, "", func(status int) { writeGraphFault(w, r, status) }) {
			return true
		}
		s.serveMembers(w, r, strings.ToLower(segs[1]))
		return true
	}
	return false
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	w.Header().Set("Allow", http.MethodGet)
	writeGraphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
	return false
}

func (s *Server) serveRiskyUsers(w http.ResponseWriter, r *http.Request) {
	keep, ok := parseRiskFilter(r.URL.Query().Get("$filter"))
	if !ok {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause")
		return
	}
	s.mu.Lock()
	var risky []int
	for i, u := range s.users {
		if u.RiskLevel != "" && keep(u) {
			risky = append(risky, i)
		}
	}
	s.mu.Unlock()
	s.writePage(w, r, graphMetadata+"#identityProtection/riskyUsers", risky, riskyUsersCap, func(u User) []field {
		return []field{
			{"id", u.ID}, {"isDeleted", false}, {"isProcessing", false},
			{"riskLastUpdatedDateTime", riskUpdated}, {"riskLevel", u.RiskLevel}, {"riskState", u.RiskState},
			{"riskDetail", "none"}, {"userDisplayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName},
		}
	})
}

func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request, group string) {
	sel, bad := parseSelect(r)
	if bad != "" {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.user'.", bad))
		return
	}
	s.mu.Lock()
	members := s.groups[group] // users are only ever appended, so these indices stay valid
	s.mu.Unlock()
	if len(members) == 0 {
		writeGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", group))
		return
	}
	s.writePage(w, r, graphMetadata+"#directoryObjects(microsoft.graph.user)", members, membersCap, func(u User) []field {
		// userFields leads with the entity's @odata.context; a collection item has its
		// type instead.
		return append([]field{{"@odata.type", "#microsoft.graph.user"}}, userFields(u, sel)[1:]...)
	})
}

// writePage answers one page of the users at indices after $skiptoken, at most $top (or
// the cap), with a next link carrying the request's own query when more remain. Only the
// page's users are rendered, so paging a 100,000-member group costs each page its own
// items, not the group's.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, context string, indices []int, limit int, item func(User) []field) {
	q := r.URL.Query()
	size := limit
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > limit {
			writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and "+strconv.Itoa(limit)+" inclusive.")
			return
		}
		size = n
	}
	if s.pageSize > 0 && s.pageSize < size {
		size = s.pageSize
	}
	from := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, aerr := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || aerr != nil || !strings.HasPrefix(string(b), "offset:") || n < 0 || n > len(indices) {
			writeGraphError(w, r, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		from = n
	}
	to := min(from+size, len(indices))
	page := make([]any, 0, to-from)
	s.mu.Lock()
	for _, i := range indices[from:to] {
		page = append(page, rawFields(item(s.users[i])))
	}
	s.mu.Unlock()
	fs := []field{{"@odata.context", context}, {"value", page}}
	if to < len(indices) {
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(to))))
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		fs = append(fs, field{"@odata.nextLink", next.String()})
	}
	writeGraphJSON(w, r, http.StatusOK, fs)
}

// rawFields keeps an item's member order when it is marshalled inside the page.
type rawFields []field

func (f rawFields) MarshalJSON() ([]byte, error) { return marshalFields(f), nil }

// riskClause is one comparison the client sends: riskLevel eq 'high'.
var riskClause = regexp.MustCompile(`^(riskLevel|riskState) eq '([A-Za-z]+)'$`)

// parseRiskFilter reads the filter grammar the function sends: parenthesised groups of
// clauses joined by " or ", the groups joined by " and ". Anything else is refused, so a
// client sending something Graph would read differently fails here too.
func parseRiskFilter(f string) (func(User) bool, bool) {
	if f == "" {
		return func(User) bool { return true }, true
	}
	type clause struct{ field, value string }
	var groups [][]clause
	for _, g := range strings.Split(f, " and ") {
		if strings.HasPrefix(g, "(") && strings.HasSuffix(g, ")") {
			g = g[1 : len(g)-1]
		}
		var cs []clause
		for _, c := range strings.Split(g, " or ") {
			m := riskClause.FindStringSubmatch(c)
			if m == nil {
				return nil, false
			}
			cs = append(cs, clause{m[1], m[2]})
		}
		groups = append(groups, cs)
	}
	return func(u User) bool {
		for _, cs := range groups {
			if !slices.ContainsFunc(cs, func(c clause) bool {
				return c.field == "riskLevel" && c.value == u.RiskLevel || c.field == "riskState" && c.value == u.RiskState
			}) {
				return false
			}
		}
		return true
	}, true
}
