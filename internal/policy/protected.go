package policy

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/identity"
)

// Protected are the accounts never revoked whatever an alert says: break-glass and
// responder accounts. Locking them out during an incident is worse than the alert.
type Protected struct {
	ids  map[string]bool // lowercase object ids
	upns map[string]bool // lowercase UPNs
}

// ParseProtected reads a comma- or whitespace-separated list of object ids and UPNs. Any
// entry that is neither is an error: a list that cannot be read must stop all revoking
// (fail closed) rather than protect fewer accounts than the operator meant.
func ParseProtected(list string) (Protected, error) {
	p := Protected{ids: map[string]bool{}, upns: map[string]bool{}}
	for i, entry := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		switch k, why := identity.Classify(entry); k {
		case identity.ObjectID:
			p.ids[strings.ToLower(entry)] = true
		case identity.UPN, identity.Guest:
			p.upns[strings.ToLower(entry)] = true
		default:
			if why == "" {
				why = k.String()
			}
			return Protected{}, fmt.Errorf("protected account list, entry %d: not an object id or a user principal name (%s)", i+1, why)
		}
	}
	return p, nil
}

// Len is the number of entries.
func (p Protected) Len() int { return len(p.ids) + len(p.upns) }

// Has reports whether a user known by id and/or UPN is protected.
func (p Protected) Has(id, upn string) bool {
	return (id != "" && p.ids[strings.ToLower(id)]) || (upn != "" && p.upns[strings.ToLower(upn)])
}

// Decidable reports whether Has can be trusted for a user known only by these forms: a
// list naming object ids cannot clear a user known only by UPN, and the reverse.
func (p Protected) Decidable(id, upn string) bool {
	return (id != "" || len(p.ids) == 0) && (upn != "" || len(p.upns) == 0)
}
