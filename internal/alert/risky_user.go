package alert

import "strings"

// Entra ID Protection risky user: GET /identityProtection/riskyUsers. The object's id is
// the user's own object id.
// https://learn.microsoft.com/graph/api/resources/riskyuser

type riskyUser struct {
	ID                      string `json:"id"`
	UserPrincipalName       string `json:"userPrincipalName"`
	RiskLevel               string `json:"riskLevel"`
	RiskState               string `json:"riskState"`
	RiskDetail              string `json:"riskDetail"`
	RiskLastUpdatedDateTime string `json:"riskLastUpdatedDateTime"`
}

func init() {
	register(Format{
		Name: "entra-risky-user",
		Match: func(d *Document) bool {
			t := d.odataType()
			return strings.EqualFold(t, "#microsoft.graph.riskyUser") ||
				(t == "" && d.Top.Has("riskState") && !d.Top.Has("riskEventType"))
		},
		Extract: func(d *Document) ([]Alert, error) {
			var r riskyUser
			if err := d.decode("entra-risky-user", &r); err != nil {
				return nil, err
			}
			// The user id alone would make every alert about one user look like a
			// redelivery of the first; the risk's timestamp tells them apart.
			id := r.ID
			if r.RiskLastUpdatedDateTime != "" {
				id += "@" + r.RiskLastUpdatedDateTime
			}
			return []Alert{{
				Format:     "entra-risky-user",
				ID:         id,
				Title:      "risky user: " + r.RiskState,
				Severity:   r.RiskLevel,
				Principals: []Principal{{UserID: r.ID, UserPrincipalName: r.UserPrincipalName}},
			}}, nil
		},
	})
}
