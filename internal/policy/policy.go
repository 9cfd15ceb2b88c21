// Package policy turns the users an alert names into decisions: who is revoked, who is
// skipped and why, who cannot be addressed at all. It is pure: no I/O, no clock, so every
// rule is testable from a table and the same decisions are shown by `make extract`.
//
// It decides twice. Decide reads what the alert claims and keeps the candidates (anyone it
// could be right to revoke); Judge then decides each candidate on what Graph said about the
// identifier that will actually be sent. A safety decision (protected, guest, tenant) never
// rests on what the alert says about a user: an alert may pair one user's object id with
// another's UPN, name a renamed account, or be written by whoever can reach a queue.
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
	// TenantID is the tenant this function serves. An alert's claim that a user is in
	// another tenant is reported; whether the user is ours is Graph's answer.
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
	// UserID is a validated object id, lowercase: the alert's claim until Judge replaces
	// it with Graph's.
	UserID string
	// UserPrincipalName is a validated UPN: as the alert spelled it until Judge replaces
	// it with Graph's.
	UserPrincipalName string
	Identifier        string // the alert's value when neither could be had, clipped
	Roles             []string
	Format            string // of the first alert that named the user
	AlertID           string

	// Claims the alert made that Judge checks against Graph, for the report.
	ClaimedGuest  bool
	ClaimedTenant string
	// Listed: the identifiers come from a Graph listing (a sweep), not from an alert, and
	// UserType with them; a lookup would tell nothing new.
	Listed   bool
	UserType string

	// DryRun: every alert that named the user asked for a dry run (or DRY_RUN is set).
	DryRun bool
	// Approved: an operator approved every alert that named the user (a direct request's
	// "approved": true, on a channel that may carry it). It lifts MAX_TARGETS_PER_ALERT
	// and the revoke budget's limits, not any other guardrail.
	Approved bool

	alerts []string // every alert of the delivery that named the user, for the blast radius

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

// Alerts lists every alert of the delivery that named the user.
func (t *Target) Alerts() []string { return t.alerts }

// Decision is what will be done for one target.
type Decision struct {
	Target
	// Revoke: a candidate. Graph is asked about the user, Judge decides on the answer, and
	// only then is the revoke sent (or reported would-revoke in a dry run). When false,
	// Status and Reason are final.
	Revoke bool
	Status outcome.Status
	Reason string
}

// Decide resolves, deduplicates and judges every principal of every alert on what the
// alerts claim. Mentions are merged only when they name the same identifier (one object
// id, or one UPN, in any case): a claimed pairing of an object id with a UPN is checked by
// Judge, never trusted to merge two mentions. It runs in time linear in the mentions.
func Decide(alerts []alert.Alert, s Settings) []Decision {
	var ds []Decision
	index := make(map[string]int) // group key -> position in ds
	memo := classifier{}
	for ai := range alerts {
		a := &alerts[ai]
		for _, p := range a.Principals {
			t, unusable := resolve(p, a, s.DefaultUPNSuffix, memo)
			t.DryRun, t.Approved = s.DryRun || a.DryRun, a.Approved
			if a.Listed {
				t.Listed, t.UserType = true, p.UserType
			}
			key := groupKey(&t)
			if i, ok := index[key]; ok {
				merge(&ds[i], t, unusable, s)
				continue
			}
			t.alerts = []string{a.ID}
			index[key] = len(ds)
			ds = append(ds, decide(t, unusable, s))
		}
	}
	return Bound(ds, s.MaxTargetsPerAlert, 2)
}

// groupKey is the identifier a mention will be addressed by, so that two mentions meet
// only when Graph would be asked about the same thing.
// An object id (a lowercase GUID) and a UPN (which holds an '@') can never be equal, so
// they are keys as they are; only unaddressable values, which could be either shape,
// get a prefix.
func groupKey(t *Target) string {
	switch {
	case t.UserID != "":
		return t.UserID
	case t.UserPrincipalName != "":
		return strings.ToLower(t.UserPrincipalName)
	}
	return "raw:" + strings.ToLower(t.Identifier)
}

// Bound holds back every revoke of an alert that names more users to revoke than the
// operator allows: a false positive naming half the tenant must not run unattended. It is
// the automated form of the cmdlet's -Confirm; an approved alert is exempt.
//
// Decide applies it to the alert's identifiers with slack 2 (one user may be named once
// by object id and once by UPN, which only Graph can tell are one), so that an alert far
// over the limit costs no lookups; the revoke runner applies it again with slack 1 once
// Graph has resolved every identifier to one object id.
func Bound(ds []Decision, max, slack int) []Decision {
	if max <= 0 {
		return ds
	}
	count := map[string]int{} // alert id -> candidates it names
	for i := range ds {
		if ds[i].Revoke || ds[i].Status == outcome.WouldRevoke {
			for _, id := range ds[i].alerts {
				count[id]++
			}
		}
	}
	for i := range ds {
		d := &ds[i]
		if (!d.Revoke && d.Status != outcome.WouldRevoke) || d.Approved {
			continue
		}
		for _, id := range d.alerts {
			if n := count[id]; n > max*slack {
				d.Revoke = false
				d.Status = outcome.NeedsApproval
				d.Reason = fmt.Sprintf("alert %s would revoke %s, more than MAX_TARGETS_PER_ALERT=%d: nobody in it was revoked; re-run it as a direct request with \"approved\": true, or raise the limit", clip(id), users(n, slack), max)
				break
			}
		}
	}
	return ds
}

