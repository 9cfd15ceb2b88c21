package alert

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Microsoft Graph security alert (v2): GET /security/alerts_v2, or the same object relayed
// by a Defender/Sentinel automation. Users are the userEvidence items of evidence[].
// https://learn.microsoft.com/graph/api/resources/security-alert
// https://learn.microsoft.com/graph/api/security-alert-get (the sample alert)
//
// Collectors that store alerts drop the "@odata.type" annotation: Sumo Logic's Microsoft
// Graph Security source keeps the alert object without it (its published "Sample Alert
// Log" for the Microsoft Graph Security V2 app). Such an alert is recognised by the
// members the resource always has: id, status, severity, createdDateTime, a
// serviceSource or detectionSource, and an evidence list. No other format here has an
// evidence list beside a serviceSource.
//
// Acted on: status new and inProgress. An alert the SOC resolved, or classified a false
// positive or expected activity (informationalExpectedActivity), names its users as
// closed: they are skipped with that reason.

const graphAlertType = "#microsoft.graph.security.alert"

type graphAlert struct {
	ID, ProviderAlertID       string
	Title, Severity, TenantID string
	Closed                    string // why the alert needs no action, "" while open
	Evidence                  []graphEvidence
}

// isGraphAlertShape: a security alert without its "@odata.type", by its required members.
func isGraphAlertShape(t delivery.Object) bool {
	return t.IsArray("evidence") && (t.Has("serviceSource") || t.Has("detectionSource")) &&
		t.Has("id") && t.Has("status") && t.Has("severity") && t.Has("createdDateTime")
}

// graphClosed says why an alert or incident in this status and classification needs no
// action, "" when it does. Graph writes the enums camelCase (resolved, falsePositive); the
// legacy incident resource wrote them PascalCase (Resolved, FalsePositive).
func graphClosed(what, status, classification string) string {
	switch {
	case strings.EqualFold(status, "resolved"):
		return what + " is resolved (status resolved)"
	case strings.EqualFold(status, "redirected"):
		return what + " was merged into another incident (status redirected): that incident carries its users"
	}
	for _, c := range [...]string{"falsePositive", "informationalExpectedActivity"} {
		if strings.EqualFold(classification, c) {
			return what + " is classified " + c + ": no threat to respond to"
		}
	}
	return ""
}

func readGraphAlert(top delivery.Object, a *graphAlert) error {
	a.ID, a.ProviderAlertID = top.String("id"), top.String("providerAlertId")
	a.Title, a.Severity, a.TenantID = top.String("title"), top.String("severity"), top.String("tenantId")
	a.Closed = graphClosed("the alert", top.String("status"), top.String("classification"))
	var m members
	m.each(top, "evidence", func(_ int, item delivery.Object) {
		e := graphEvidence{Type: m.str(item, "@odata.type"), Roles: m.strs(item, "roles")}
		if acct := m.object(item, "userAccount"); acct != nil {
			m.path = "userAccount."
			e.UserAccount = &graphUserAccount{
				AzureADUserID: m.str(acct, "azureAdUserId"), UserPrincipalName: m.str(acct, "userPrincipalName"),
				AccountName: m.str(acct, "accountName"), DomainName: m.str(acct, "domainName"), UserSID: m.str(acct, "userSid"),
			}
			m.path = ""
		}
		a.Evidence = append(a.Evidence, e)
	})
	if m.err != nil {
		return fmt.Errorf("graph-security-alert: %w", m.err)
	}
	return nil
}

// graphEvidence is one evidence item; only user evidence names a user.
type graphEvidence struct {
	Type        string // @odata.type
	Roles       []string
	UserAccount *graphUserAccount
}

type graphUserAccount struct {
	AzureADUserID, UserPrincipalName string
	AccountName, DomainName, UserSID string // on-premises accounts
}

func init() {
	register(Format{
		Name: "graph-security-alert",
		Match: func(d *Document) bool {
			t := d.odataType()
			return strings.EqualFold(t, graphAlertType) || (t == "" && isGraphAlertShape(d.Top))
		},
		Extract: func(d *Document) ([]Alert, error) {
			var a graphAlert
			if err := readGraphAlert(d.Top, &a); err != nil {
				return nil, err
			}
			return []Alert{a.alert()}, nil
		},
	})
}

func (a *graphAlert) alert() Alert {
	out := Alert{Format: "graph-security-alert", ID: a.ID, Title: a.Title, Severity: a.Severity, TenantID: a.TenantID}
	for _, e := range a.Evidence {
		if !strings.EqualFold(e.Type, "#microsoft.graph.security.userEvidence") || e.UserAccount == nil {
			continue
		}
		u := e.UserAccount
		p := Principal{UserID: u.AzureADUserID, UserPrincipalName: u.UserPrincipalName, TenantID: a.TenantID, Roles: e.Roles, Closed: a.Closed}
		if p.UserID == "" && p.UserPrincipalName == "" {
			// Defender for Identity names on-premises users by SAM account and SID only;
			// keep what there is so the report can say why it cannot be revoked.
			p.Account = u.AccountName
			if u.DomainName != "" && u.AccountName != "" {
				p.Account = u.DomainName + `\` + u.AccountName
			}
			if p.Account == "" {
				p.Account = u.UserSID
			}
		}
		out.Principals = append(out.Principals, p)
	}
	if out.ID == "" {
		out.ID = a.ProviderAlertID
	}
	return out
}
