package sweep

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/identity"
)

// An explicit list names the users to sweep: inline in the request, or as an S3 object of
// one identifier a line (an object id or a UPN), or of JSON lines
// {"userId": "...", "userPrincipalName": "..."}. A bad line (not an identifier, a crafted
// value, a repeat of an earlier line) is reported with its line number and never stops
// the others; a list that cannot be read as a whole (too large, not text, no line of
// either shape) is refused before anyone is revoked.

// MaxListUsers is the most users one explicit list may name.
const MaxListUsers = 100_000

// MaxListBytes bounds an S3 list object: 100,000 JSON lines of an id and a UPN each fit.
const MaxListBytes = 32 << 20

// Entry is one line of a list that names a user.
type Entry struct {
	Line int // 1-based
	alert.Principal
}

// BadLine is one line that does not; Reason never repeats the line.
type BadLine struct {
	Line   int
	Value  string // the line, clipped, for the report (identity judges it, never a URL)
	Reason string
}

// ParseList reads a list. Blank lines and lines starting with '#' are skipped. The error is
// for the list as a whole, and names what is wrong with it.
func ParseList(b []byte) (entries []Entry, bad []BadLine, err error) {
	if len(b) > MaxListBytes {
		return nil, nil, fmt.Errorf("%d bytes, more than the %d a list may hold", len(b), MaxListBytes)
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return nil, nil, fmt.Errorf("not text: one identifier a line, or JSON lines with userId/userPrincipalName")
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a BOM, as spreadsheet exports write
	seen := make(map[string]int, 1024)              // lowercase identifier -> first line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	lines := 0
	for sc.Scan() {
		lines++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		p, why := parseLine(text)
		if why != "" {
			bad = append(bad, BadLine{Line: lines, Value: delivery.Clip(text, 80), Reason: why})
			continue
		}
		key := strings.ToLower(cmp.Or(p.UserID, p.UserPrincipalName))
		if first, dup := seen[key]; dup {
			bad = append(bad, BadLine{Line: lines, Value: delivery.Clip(text, 80), Reason: fmt.Sprintf("a repeat of line %d", first)})
			continue
		}
		seen[key] = lines
		if len(entries) == MaxListUsers {
			return nil, nil, fmt.Errorf("more than %d users (line %d)", MaxListUsers, lines)
		}
		entries = append(entries, Entry{Line: lines, Principal: p})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %v (a line is at most 64 KB)", lines+1, err)
	}
	if len(entries) == 0 && len(bad) > 0 && len(bad) == countContent(b) {
		// Every line is bad: the object is not a list of users at all (a CSV with a header
		// and commas, a JSON document): refuse it whole rather than report each line.
		return nil, nil, fmt.Errorf("no line names a user (line 1: %s): expected one identifier a line, or JSON lines with userId/userPrincipalName", bad[0].Reason)
	}
	return entries, bad, nil
}

// parseLine reads one line: a JSON object with userId and/or userPrincipalName, or a bare
// identifier. A line is trusted no more than an alert: identity judges every value.
func parseLine(text string) (alert.Principal, string) {
	if text[0] == '{' {
		var v struct {
			UserID            *string `json:"userId"`
			UserPrincipalName *string `json:"userPrincipalName"`
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil || dec.More() {
			return alert.Principal{}, "not a JSON object with only userId and/or userPrincipalName"
		}
		p := alert.Principal{}
		if v.UserID != nil {
			if k, why := identity.Classify(strings.TrimSpace(*v.UserID)); k != identity.ObjectID {
				return alert.Principal{}, "userId is not an object id" + because(why)
			}
			p.UserID = strings.ToLower(strings.TrimSpace(*v.UserID))
		}
		if v.UserPrincipalName != nil {
			if k, why := identity.Classify(strings.TrimSpace(*v.UserPrincipalName)); k != identity.UPN && k != identity.Guest {
				return alert.Principal{}, "userPrincipalName is not a user principal name" + because(why)
			}
			p.UserPrincipalName = strings.TrimSpace(*v.UserPrincipalName)
		}
		if p.UserID == "" && p.UserPrincipalName == "" {
			return alert.Principal{}, "names no user: give userId or userPrincipalName"
		}
		return p, ""
	}
	switch k, why := identity.Classify(text); k {
	case identity.ObjectID:
		return alert.Principal{UserID: strings.ToLower(text)}, ""
	case identity.UPN, identity.Guest:
		return alert.Principal{UserPrincipalName: text}, ""
	default:
		return alert.Principal{}, "not an object id or a user principal name (" + k.String() + because(why) + ")"
	}
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

// countContent counts the lines a list holds that are neither blank nor comments.
func countContent(b []byte) int {
	n := 0
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			n++
		}
	}
	return n
}
