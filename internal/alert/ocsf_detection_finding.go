package alert

import (
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/identity"
)

// OCSF Detection Finding (class_uid 2004): a product's alert in the Open Cybersecurity
// Schema Framework, bare or relayed (Security Lake subscribers, OCSF exports). Security
// Hub's "Findings Imported V2" carries the same findings; see securityhub_v2.go.
// https://schema.ocsf.io/classes/detection_finding
//
// Users sit in evidences[].actor.user, evidences[].user and, with the host profile, a
// top-level actor.user (and user). OCSF defines an evidence's actor as "the source of the
// activity that triggered the detection" and its user as "the user that was the target":
// the target is the victim ("attacked"), the actor side is reported as "attacker", which
// the default policy does not revoke. An operator who wants actor accounts revoked too
// (often the stolen account the attacker acted as: AWS calls actor.user "the credentials
// used by the threat actor") adds attacker to TARGET_ROLES; the alert only says who stood
// where.
//
// When the finding names no target user at all, its actor users are the only accounts in
// it, and the account whose credentials the detected activity ran under is the one to
// contain: they are reported "compromised", as Elastic's user.* is the subject when no
// user.target exists. A credential dump run under LeeG's account names LeeG.
//
// Acted on: status_id 1 New, 2 In Progress, 0 Unknown and 99 Other. A finding in status 3
// Suppressed, 4 Resolved, 5 Archived or 6 Deleted names its users as closed.

const ocsfDetectionFinding = "ocsf-detection-finding"

func init() {
	register(Format{
		Name:  ocsfDetectionFinding,
		Match: func(d *Document) bool { return string(d.Top.Get("class_uid")) == "2004" },
		Extract: func(d *Document) ([]Alert, error) {
			a, err := readOCSFDetectionFinding(ocsfDetectionFinding, d.Top)
			if err != nil {
				return nil, err
			}
			return []Alert{a}, nil
		},
	})
}

// ocsfUser is OCSF's User object. None of its fields is a UPN or an Entra id by
// definition: uid is "the Windows user SID, ActiveDirectory DN or AWS user ARN" as often as
// an object id, name is a login, and email_addr may differ from the UPN.
type ocsfUser struct {
	UID    string `json:"uid"`
	UIDAlt string `json:"uid_alt"`
	Name   string `json:"name"`
	Email  string `json:"email_addr"`
	Domain string `json:"domain"`
}

type ocsfActor struct {
	User *ocsfUser `json:"user"`
}

type ocsfEvidence struct {
	Actor *ocsfActor `json:"actor"`
	User  *ocsfUser  `json:"user"`
}

type ocsfMetadata struct {
	UID, TenantUID             string
	ProductName, ProductVendor string
}

// ocsfEvent is what is read of an OCSF finding or event. Scalars are read in place; only
// the user-bearing members are decoded: findings also carry raw_data, unmapped, resources
// and attacks, often larger than all of this.
type ocsfEvent struct {
	Metadata                 ocsfMetadata
	FindingUID, FindingTitle string
	Evidences                []ocsfEvidence
	Actor                    *ocsfActor
	User                     *ocsfUser
}

func readOCSF(format string, top delivery.Object, e *ocsfEvent) error {
	meta, err := topObject(format, top, "metadata")
	if err != nil {
		return err
	}
	product, err := topObject(format, meta, "product")
	if err != nil {
		return err
	}
	info, err := topObject(format, top, "finding_info")
	if err != nil {
		return err
	}
	e.Metadata = ocsfMetadata{UID: meta.String("uid"), TenantUID: meta.String("tenant_uid"), ProductName: product.String("name"), ProductVendor: product.String("vendor_name")}
	e.FindingUID, e.FindingTitle = info.String("uid"), info.String("title")
	for _, m := range [...]struct {
		key string
		v   any
	}{{"evidences", &e.Evidences}, {"actor", &e.Actor}, {"user", &e.User}} {
		if err := decodeTopMember(format, top, m.key, m.v); err != nil {
			return err
		}
	}
	return nil
}

