// Package policy turns the users an alert names into decisions: who is revoked, who is
// skipped and why, who cannot be addressed at all. It is pure: no I/O, no clock, so every
// rule is testable from a table and the same decisions are shown by `make extract`.
//
// It must never let an identifier through that identity did not classify as an object id
// or a UPN: a Decision with Revoke set is safe to put in a Graph URL.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/identity"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// Settings are the operator's rules.
type Settings struct {
	// DryRun decides everything and revokes nobody.
	DryRun bool
	// TargetRoles are the evidence roles whose users are revoked. A user the alert gives
	// roles for, none of them here, is skipped: an attacker's or a contextual account is
	// not the victim. Users without roles are targeted.
	TargetRoles []string
	// Protected accounts are never revoked.
	Protected Protected
	// TenantID, when set, pins the function to one tenant: a user an alert places in
	// another tenant is skipped.
	TenantID string
	// DefaultUPNSuffix turns a bare login (adele.vance, CONTOSO\adele.vance) into
	// adele.vance@suffix. Off when empty: a login is then unaddressable.
	DefaultUPNSuffix string
	// MaxTargetsPerAlert bounds the blast radius: an alert that would revoke more users
	// revokes none and asks for approval. 0 means no bound.
	MaxTargetsPerAlert int
	// RiskStates are the Entra ID Protection risk states acted on (RISK_STATES); nil
	// means DefaultRiskStates. A user whose alert gives another state (dismissed,
	// remediated, confirmedSafe, none) is skipped with it as the reason.
	RiskStates []string
}

// DefaultTargetRoles are the Graph evidence roles of a victim.
var DefaultTargetRoles = []string{"compromised", "attacked"}

// DefaultRiskStates are the risk states in which a risky user or a risk detection still
// stands: not dismissed, remediated or confirmed safe.
var DefaultRiskStates = []string{"atRisk", "confirmedCompromised"}

// Target is one user after deduplication across a delivery's alerts.
type Target struct {
	UserID            string // a validated object id, lowercase
	UserPrincipalName string // a validated UPN, as the alert spelled it
	Identifier        string // the alert's value when neither could be had, clipped
	Guest             bool
	Roles             []string
	TenantID          string // the tenant the alert places the user in, if it says
	Format            string // of the first alert that named the user
	AlertID           string

	alerts []string // every alert of the delivery that named the user, for the blast radius
	dry    bool     // every mention asked for a dry run
	gone   bool     // merged into another decision while deduplicating

	// What the alert's vendor said may mean nothing is to be done (alert.Principal's
	// RiskState, Deleted, Closed), kept while every mention of the user says it.
	riskState string
	deleted   bool
	closed    string
}

// Key is what Graph is addressed with: the object id when known, else the UPN.
func (t *Target) Key() string {
	if t.UserID != "" {
		return t.UserID
	}
	return t.UserPrincipalName
}

// Decision is what will be done for one target.
type Decision struct {
	Target
	// Revoke: call Graph for this user. When false, Status and Reason are final.
	Revoke bool
	Status outcome.Status
	Reason string
}

// Decide resolves, deduplicates and judges every principal of every alert.
func Decide(alerts []alert.Alert, s Settings) []Decision {
	var ds []Decision
	index := make(map[string]int) // lowercase id or UPN or raw identifier -> position in ds
	for ai := range alerts {
		a := &alerts[ai]
		for _, p := range a.Principals {
			t, unusable := resolve(p, a, s.DefaultUPNSuffix)
			t.alerts, t.dry = []string{a.ID}, s.DryRun || a.DryRun
			d := decide(t, unusable, s, t.dry)
			same := matches(index, ds, &d.Target)
			if len(same) == 0 {
				ds = append(ds, d)
				remember(index, &d.Target, len(ds)-1)
				continue
			}
			// One user, named again, perhaps by the other identifier: fold every
			// decision this mention bridges into the first, so one user is one target.
			first := same[0]
			merge(&ds[first], d.Target, s)
			for _, j := range same[1:] {
				merge(&ds[first], ds[j].Target, s)
				ds[j].gone = true
			}
			remember(index, &ds[first].Target, first)
		}
	}
	kept := ds[:0]
	for _, d := range ds {
		if !d.gone {
			kept = append(kept, d)
		}
	}
	return bound(kept, alerts, s.MaxTargetsPerAlert)
}

