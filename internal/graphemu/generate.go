package graphemu

import (
	"fmt"
	"strings"
	"time"
)

// Generated describes a synthetic directory, for sweeps at tenant scale.
type Generated struct {
	Count int // users to make
	// First is the number of the first user (default 1), so that two calls make disjoint
	// sets: Generated{Count: 500, First: 10001} follows a directory of 10,000.
	First int
	// Group is the object id of a group every user belongs to, so that
	// GET /groups/{Group}/transitiveMembers/microsoft.graph.user pages them all ("": none).
	Group string
	// GuestEvery makes every GuestEvery-th user a B2B guest (0: none are).
	GuestEvery int
	// RiskLevel makes every user one of Identity Protection's risky users at that level,
	// at risk ("": none is).
	RiskLevel string
}

// generatedSince is every generated user's signInSessionsValidFromDateTime, as in
// directory.json.
var generatedSince = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// GenerateUsers makes g.Count users with ids and names that depend only on their number,
// so a test can name any of them without keeping the slice:
//
//	member 7: id 9e000000-0000-4000-8000-000000000007, user00007@contoso.onmicrosoft.com
//	guest 10: id 9e000000-0000-4000-8000-000000000010, guest00010_fabrikam.com#EXT#@contoso.onmicrosoft.com
//
// GeneratedID and GeneratedUPN give them by number.
func GenerateUsers(g Generated) []User {
	first := g.First
	if first < 1 {
		first = 1
	}
	var groups []string
	if g.Group != "" {
		groups = []string{strings.ToLower(g.Group)} // shared: nothing mutates it
	}
	users := make([]User, g.Count)
	for k := range users {
		n := first + k
		u := User{
			ID:                              GeneratedID(n),
			UserPrincipalName:               GeneratedUPN(n, false),
			DisplayName:                     fmt.Sprintf("User %05d", n),
			UserType:                        "Member",
			SignInSessionsValidFromDateTime: generatedSince,
			Groups:                          groups,
		}
		if g.GuestEvery > 0 && n%g.GuestEvery == 0 {
			u.UserPrincipalName, u.UserType = GeneratedUPN(n, true), "Guest"
			u.DisplayName = fmt.Sprintf("Guest %05d (Fabrikam)", n)
		}
		if g.RiskLevel != "" {
			u.RiskLevel, u.RiskState = g.RiskLevel, "atRisk"
		}
		users[k] = u
	}
	return users
}

// GeneratedID is the object id GenerateUsers gives user number n.
func GeneratedID(n int) string { return fmt.Sprintf("9e000000-0000-4000-8000-%012d", n) }

// GeneratedUPN is the UPN GenerateUsers gives user number n, a member or a guest.
func GeneratedUPN(n int, guest bool) string {
	if guest {
		return fmt.Sprintf("guest%05d_fabrikam.com#EXT#@%s", n, DefaultTenantDomain)
	}
	return fmt.Sprintf("user%05d@%s", n, DefaultTenantDomain)
}
