package alert

import (
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Datadog notifications on a Datadog partner event bus (source
// aws.partner/datadog.com/<bus>, detail-type "Datadog Alert Notification"), sent by a
// monitor or detection rule that mentions @awseventbridge-<bus>; or the bare detail.
// https://docs.datadoghq.com/integrations/amazon_event_bridge/
//
// A monitor notification has no structured user. The user comes from detail.tags entries
// usr.email:, usr.id:, usr.name: (also spelled usr_email:, @usr.email:, ...), which a
// monitor grouped by @usr.email carries or its author adds. meta.monitor.message is the
// unrendered template and is not read. Datadog may rewrite characters a tag does not
// allow (an '@' to '_'); such a value is reported as it is and policy refuses it.
//
// Unverified: no Datadog document shows a Cloud SIEM signal on EventBridge. Assumed: the
// signal's event attributes arrive in detail.attributes (or detail.attributes.attributes,
// the signals API's nesting), nested ({"usr": {"email": ...}}) or flattened
// ({"usr.email": ...}), with usr.id, usr.email, usr.name and ocsf.user.email_addr. They
// are read leniently: a member of another shape is ignored, not an error.
//
// All values go in Account (an app's usr.id may be anything); one user per source, an
// address-like email or name preferred, then the id, so one person is not reported twice
// under two identifiers.
//
// Acted on: a monitor that triggered (meta.transition.trans_name Triggered, Re-Triggered,
// Warn...). A notification that the monitor recovered (trans_name Recovered, dest_state OK,
// alert_type success) is the all-clear for an earlier alert: its users are closed. A
// signal triaged archived (attributes.workflow.triage.state) is closed too.

const datadog = "datadog"

func init() {
	register(Format{
		Name: datadog,
		Match: func(d *Document) bool {
			if strings.HasPrefix(d.Envelope.Source, "aws.partner/datadog.com/") {
				return true
			}
			t := d.Top
			return t.Has("meta") && t.Has("alert_type") && t.Has("event_type") && t.Has("priority")
		},
		Extract: extractDatadog,
	})
}

// datadogUser is the user one source (the tags, or a signal's attributes) names.
type datadogUser struct{ id, email, name string }

func (u *datadogUser) set(key, value string) {
	key = strings.TrimPrefix(key, "@")
	switch key {
	case "usr.email", "usr_email", "ocsf.user.email_addr":
		if u.email == "" {
			u.email = value
		}
	case "usr.id", "usr_id":
		if u.id == "" {
			u.id = value
		}
	case "usr.name", "usr_name":
		if u.name == "" {
			u.name = value
		}
	}
}

func (u *datadogUser) principal() (Principal, bool) {
	acct := firstAddressLike(u.email, u.name)
	if acct == "" {
		acct = firstPresent(u.id, u.email, u.name)
	}
	return Principal{Account: acct}, acct != ""
}

func extractDatadog(d *Document) ([]Alert, error) {
	t := d.Top
	a := Alert{Format: datadog, ID: firstPresent(scalarText(t.Get("alert_id")), scalarText(t.Get("id"))), Severity: scalarText(t.Get("priority"))}
	meta, err := topObject(datadog, t, "meta")
	if err != nil {
		return nil, err
	}
	monitor, err := topObject(datadog, meta, "monitor")
	if err != nil {
		return nil, err
	}
	a.Title = firstPresent(monitor.String("name"), t.String("title"))
	var tags []string
	if err := decodeTopMember(datadog, t, "tags", &tags); err != nil {
		return nil, err
	}

	var tagged datadogUser
	for _, tag := range tags {
		if k, v, ok := strings.Cut(tag, ":"); ok && v != "" {
			tagged.set(k, v)
		}
	}
	if p, ok := tagged.principal(); ok {
		a.Principals = append(a.Principals, p)
	}
	var signal datadogUser
	signal.readAttributes(t.Get("attributes"), 2)
	if p, ok := signal.principal(); ok {
		a.Principals = append(a.Principals, p)
	}
	if closed := datadogClosed(t, meta); closed != "" {
		for i := range a.Principals {
			a.Principals[i].Closed = closed
		}
	}
	return []Alert{a}, nil
}

// datadogClosed says why a notification needs no action: the monitor recovered, or the
// signal was archived. Read leniently, like the signal attributes.
func datadogClosed(t, meta delivery.Object) string {
	transition := delivery.TopLevel(meta.Get("transition")).String("trans_name")
	dest := delivery.TopLevel(meta.Get("states")).String("dest_state")
	switch {
	case strings.EqualFold(transition, "Recovered"):
		return "the monitor recovered (transition Recovered): the all-clear for an earlier alert"
	case strings.EqualFold(dest, "OK"):
		return "the monitor is back to OK (dest_state OK): the all-clear for an earlier alert"
	case transition == "" && dest == "" && strings.EqualFold(t.String("alert_type"), "success"):
		return "the notification is a recovery (alert_type success): the all-clear for an earlier alert"
	}
	attrs := delivery.TopLevel(t.Get("attributes"))
	if nested := attrs.Get("attributes"); startsObject(nested) {
		attrs = delivery.TopLevel(nested)
	}
	triage := delivery.TopLevel(delivery.TopLevel(attrs.Get("workflow")).Get("triage"))
	if st := triage.String("state"); strings.EqualFold(st, "archived") {
		return "the signal is archived (workflow.triage.state archived)"
	}
	return ""
}

// readAttributes collects the user from a signal's attributes, nested or flattened,
// descending into a nested "attributes" depth times. Attributes can hold a whole log
// event: they are scanned in place, never decoded.
func (u *datadogUser) readAttributes(raw []byte, depth int) {
	if !startsObject(raw) || depth == 0 {
		return
	}
	attrs := delivery.TopLevel(raw)
	for _, k := range [...]string{"usr.email", "usr.id", "usr.name", "ocsf.user.email_addr"} {
		u.set(k, scalarText(attrs.Get(k)))
	}
	if usr := attrs.Get("usr"); startsObject(usr) {
		o := delivery.TopLevel(usr)
		u.set("usr.email", scalarText(o.Get("email")))
		u.set("usr.id", scalarText(o.Get("id")))
		u.set("usr.name", scalarText(o.Get("name")))
	}
	if ocsf := attrs.Get("ocsf"); startsObject(ocsf) {
		if user := delivery.TopLevel(ocsf).Get("user"); startsObject(user) {
			u.set("ocsf.user.email_addr", delivery.TopLevel(user).String("email_addr"))
		}
	}
	u.readAttributes(attrs.Get("attributes"), depth-1)
}