// bound holds back every revoke of an alert that names more users to revoke than the
// operator allows: a false positive naming half the tenant must not run unattended. It is
// the automated form of the cmdlet's -Confirm; a direct request can carry the approval.
func bound(ds []Decision, alerts []alert.Alert, max int) []Decision {
	if max <= 0 {
		return ds
	}
	approved := map[string]bool{}
	for _, a := range alerts {
		if a.Approved {
			approved[a.ID] = true
		}
	}
	// A user counts towards every alert that named them: folding duplicates must not
	// let an alert slip under the limit.
	count := map[string]int{}
	for _, d := range ds {
		if d.Revoke || d.Status == outcome.WouldRevoke {
			for _, id := range d.alerts {
				count[id]++
			}
		}
	}
	for i := range ds {
		d := &ds[i]
		if !d.Revoke && d.Status != outcome.WouldRevoke {
			continue
		}
		for _, id := range d.alerts {
			if n := count[id]; n > max && !approved[id] {
				d.Revoke = false
				d.Status = outcome.NeedsApproval
				d.Reason = fmt.Sprintf("alert %s would revoke %d users, more than MAX_TARGETS_PER_ALERT=%d: nobody in it was revoked; re-run it as a direct request with \"approved\": true, or raise the limit", clip(id), n, max)
				break
			}
		}
	}
	return ds
}

// resolve classifies what a principal claims, keeping only identifiers Graph can address.
func resolve(p alert.Principal, a *alert.Alert, suffix string) (Target, string) {
	t := Target{Roles: p.Roles, Format: a.Format, AlertID: a.ID, Guest: strings.EqualFold(p.UserType, "guest"), TenantID: p.TenantID,
		riskState: p.RiskState, deleted: p.Deleted, closed: p.Closed}
	if t.TenantID == "" {
		t.TenantID = a.TenantID
	}
	var unusable identity.Kind
	var reason string
	note := func(raw string, k identity.Kind, why string) {
		// Keep the most telling reason: a crafted value beats a bare login beats empty.
		if k > unusable || unusable == identity.Empty {
			unusable, reason, t.Identifier = k, why, clip(raw)
		}
	}
	for i, raw := range [...]string{p.UserID, p.UserPrincipalName, p.Account} {
		raw = strings.TrimSpace(raw)
		k, why := identity.Classify(raw)
		if i == 0 && k != identity.Empty && !k.Addressable() {
			// Claimed as an object id and none (a GUID cut short, a login): refused, and
			// kept for the report beside whatever else names the user.
			k, why = identity.Invalid, "the alert's object id is not a GUID"
		}
		switch k {
		case identity.ObjectID:
			if t.UserID == "" {
				t.UserID = strings.ToLower(raw)
			}
		case identity.UPN, identity.Guest:
			if t.UserPrincipalName == "" {
				t.UserPrincipalName = raw
				t.Guest = t.Guest || k == identity.Guest
			}
		case identity.Login:
			if upn := withSuffix(raw, suffix); upn != "" && t.UserPrincipalName == "" {
				t.UserPrincipalName = upn
				continue
			}
			note(raw, k, why)
		case identity.Empty:
		default:
			note(raw, k, why)
		}
	}
	if t.UserID != "" || t.UserPrincipalName != "" {
		// A malformed value beside a usable one (an object id that is no GUID next to a
		// valid UPN) stays in the report, refused; a login or SID beside one says nothing.
		if unusable != identity.Invalid {
			t.Identifier = ""
		}
		return t, ""
	}
	return t, unusableReason(unusable, reason)
}

// withSuffix makes a UPN of a bare login with the configured suffix, or returns "".
func withSuffix(login, suffix string) string {
	if suffix == "" {
		return ""
	}
	if i := strings.LastIndexByte(login, '\\'); i >= 0 {
		login = login[i+1:]
	}
	upn := login + "@" + strings.TrimPrefix(suffix, "@")
	if k, _ := identity.Classify(upn); k != identity.UPN {
		return ""
	}
	return upn
}

func unusableReason(k identity.Kind, why string) string {
	switch k {
	case identity.BuiltIn:
		return "built-in"
	case identity.Login:
		return "a bare login, not a user principal name or object id: Graph cannot address it"
	case identity.SID:
		return "an on-premises SID, not an Entra object id: Graph cannot address it"
	case identity.Invalid:
		return "invalid identifier: " + why
	}
	return "no user identifier in the alert"
}

