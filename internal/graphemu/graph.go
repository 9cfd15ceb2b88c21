package graphemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const graphMetadata = "https://graph.microsoft.com/v1.0/$metadata"

// odataJSON is the Content-Type Graph sets on OData payloads; kiota keys its parser on the part
// before ";", so this exercises the same path as production.
const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// serveGraph handles /v1.0/...: authentication first (as Graph's gateway does), then addressing,
// then faults, then the directory.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, segs []string) {
	if msg, ok := s.checkBearer(r); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		writeGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return
	}
	if len(segs) == 0 {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid version.")
		return
	}

	if s.serveListing(w, r, segs) || s.serveFeed(w, r, segs) {
		return
	}
	var key string
	var rest []string
	plain := false // the /users/{key} form, where OData reads a leading "$" as a system segment
	switch first := segs[0]; {
	case strings.EqualFold(first, "users") && len(segs) >= 2:
		key, rest, plain = segs[1], segs[2:], true
	case strings.EqualFold(first, "users"):
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", "graphemu: only /users/{id | userPrincipalName} is emulated, not the users collection.")
		return
	case len(first) > len("users()") && strings.EqualFold(first[:len("users(")], "users(") && strings.HasSuffix(first, ")"):
		k, ok := parseODataKey(first[len("users(") : len(first)-1])
		if !ok {
			writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Bad Request - Error in query syntax at '%s'.", first))
			return
		}
		key, rest = k, segs[1:]
	default:
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", first))
		return
	}

	var kind, method string
	switch {
	case len(rest) == 0:
		kind, method = MatchGetUser, http.MethodGet
	case len(rest) == 1 && (strings.EqualFold(rest[0], "revokeSignInSessions") || strings.EqualFold(rest[0], "microsoft.graph.revokeSignInSessions")):
		kind, method = MatchRevoke, http.MethodPost
	default:
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[0]))
		return
	}
	if r.Method != method {
		// The directory resolves the user before the operation, so a wrong method on an
		// unknown user is a 404 (as for a guest UPN whose "#" was left unencoded).
		if _, ok := s.User(key); !ok {
			writeGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
			return
		}
		w.Header().Set("Allow", method)
		writeGraphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
		return
	}
	if key == "" || (plain && strings.HasPrefix(key, "$")) {
		writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid object identifier '%s'.", key))
		return
	}
	var sel []string
	if kind == MatchGetUser {
		var bad string
		if sel, bad = parseSelect(r); bad != "" {
			writeGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.user'.", bad))
			return
		}
	}
	// The write quota is the gateway's: it is counted before faults and before the
	// directory is read.
	if kind == MatchRevoke && s.writeThrottled(w, r, s.appOf(r)) {
		return
	}
	if s.applyFault(w, r, kind, key, func(status int) { writeGraphFault(w, r, status) }) {
		return
	}

	s.mu.Lock()
	i, ok := s.lookup(key)
	var u User
	if ok {
		if kind == MatchRevoke {
			// Full precision, never earlier than the request: callers compare it with the
			// time they sent the call.
			s.users[i].SignInSessionsValidFromDateTime = time.Now().UTC()
		}
		u = s.users[i]
	}
	s.mu.Unlock()
	if !ok {
		writeGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		return
	}

	if kind == MatchRevoke {
		writeGraphJSON(w, r, http.StatusOK, []field{{"@odata.context", graphMetadata + "#Edm.Boolean"}, {"value", true}})
		return
	}
	writeGraphJSON(w, r, http.StatusOK, userFields(u, sel))
}

// checkBearer validates the Authorization header against issued tokens, returning Graph's
// message for the failure.
func (s *Server) checkBearer(r *http.Request) (string, bool) {
	present, tok := bearerToken(r)
	if !present || tok == "" {
		return "Access token is empty.", false
	}
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !ok:
		return "Access token validation failure. Invalid audience.", false
	case !time.Now().Before(exp):
		return "Lifetime validation failed, the token is expired.", false
	}
	return "", true
}

