// Package identity says what an identifier taken from an alert is: an Entra object id, a
// user principal name, a guest's UPN, a built-in account, or something Graph cannot address.
//
// It is the only gate between alert text and a Graph URL: anything it does not classify as
// ObjectID or UPN must never be put in a request path.
package identity

import "strings"

// Kind is what an identifier is, judged from its shape alone.
type Kind uint8

const (
	Empty    Kind = iota // nothing there
	ObjectID             // an Entra object id (GUID)
	UPN                  // a user principal name of a member
	Guest                // a B2B guest's UPN (#EXT#): this API does not revoke their sessions
	BuiltIn              // SYSTEM, NT AUTHORITY\..., well-known SIDs, machine accounts
	Login                // a bare login (adele.vance, CONTOSO\adele): not addressable in Graph
	SID                  // an on-premises security identifier: not an Entra id
	Invalid              // malformed or crafted: must never reach a URL
)

var kindNames = [...]string{"empty", "object-id", "upn", "guest", "built-in", "login", "sid", "invalid"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Addressable reports whether Graph can be called with an identifier of this kind.
func (k Kind) Addressable() bool { return k == ObjectID || k == UPN || k == Guest }

// maxLocalPart is Entra's limit on the part of a UPN before '@'.
const maxLocalPart = 113

// maxDomain bounds the domain part; DNS names are at most 253 characters.
const maxDomain = 253

// Classify judges s by shape. It never allocates for the common kinds; the reason is set
// only for Invalid and says what was wrong without repeating the value.
func Classify(s string) (Kind, string) {
	if s == "" {
		return Empty, ""
	}
	if len(s) > maxLocalPart+1+maxDomain {
		return Invalid, "longer than any user principal name"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return Invalid, "contains a control character"
		}
		if c >= 0x80 {
			// Entra UPNs are ASCII; non-ASCII here is at best a display name and at worst a
			// look-alike of '@' or '/' crafted to reach another path.
			return Invalid, "contains a non-ASCII character"
		}
	}
	if IsObjectID(s) {
		return ObjectID, ""
	}
	if isBuiltIn(s) {
		return BuiltIn, ""
	}
	if isSID(s) {
		return SID, ""
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		if isLogin(s) {
			return Login, ""
		}
		return Invalid, "neither an object id nor a user principal name"
	}
	return classifyUPN(s, at)
}

func classifyUPN(s string, at int) (Kind, string) {
	local, domain := s[:at], s[at+1:]
	if strings.IndexByte(domain, '@') >= 0 {
		return Invalid, "more than one '@'"
	}
	if local == "" || len(local) > maxLocalPart {
		return Invalid, "the part before '@' is empty or longer than 113 characters"
	}
	if reason := checkDomain(domain); reason != "" {
		return Invalid, reason
	}
	guest := false
	if n := len(local) - len("#EXT#"); n > 0 && strings.EqualFold(local[n:], "#EXT#") {
		// '#' is legal only as the guest marker right before '@'; anywhere else it would
		// start a URL fragment.
		guest = true
		local = local[:n]
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return Invalid, "a '.' at the start or end of the name, or two in a row"
	}
	for i := 0; i < len(local); i++ {
		if !upnLocalChar(local[i]) {
			return Invalid, "a character Entra does not allow in a user principal name: " + quoteByte(local[i])
		}
	}
	if guest {
		return Guest, ""
	}
	return UPN, ""
}

// upnLocalChar is Entra's set for the part before '@': letters, digits and ' . - _ ! ^ ~,
// plus '$', which real tenants have at the start of service accounts.
func upnLocalChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '\'', '.', '-', '_', '!', '^', '~', '$':
		return true
	}
	return false
}

func checkDomain(d string) string {
	if d == "" || len(d) > maxDomain {
		return "the domain after '@' is empty or too long"
	}
	labels := 0
	start := 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return "a character not allowed in a domain name: " + quoteByte(c)
			}
			continue
		}
		label := d[start:i]
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' || len(label) > 63 {
			return "the domain after '@' is not a valid DNS name"
		}
		labels++
		start = i + 1
	}
	if labels < 2 {
		return "the domain after '@' has no dot"
	}
	return ""
}

func quoteByte(c byte) string {
	switch c {
	case ' ':
		return "space"
	case '/':
		return "'/'"
	}
	return "'" + string(rune(c)) + "'"
}

// IsObjectID reports whether s is a GUID in its canonical 8-4-4-4-12 form.
func IsObjectID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isSID matches S-1-<authority>-<sub>... ; the well-known service SIDs are caught earlier
// as built-in accounts.
func isSID(s string) bool {
	if len(s) < 5 || (s[0] != 'S' && s[0] != 's') || s[1] != '-' || s[2] != '1' || s[3] != '-' {
		return false
	}
	prev := byte('-')
	for i := 4; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
		case c == '-' && prev != '-':
		default:
			return false
		}
		prev = c
	}
	return prev != '-'
}

// isLogin matches a bare account name or DOMAIN\name: shapes an alert uses for a person
// that Graph cannot address without a UPN suffix.
func isLogin(s string) bool {
	name := s
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		if i == 0 || strings.IndexByte(s[i+1:], '\\') >= 0 {
			return false
		}
		name = s[i+1:]
	}
	if name == "" || len(name) > maxLocalPart || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !upnLocalChar(name[i]) {
			return false
		}
	}
	// A login may not carry a domain part of its own with dangerous characters.
	dom := s[:len(s)-len(name)]
	for i := 0; i < len(dom)-1; i++ {
		c := dom[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// IsGuestUPN reports whether s is a B2B guest's UPN (name#EXT#@tenant): a user this API
// does not sign out, whatever else is said about them.
func IsGuestUPN(s string) bool {
	k, _ := Classify(s)
	return k == Guest
}
