package alert

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Microsoft Graph security alert (v2): GET /security/alerts_v2, or the same object relayed
// by a Defender/Sentinel automation. Users are the userEvidence items of evidence[].
// https://learn.microsoft.com/graph/api/resources/security-alert

const graphAlertType = "#microsoft.graph.security.alert"

type graphAlert struct {
	ID              string          `json:"id"`
	ProviderAlertID string          `json:"providerAlertId"`
	Title           string          `json:"title"`
	Severity        string          `json:"severity"`
	TenantID        string          `json:"tenantId"`
	Evidence        []graphEvidence `json:"evidence"`
}

// readGraphAlert takes the scalar fields from the scanned top level and decodes only the
// evidence: an alert is mostly descriptions and URLs nobody here reads, and decoding them
// with reflection would double the time per alert.
func readGraphAlert(top delivery.Object, a *graphAlert) error {
	a.ID, a.ProviderAlertID = top.String("id"), top.String("providerAlertId")
	a.Title, a.Severity, a.TenantID = top.String("title"), top.String("severity"), top.String("tenantId")
	ev := top.Get("evidence")
	if len(ev) == 0 || string(ev) == "null" {
		return nil
	}
	if err := json.Unmarshal(ev, &a.Evidence); err != nil {
		return fmt.Errorf("graph-security-alert: \"evidence\": %w", describe(err))
	}
	return nil
}

type graphEvidence struct {
	Type        string   `json:"@odata.type"`
	Roles       []string `json:"roles"`
	UserAccount *struct {
		AzureADUserID     string `json:"azureAdUserId"`
		UserPrincipalName string `json:"userPrincipalName"`
		AccountName       string `json:"accountName"`
		DomainName        string `json:"domainName"`
		UserSID           string `json:"userSid"`
	} `json:"userAccount"`
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
