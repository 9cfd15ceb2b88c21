package alert

import "github.com/session-revoker/session-revoker/internal/delivery"

// OCSF Authentication (class_uid 3002): one logon, logoff or ticket event, sent here
// because a rule flagged it (a sign-in from a blocked country, a ticket for a honeytoken).
// https://schema.ocsf.io/classes/authentication
//
// user is "the subject (user/role or account) to authenticate": the victim, "compromised"
// when the authentication succeeded (status_id 1), "attacked" otherwise. actor.user is
// "the actor that requested the authentication" (an admin, a service, an impersonator):
// "contextual", not revoked unless it is the same user.

const ocsfAuthentication = "ocsf-authentication"

func init() {
	register(Format{
		Name:  ocsfAuthentication,
		Match: func(d *Document) bool { return string(d.Top.Get("class_uid")) == "3002" },
		Extract: func(d *Document) ([]Alert, error) {
			a, err := readOCSFAuthentication(ocsfAuthentication, d.Top)
			if err != nil {
				return nil, err
			}
			return []Alert{a}, nil
		},
	})
}

func readOCSFAuthentication(format string, top delivery.Object) (Alert, error) {
	var e ocsfEvent
	if err := readOCSF(format, top, &e); err != nil {
		return Alert{}, err
	}
	// An event has no finding_info: metadata.uid is its identifier.
	a := Alert{Format: format, ID: firstPresent(e.FindingUID, e.Metadata.UID), Title: ocsfAuthenticationTitle(top), Severity: ocsfSeverity(top)}
	entra := e.Metadata.fromEntra()
	if entra {
		a.TenantID = e.Metadata.TenantUID
	}
	subject := "attacked"
	if string(top.Get("status_id")) == "1" {
		subject = "compromised"
	}
	if p, ok := e.User.principal(entra, a.TenantID, subject); ok {
		a.Principals = append(a.Principals, p)
	}
	if e.Actor != nil {
		if p, ok := e.Actor.User.principal(entra, a.TenantID, "contextual"); ok {
			a.Principals = append(a.Principals, p)
		}
	}
	return a, nil
}

// ocsfAuthenticationTitle reads "Authentication: Logon (Success)" from the activity and
// status captions, or their ids when the captions are missing.
func ocsfAuthenticationTitle(top delivery.Object) string {
	activity := top.String("activity_name")
	if activity == "" {
		switch string(top.Get("activity_id")) {
		case "1":
			activity = "Logon"
		case "2":
			activity = "Logoff"
		case "3":
			activity = "Authentication Ticket"
		case "4":
			activity = "Service Ticket Request"
		case "5":
			activity = "Service Ticket Renew"
		case "6":
			activity = "Preauth"
		default:
			activity = "Other"
		}
	}
	status := top.String("status")
	if status == "" {
		switch string(top.Get("status_id")) {
		case "1":
			status = "Success"
		case "2":
			status = "Failure"
		}
	}
	if status == "" {
		return "Authentication: " + activity
	}
	return "Authentication: " + activity + " (" + status + ")"
}
