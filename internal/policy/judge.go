package policy

import (
	"slices"
	"strings"

	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// Facts are what Graph said about the identifier a candidate is addressed by
// (GET /users/{key}?$select=id,userPrincipalName,userType), or why it could not say.
type Facts struct {
	// Known: Graph answered with the user. ID, UserPrincipalName and UserType are its.
	Known             bool
	ID                string
	UserPrincipalName string
	UserType          string
	// NotFound: Graph answered 404: the tenant has no user by that identifier.
	NotFound bool
	// Unknown says why Graph could not be asked (a 403 without User.Read.All, an
	// outage) when neither Known nor NotFound.
	Unknown string
}

// Judge decides a candidate on Graph's facts about the identifier that will be sent.
// The result's UserID and UserPrincipalName are Graph's when it answered; a revoke is
// then sent by that object id, so the decision and the call are about the same user.
// protected must be resolved (ResolvedProtected): its object ids are the accounts'
// own, whatever UPN an alert gives them.
func Judge(d Decision, f Facts, protected Protected, s Settings) Decision {
	if !d.Revoke {
		return d
	}
	claimedUPN := d.UserPrincipalName
	var notes []string
	switch {
	case f.NotFound:
		d.Revoke, d.Status, d.Reason = false, outcome.NotFound, "no such user in the tenant (Graph answered 404)"
		if d.ClaimedTenant != "" && !SameTenant(d.ClaimedTenant, s.TenantID) {
			d.Reason += "; the alert places this user in tenant " + clip(d.ClaimedTenant)
		}
		return d
	case f.Known:
		if id := strings.ToLower(f.ID); identity.IsObjectID(id) {
			d.UserID = id
		}
		if k, _ := identity.Classify(f.UserPrincipalName); k == identity.UPN || k == identity.Guest {
			d.UserPrincipalName = f.UserPrincipalName
		}
		if d.UserID == "" {
			// Graph's answer lacks the one fact everything rests on: act on nothing.
			d.Revoke, d.Status, d.Reason = false, outcome.Failed, "Graph's answer for this user has no valid object id: not revoked"
			return d
		}
		switch {
		case protected.Has(d.UserID, d.UserPrincipalName):
			d.Revoke, d.Status, d.Reason = false, outcome.Skipped, protectedReason
		case strings.EqualFold(f.UserType, "guest") || identity.IsGuestUPN(d.UserPrincipalName):
			d.Revoke, d.Status, d.Reason = false, outcome.Skipped, guestReason
		}
		if claimedUPN != "" && !strings.EqualFold(claimedUPN, d.UserPrincipalName) {
			// A renamed account, a UPN rebuilt from name@suffix, or a crafted pairing: the
			// object id decided, and the report says what the alert claimed.
			notes = append(notes, "the alert gave UPN "+clip(claimedUPN)+" for this object id; Graph names it "+d.UserPrincipalName+", and only the object id was acted on")
		}
		if d.ClaimedGuest && !strings.EqualFold(f.UserType, "guest") && !identity.IsGuestUPN(d.UserPrincipalName) {
			notes = append(notes, "the alert said guest; Graph says "+orUnknown(f.UserType))
		}
	default:
		// Graph could not be asked. An object id is checked against the resolved protected
		// ids, which are complete; a UPN alone can be matched only against the accounts'
		// current UPNs, so with any protected account configured it is not acted on.
		switch {
		case protected.Has(d.UserID, d.UserPrincipalName):
			d.Revoke, d.Status, d.Reason = false, outcome.Skipped, protectedReason
		case d.UserID == "" && protected.Len() > 0:
			d.Revoke, d.Status, d.Reason = false, outcome.Failed, "not revoked: Graph could not resolve this UPN to an object id ("+f.Unknown+"), so the protected-account list cannot be checked; grant the app User.Read.All"
		default:
			// Cutting the attacker off matters more than the guest check: a revoke of a
			// guest is harmless and reported as unchecked.
			notes = append(notes, "user type not checked ("+f.Unknown+"): if this is a guest, the call did not end their sessions")
		}
	}
	if d.Revoke && d.ClaimedTenant != "" && s.TenantID != "" && !SameTenant(d.ClaimedTenant, s.TenantID) {
		notes = append(notes, "the alert places this user in tenant "+clip(d.ClaimedTenant)+", but this tenant has them")
	}
	if d.Revoke {
		d.Reason = strings.Join(notes, "; ")
	} else if len(notes) > 0 {
		d.Reason += "; " + strings.Join(notes, "; ")
	}
	return d
}

const protectedReason = "protected: a break-glass or responder account, never revoked"

func orUnknown(s string) string {
	if s == "" {
		return "no user type"
	}
	return s
}

// SameTenant compares tenant ids as Entra writes them in any of its forms: any case, with
// or without braces.
func SameTenant(a, b string) bool {
	return NormalTenant(a) == NormalTenant(b)
}

// NormalTenant is a tenant id lowercased, without braces or surrounding space.
func NormalTenant(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	return strings.ToLower(strings.TrimSpace(s))
}

// Fold merges other into into: two candidates Graph resolved to one object id are one
// user. A skip on Graph's facts (protected, guest) wins; otherwise a candidate still to be
// revoked wins over one that could not be judged. Alerts add up, so the user counts once
// towards each alert's blast radius; dry run and approval hold only if both had them.
func Fold(into *Decision, other Decision) {
	alerts := into.alerts
	for _, id := range other.alerts {
		if !slices.Contains(alerts, id) {
			alerts = append(slices.Clip(alerts), id)
		}
	}
	dry, approved := into.DryRun && other.DryRun, into.Approved && other.Approved
	if into.Status != outcome.Skipped && (other.Status == outcome.Skipped || !into.Revoke && other.Revoke) {
		*into = other
	}
	into.alerts, into.DryRun, into.Approved = alerts, dry, approved
}