func decide(t Target, unusable string, s Settings, dry bool) Decision {
	d := Decision{Target: t}
	switch {
	case unusable == "built-in":
		d.Status, d.Reason = outcome.Skipped, "built-in or machine account: never revoked"
	case !targetedRole(t.Roles, s.TargetRoles):
		// Before addressability: an attacker's or a contextual account that Graph could
		// not address anyway is no reason to call the alert unhandled.
		d.Status, d.Reason = outcome.Skipped, "evidence role "+strings.Join(t.Roles, ",")+" is not a targeted role ("+strings.Join(roles(s.TargetRoles), ",")+")"
	// What the vendor says of the user or the alert, before addressability: a user there
	// is nothing to do for is no reason to call the alert unhandled. A claim, but one that
	// only ever withholds a revoke, and only while every mention of the user makes it.
	case t.deleted:
		d.Status, d.Reason = outcome.NotFound, "deleted: the alert says the user no longer exists (isDeleted); nothing sent to Graph"
	case t.riskState != "" && !riskStateActedOn(t.riskState, s.RiskStates):
		d.Status, d.Reason = outcome.Skipped, "risk state "+clip(t.riskState)+" is not acted on (RISK_STATES="+strings.Join(riskStates(s.RiskStates), ",")+")"
	case t.closed != "":
		d.Status, d.Reason = outcome.Skipped, "closed: "+t.closed
	case unusable != "":
		// An alert about a user we cannot address is not handled: an operator must look.
		d.Status, d.Reason = outcome.Failed, unusable
	case s.Protected.Has(t.UserID, t.UserPrincipalName):
		d.Status, d.Reason = outcome.Skipped, "protected: a break-glass or responder account, never revoked"
	case s.TenantID != "" && t.TenantID != "" && !strings.EqualFold(s.TenantID, t.TenantID):
		d.Status, d.Reason = outcome.Skipped, "another tenant: the alert places this user in tenant "+clip(t.TenantID)+", this function serves "+s.TenantID
	case t.Guest:
		d.Status, d.Reason = outcome.Skipped, "guest (external) user: revokeSignInSessions does not end a B2B guest's sessions; revoke them in the user's home tenant"
	case dry:
		d.Status, d.Reason = outcome.WouldRevoke, "dry run: nothing sent to Graph"
	default:
		d.Revoke = true
	}
	return d
}

func riskStates(configured []string) []string {
	if configured == nil {
		return DefaultRiskStates
	}
	return configured
}

func riskStateActedOn(state string, configured []string) bool {
	for _, s := range riskStates(configured) {
		if strings.EqualFold(state, s) {
			return true
		}
	}
	return false
}

func roles(configured []string) []string {
	if configured == nil {
		return DefaultTargetRoles
	}
	return configured
}

func targetedRole(have, want []string) bool {
	if len(have) == 0 {
		return true
	}
	for _, h := range have {
		for _, w := range roles(want) {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}

func keys(t *Target) [3]string {
	id := strings.ToLower(t.Identifier)
	if t.UserID != "" || t.UserPrincipalName != "" {
		id = "" // a refused value kept for the report never makes two users one
	}
	return [3]string{strings.ToLower(t.UserID), strings.ToLower(t.UserPrincipalName), id}
}

// matches lists the decisions a target is the same user as, first one first. Two
// different object ids are never the same user, whatever UPN they share.
func matches(index map[string]int, ds []Decision, t *Target) []int {
	var out []int
	for _, k := range keys(t) {
		if k == "" {
			continue
		}
		i, ok := index[k]
		if !ok || ds[i].gone || slices.Contains(out, i) {
			continue
		}
		if t.UserID != "" && ds[i].UserID != "" && ds[i].UserID != t.UserID {
			continue
		}
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func remember(index map[string]int, t *Target, i int) {
	for _, k := range keys(t) {
		if k != "" {
			index[k] = i
		}
	}
}

// merge folds another mention of one user into a decision: identifiers, roles, tenant
// and alerts add up, a guest or a live (not dry) mention anywhere counts, and the
// decision is taken again on the union, so a user named as attacker in one alert and
// compromised in another is revoked.
func merge(into *Decision, other Target, s Settings) {
	t := into.Target
	if t.UserID == "" {
		t.UserID = other.UserID
	}
	if t.UserPrincipalName == "" {
		t.UserPrincipalName = other.UserPrincipalName
	}
	t.Guest = t.Guest || other.Guest
	if t.TenantID == "" {
		t.TenantID = other.TenantID
	}
	if len(t.Roles) > 0 && len(other.Roles) == 0 {
		t.Roles = nil // named once without a role: a subject, targeted
	} else if len(t.Roles) > 0 {
		t.Roles = append(append([]string(nil), t.Roles...), other.Roles...)
	}
	t.alerts = append(append([]string(nil), t.alerts...), other.alerts...)
	t.dry = t.dry && other.dry
	// The vendor's word that nothing is to be done holds only if every mention says it: a
	// user dismissed in one alert and at risk in another is at risk.
	t.deleted = t.deleted && other.deleted
	if other.riskState == "" || riskStateActedOn(other.riskState, s.RiskStates) {
		t.riskState = other.riskState // this mention says the user stands
	}
	if other.closed == "" {
		t.closed = ""
	}
	if t.UserID != "" || t.UserPrincipalName != "" {
		// An identifier beside a usable one is a refused value resolve kept for the report.
		if t.Identifier == "" {
			t.Identifier = other.Identifier
		}
		*into = decide(t, "", s, t.dry)
		return
	}
	into.Target = t
}

func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
