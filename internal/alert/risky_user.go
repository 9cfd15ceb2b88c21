package alert

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Entra ID Protection risky user: GET /identityProtection/riskyUsers. The object's id is
// the user's own object id.
// https://learn.microsoft.com/graph/api/resources/riskyuser
// https://learn.microsoft.com/graph/api/riskyusers-list (beta sample: isGuest, isDeleted)
//
// What Entra says about the user goes with them, for policy to decide on: riskState (only
// the states RISK_STATES lists are acted on, by default atRisk and confirmedCompromised:
// a risk an admin dismissed or confirmed safe, or one remediated, revokes nobody);
// isDeleted (the user is gone: not-found, nothing sent); and the beta resource's isGuest
// (a guest, whose sessions this API does not end). Microsoft's beta sample writes both
// flags as strings ("true"), so a string is read as the boolean it spells.
//
// A riskyUserHistoryItem (GET .../riskyUsers/{id}/history) has the same members and the
// user's id in userId, its own id being the history item's: userId is preferred.

type riskyUser struct {
	ID                      string   `json:"id"`
	UserID                  string   `json:"userId"`
	UserPrincipalName       string   `json:"userPrincipalName"`
	RiskLevel               string   `json:"riskLevel"`
	RiskState               string   `json:"riskState"`
	RiskDetail              string   `json:"riskDetail"`
	RiskLastUpdatedDateTime string   `json:"riskLastUpdatedDateTime"`
	IsDeleted               jsonFlag `json:"isDeleted"`
	IsGuest                 jsonFlag `json:"isGuest"`
}

// jsonFlag is a boolean written as JSON true/false or as the string "true"/"false".
type jsonFlag bool

func (f *jsonFlag) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	switch {
	case s == "null" || s == "":
		return nil
	case strings.EqualFold(s, "true"):
		*f = true
	case strings.EqualFold(s, "false"):
		*f = false
	default:
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf(true)}
	}
	return nil
}

func init() {
	register(Format{
		Name: "entra-risky-user",
		Match: func(d *Document) bool {
			t := d.odataType()
			return strings.EqualFold(t, "#microsoft.graph.riskyUser") || strings.EqualFold(t, "#microsoft.graph.riskyUserHistoryItem") ||
				(t == "" && d.Top.Has("riskState") && !d.Top.Has("riskEventType"))
		},
		Extract: func(d *Document) ([]Alert, error) {
			var r riskyUser
			if err := d.decode("entra-risky-user", &r); err != nil {
				return nil, err
			}
			user := firstPresent(r.UserID, r.ID)
			// The user id alone would make every alert about one user look like a
			// redelivery of the first; the risk's timestamp tells them apart.
			id := user
			if r.RiskLastUpdatedDateTime != "" {
				id += "@" + r.RiskLastUpdatedDateTime
			}
			p := Principal{UserID: user, UserPrincipalName: r.UserPrincipalName, RiskState: r.RiskState, Deleted: bool(r.IsDeleted)}
			if r.IsGuest {
				p.UserType = "Guest"
			}
			return []Alert{{
				Format:     "entra-risky-user",
				ID:         id,
				Title:      fmt.Sprintf("risky user: %s", r.RiskState),
				Severity:   r.RiskLevel,
				Principals: []Principal{p},
			}}, nil
		},
	})
}