func users(n, slack int) string {
	if slack > 1 {
		return fmt.Sprintf("at least %d users (%d identifiers, at most %d per user)", (n+slack-1)/slack, n, slack)
	}
	return fmt.Sprintf("%d users", n)
}

// classifier remembers identity.Classify's answers within one Decide: a payload naming one
// user a hundred thousand times classifies the name once.
type classifier map[string]classified

type classified struct {
	kind identity.Kind
	why  string
}

func (c classifier) classify(raw string) (identity.Kind, string) {
	if raw == "" {
		return identity.Empty, ""
	}
	if v, ok := c[raw]; ok {
		return v.kind, v.why
	}
	k, why := identity.Classify(raw)
	if len(c) < maxMemo {
		c[raw] = classified{k, why}
	}
	return k, why
}

// maxMemo bounds the memo: past it, identifiers are classified each time.
const maxMemo = 1 << 16

// resolve classifies what a principal claims, keeping only identifiers Graph can address.
func resolve(p alert.Principal, a *alert.Alert, suffix string, memo classifier) (Target, string) {
	t := Target{Roles: p.Roles, Format: a.Format, AlertID: a.ID, ClaimedTenant: p.TenantID,
		riskState: p.RiskState, deleted: p.Deleted, closed: p.Closed}
	if t.ClaimedTenant == "" {
		t.ClaimedTenant = a.TenantID
	}
	t.ClaimedGuest = strings.EqualFold(p.UserType, "guest")
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
		k, why := memo.classify(raw)
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
				t.ClaimedGuest = t.ClaimedGuest || k == identity.Guest
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

// decide takes the decision the alert alone allows. Protected accounts, guests and
// tenants are left to Judge: they are facts about a user, which only Graph has.
func decide(t Target, unusable string, s Settings) Decision {
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
	case identity.IsGuestUPN(t.UserPrincipalName) && t.UserID == "":
		// The identifier that would be sent is itself a B2B guest's: a fact, not a claim.
		d.Status, d.Reason = outcome.Skipped, guestReason
	default:
		d.Revoke = true
	}
	return d
}

const guestReason = "guest (external) user: revokeSignInSessions does not end a B2B guest's sessions; revoke them in the user's home tenant"

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

// maxRoles bounds the roles kept for one user: a payload repeating one user with roles
// must not grow a list per mention.
const maxRoles = 16

// merge folds another mention of the same identifier into a decision: roles, claims and
// alerts add up, a live (not dry) or unapproved mention anywhere counts, and the decision
// is taken again on the union, so a user named as attacker in one alert and compromised
// in another is revoked. Each step is constant time in the number of mentions.
func merge(into *Decision, other Target, unusable string, s Settings) {
	t := into.Target
	changed := false
	if t.UserPrincipalName == "" && other.UserPrincipalName != "" {
		t.UserPrincipalName, changed = other.UserPrincipalName, true
	}
	t.ClaimedGuest = t.ClaimedGuest || other.ClaimedGuest
	if t.ClaimedTenant == "" {
		t.ClaimedTenant = other.ClaimedTenant
	}
	switch {
	case len(t.Roles) == 0:
		// Named once without a role: a subject, targeted, whatever else is said.
	case len(other.Roles) == 0:
		t.Roles, changed = nil, true
	default:
		for _, r := range other.Roles {
			if len(t.Roles) < maxRoles && !slices.ContainsFunc(t.Roles, func(h string) bool { return strings.EqualFold(h, r) }) {
				t.Roles, changed = append(slices.Clip(t.Roles), r), true
			}
		}
	}
	if id := other.AlertID; t.alerts[len(t.alerts)-1] != id && !slices.Contains(t.alerts, id) {
		// Mentions come alert by alert, so a repeat is almost always the last one seen;
		// the scan is bounded by the alerts of the delivery, not the mentions.
		t.alerts = append(t.alerts, id)
	}
	t.DryRun = t.DryRun && other.DryRun
	t.Approved = t.Approved && other.Approved
	// The vendor's word that nothing is to be done holds only if every mention says it: a
	// user dismissed in one alert and at risk in another is at risk.
	if t.deleted && !other.deleted {
		t.deleted, changed = false, true
	}
	if t.riskState != other.riskState && (other.riskState == "" || riskStateActedOn(other.riskState, s.RiskStates)) {
		t.riskState, changed = other.riskState, true // this mention says the user stands
	}
	if t.closed != "" && other.closed == "" {
		t.closed, changed = "", true
	}
	if t.Identifier == "" && other.Identifier != "" {
		t.Identifier = other.Identifier // a refused value resolve kept for the report
	}
	if !changed {
		// The decision rests on identifiers and roles only, and neither changed.
		into.Target = t
		return
	}
	// Mentions of one group share their identifier, so its addressability too.
	*into = decide(t, unusable, s)
}

func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