func readOCSFDetectionFinding(format string, top delivery.Object) (Alert, error) {
	var e ocsfEvent
	if err := readOCSF(format, top, &e); err != nil {
		return Alert{}, err
	}
	a := Alert{Format: format, ID: firstPresent(e.FindingUID, e.Metadata.UID), Title: e.FindingTitle, Severity: ocsfSeverity(top)}
	entra := e.Metadata.fromEntra()
	if entra {
		a.TenantID = e.Metadata.TenantUID
	}
	closed := ocsfClosed(top)
	add := func(u *ocsfUser, role string) {
		if p, ok := u.principal(entra, a.TenantID, role); ok {
			p.Closed = closed
			a.Principals = append(a.Principals, p)
		}
	}
	actorRole := "compromised" // unless a target user stands beside the actors
	for _, u := range append([]*ocsfUser{e.User}, evidenceUsers(e.Evidences)...) {
		if _, ok := u.principal(entra, a.TenantID, ""); ok {
			actorRole = "attacker"
		}
	}
	for _, ev := range e.Evidences {
		if ev.Actor != nil {
			add(ev.Actor.User, actorRole)
		}
		add(ev.User, "attacked")
	}
	if e.Actor != nil {
		add(e.Actor.User, actorRole)
	}
	add(e.User, "attacked")
	return a, nil
}

// evidenceUsers are the evidences' target users.
func evidenceUsers(evs []ocsfEvidence) []*ocsfUser {
	var us []*ocsfUser
	for _, ev := range evs {
		us = append(us, ev.User)
	}
	return us
}

// ocsfClosed says why a finding in a closed status needs no action, "" when it is open.
func ocsfClosed(top delivery.Object) string {
	switch id := string(top.Get("status_id")); id {
	case "3", "4", "5", "6":
		status := top.String("status")
		if status == "" {
			status = map[string]string{"3": "Suppressed", "4": "Resolved", "5": "Archived", "6": "Deleted"}[id]
		}
		return "the finding is closed: status " + clip(status) + " (status_id " + id + ")"
	}
	return ""
}

// fromEntra reports whether Microsoft Entra ID produced the finding, the one case where a
// GUID uid is the user's Entra object id rather than an on-premises objectGUID or another
// system's key.
func (m *ocsfMetadata) fromEntra() bool {
	if !strings.Contains(strings.ToLower(m.ProductVendor), "microsoft") {
		return false
	}
	p := strings.ToLower(m.ProductName)
	return strings.Contains(p, "entra") || strings.Contains(p, "azure ad") || strings.Contains(p, "azure active directory")
}

// principal says what the user object claims. From Entra, a GUID uid (or uid_alt) is the
// object id and a name with '@' the UPN. Otherwise, or when those are missing, one value
// goes in Account to be classified by shape: an address-like name or email first (what
// Graph can address), then the login as DOMAIN\name (policy can complete it with a
// configured UPN suffix), then uid and uid_alt. A GUID uid from another product is more
// likely an on-premises objectGUID than an Entra id, so it comes after the login.
func (u *ocsfUser) principal(entra bool, tenantID, role string) (Principal, bool) {
	if u == nil {
		return Principal{}, false
	}
	p := Principal{Roles: []string{role}}
	if entra {
		p.TenantID = tenantID
		switch {
		case identity.IsObjectID(u.UID):
			p.UserID = u.UID
		case identity.IsObjectID(u.UIDAlt):
			p.UserID = u.UIDAlt
		}
		if strings.IndexByte(u.Name, '@') > 0 {
			p.UserPrincipalName = u.Name
		}
	}
	if p.UserID == "" && p.UserPrincipalName == "" {
		p.Account = firstAddressLike(u.Name, u.Email)
		if p.Account == "" {
			p.Account = firstPresent(qualifiedLogin(u.Domain, u.Name), u.UID, u.UIDAlt)
		}
	}
	return p, p.UserID != "" || p.UserPrincipalName != "" || p.Account != ""
}

// ocsfSeverity is the severity caption, or the caption of severity_id when only the id
// is given.
func ocsfSeverity(top delivery.Object) string {
	if s := top.String("severity"); s != "" {
		return s
	}
	switch string(top.Get("severity_id")) {
	case "1":
		return "Informational"
	case "2":
		return "Low"
	case "3":
		return "Medium"
	case "4":
		return "High"
	case "5":
		return "Critical"
	case "6":
		return "Fatal"
	}
	return ""
}

// The helpers below serve every SIEM format whose users have no dedicated UPN or
// object-id field (OCSF, Okta, Datadog, Sumo Logic, Chronicle, CrowdStrike).