// appOf is the client id the request's token was issued to (checkBearer passed).
func (s *Server) appOf(r *http.Request) string {
	_, tok := bearerToken(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenApp[tok]
}

// parseODataKey reads the inside of users('...'): a single-quoted string literal in which
// ” stands for '.
func parseODataKey(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", false
	}
	inner := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\'' {
			if i+1 >= len(inner) || inner[i+1] != '\'' {
				return "", false // a lone quote would end the literal early
			}
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String(), true
}

// userProps are the properties the emulator models, by lowercase name; Graph matches $select
// names without regard to case.
var userProps = map[string]string{
	"id":                              "id",
	"userprincipalname":               "userPrincipalName",
	"displayname":                     "displayName",
	"usertype":                        "userType",
	"signinsessionsvalidfromdatetime": "signInSessionsValidFromDateTime",
}

// unmodelledProps are real user properties the emulator does not store: selecting them is
// valid and returns null, as Graph does for unset properties.
var unmodelledProps = []string{
	"accountEnabled", "businessPhones", "createdDateTime", "creationType", "externalUserState",
	"givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "onPremisesImmutableId",
	"onPremisesSyncEnabled", "preferredLanguage", "surname",
}

// defaultUserProps is what GET /v1.0/users/{key} returns without $select. It does not include
// signInSessionsValidFromDateTime: Graph returns that only when selected.
var defaultUserProps = []string{
	"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
}

func init() {
	for _, p := range unmodelledProps {
		userProps[strings.ToLower(p)] = p
	}
}

// parseSelect returns the canonical selected property names in request order, or the first
// unknown name. Graph accepts both "$select" and "select".
func parseSelect(r *http.Request) (sel []string, unknown string) {
	q := r.URL.Query()
	raw := q.Get("$select")
	if raw == "" {
		raw = q.Get("select")
	}
	if raw == "" {
		return nil, ""
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(raw, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		canon, ok := userProps[strings.ToLower(name)]
		if !ok {
			return nil, name
		}
		if !seen[canon] {
			seen[canon] = true
			sel = append(sel, canon)
		}
	}
	return sel, ""
}

func userFields(u User, sel []string) []field {
	ctx := graphMetadata + "#users/$entity"
	props := defaultUserProps
	if len(sel) > 0 {
		ctx = graphMetadata + "#users(" + strings.Join(sel, ",") + ")/$entity"
		props = sel
	}
	out := []field{{"@odata.context", ctx}}
	for _, p := range props {
		var v any
		switch p {
		case "id":
			v = u.ID
		case "userPrincipalName":
			v = u.UserPrincipalName
		case "displayName":
			v = nullIfEmpty(u.DisplayName)
		case "userType":
			v = nullIfEmpty(u.UserType)
		case "signInSessionsValidFromDateTime":
			if !u.SignInSessionsValidFromDateTime.IsZero() {
				v = u.SignInSessionsValidFromDateTime.UTC().Format(time.RFC3339Nano)
			}
		case "businessPhones":
			v = []string{}
		}
		out = append(out, field{p, v})
	}
	return out
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// field is one JSON member; Graph answers keep "@odata.context" first and properties in
// $select order, which a map would not.
type field struct {
	name  string
	value any
}

func marshalFields(fs []field) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.name)
		v, err := json.Marshal(f.value)
		if err != nil {
			panic(err) // only strings, bools, nil and string slices are used
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// graphFaults maps a status to the error code and message Graph uses for it.
var graphFaults = map[int][2]string{
	http.StatusBadRequest:          {"BadRequest", "Bad request."},
	http.StatusUnauthorized:        {"InvalidAuthenticationToken", "Access token validation failure."},
	http.StatusForbidden:           {"Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
	http.StatusNotFound:            {"Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present."},
	http.StatusTooManyRequests:     {"TooManyRequests", "Too many requests"},
	http.StatusInternalServerError: {"InternalServerError", "An internal server error occurred."},
	http.StatusBadGateway:          {"BadGateway", "Bad gateway."},
	http.StatusServiceUnavailable:  {"ServiceUnavailable", "The service is currently unavailable. Please try again later."},
	http.StatusGatewayTimeout:      {"GatewayTimeout", "The gateway timed out."},
}

func writeGraphFault(w http.ResponseWriter, r *http.Request, status int) {
	cm, ok := graphFaults[status]
	if !ok {
		text := http.StatusText(status)
		cm = [2]string{strings.ReplaceAll(text, " ", ""), text + "."}
	}
	writeGraphError(w, r, status, cm[0], cm[1])
}

// writeGraphError writes Graph's error shape; kiota turns it into *odataerrors.ODataError.
func writeGraphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	reqID, clientReqID := setGraphHeaders(w, r, "application/json")
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        reqID,
			"client-request-id": clientReqID,
		},
	}}
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeGraphJSON(w http.ResponseWriter, r *http.Request, status int, fs []field) {
	setGraphHeaders(w, r, odataJSON)
	w.WriteHeader(status)
	_, _ = w.Write(marshalFields(fs))
}

// setGraphHeaders sets the headers every Graph response carries, which callers log to
// correlate with Microsoft support.
func setGraphHeaders(w http.ResponseWriter, r *http.Request, contentType string) (requestID, clientRequestID string) {
	requestID = newGUID()
	clientRequestID = r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("request-id", requestID)
	h.Set("client-request-id", clientRequestID)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"graphemu","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"127.0.0.1","ADSiteName":"EMU"}}`)
	h.Set("x-ms-resource-unit", "1")
	return requestID, clientRequestID
}
