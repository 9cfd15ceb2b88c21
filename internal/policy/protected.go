package policy

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/identity"
)

// Protected are the accounts never revoked whatever an alert says: break-glass and
// responder accounts. Locking them out during an incident is worse than the alert.
//
// The list as configured names accounts by object id or UPN; the revoke runner resolves
// every entry through Graph (Resolved) so that a decision about the identifier actually
// sent, always an object id once Graph has answered, can be taken from the ids alone.
type Protected struct {
	ids     map[string]bool // lowercase object ids
	upns    map[string]bool // lowercase UPNs
	entries []string        // as configured, in order
}

// ParseProtected reads a comma- or whitespace-separated list of object ids and UPNs. Any
// entry that is neither is an error: a list that cannot be read must stop all revoking
// (fail closed) rather than protect fewer accounts than the operator meant.
func ParseProtected(list string) (Protected, error) {
	p := Protected{ids: map[string]bool{}, upns: map[string]bool{}}
	for i, entry := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		p.entries = append(p.entries, entry)
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

// Entries are the accounts as configured, each an object id or a UPN.
func (p Protected) Entries() []string { return p.entries }

// Resolved is the list with the object ids and current UPNs Graph gave for its entries
// added: an account listed by UPN is then recognised by its object id, and one listed by
// object id by its UPN.
func (p Protected) Resolved(ids, upns []string) Protected {
	r := Protected{ids: make(map[string]bool, len(p.ids)+len(ids)), upns: make(map[string]bool, len(p.upns)+len(upns)), entries: p.entries}
	for k := range p.ids {
		r.ids[k] = true
	}
	for k := range p.upns {
		r.upns[k] = true
	}
	for _, id := range ids {
		r.ids[strings.ToLower(id)] = true
	}
	for _, u := range upns {
		r.upns[strings.ToLower(u)] = true
	}
	return r
}
