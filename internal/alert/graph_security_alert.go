package alert

import (
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Microsoft Graph security alert (v2): GET /security/alerts_v2, or the same object relayed
// by a Defender/Sentinel automation. Users are the userEvidence items of evidence[].
// https://learn.microsoft.com/graph/api/resources/security-alert

const graphAlertType = "#microsoft.graph.security.alert"

type graphAlert struct {
	ID, ProviderAlertID       string
	Title, Severity, TenantID string
	Evidence                  []graphEvidence
}

// readGraphAlert takes the scalar fields from the scanned top level and reads only the
// evidence: an alert is mostly descriptions and URLs nobody here reads, and decoding them
// with json.Unmarshal would validate them again and double the time per alert.
func readGraphAlert(top delivery.Object, a *graphAlert) error {
	a.ID, a.ProviderAlertID = top.String("id"), top.String("providerAlertId")
	a.Title, a.Severity, a.TenantID = top.String("title"), top.String("severity"), top.String("tenantId")
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
		Name:  "graph-security-alert",
		Match: func(d *Document) bool { return strings.EqualFold(d.odataType(), graphAlertType) },
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
		p := Principal{UserID: u.AzureADUserID, UserPrincipalName: u.UserPrincipalName, TenantID: a.TenantID, Roles: e.Roles}
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
