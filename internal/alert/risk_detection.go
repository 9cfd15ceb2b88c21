package alert

import "strings"

// Entra ID Protection risk detection: GET /identityProtection/riskDetections, one risk
// event (impossibleTravel, anomalousToken, ...) for one user.
// https://learn.microsoft.com/graph/api/resources/riskdetection
// userDisplayName is a display name even where a doc page calls it a UPN: never used.
//
// The detection's riskState (atRisk, confirmedCompromised, remediated, dismissed,
// confirmedSafe, none) goes with the user: policy acts only on the states RISK_STATES
// lists (by default atRisk and confirmedCompromised), so a detection an admin dismissed or
// a user already remediated revokes nobody.

type riskDetection struct {
	ID                string `json:"id"`
	RiskEventType     string `json:"riskEventType"`
	RiskLevel         string `json:"riskLevel"`
	RiskState         string `json:"riskState"`
	UserID            string `json:"userId"`
	UserPrincipalName string `json:"userPrincipalName"`
}

func init() {
	register(Format{
		Name: "entra-risk-detection",
		Match: func(d *Document) bool {
			t := d.odataType()
			return strings.EqualFold(t, "#microsoft.graph.riskDetection") || (t == "" && d.Top.Has("riskEventType"))
		},
		Extract: func(d *Document) ([]Alert, error) {
			var r riskDetection
			if err := d.decode("entra-risk-detection", &r); err != nil {
				return nil, err
			}
			return []Alert{{
				Format:     "entra-risk-detection",
				ID:         r.ID,
				Title:      r.RiskEventType,
				Severity:   r.RiskLevel,
				Principals: []Principal{{UserID: r.UserID, UserPrincipalName: r.UserPrincipalName, RiskState: r.RiskState}},
			}}, nil
		},
	})
}
