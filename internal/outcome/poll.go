package outcome

// Poll is one invocation's pass over Graph's alert listings (a scheduled poll): what was
// listed from which time, and what became of every alert a rule matched.
type Poll struct {
	Name    string       `json:"name"`
	Sources []PollSource `json:"sources"`
	// Alerts lists the alerts a rule matched (and any the poll could not read), in the
	// order listed; alerts no rule matched are only counted, in NotMatching.
	Alerts      []PolledAlert `json:"alerts"`
	NotMatching int           `json:"notMatching"`
	// AlertsOmitted and TargetsOmitted count entries left out of the result to keep it
	// under EventBridge's 256 KB; every one is in the audit log.
	AlertsOmitted  int `json:"alertsOmitted,omitempty"`
	TargetsOmitted int `json:"targetsOmitted,omitempty"`
}

// PollSource is one listing's part of a poll.
type PollSource struct {
	Source string `json:"source"` // alerts (GET /security/alerts_v2) or riskDetections
	// From is the lastUpdate time the listing was filtered from (RFC 3339); empty when
	// the source was busy.
	From    string `json:"from,omitempty"`
	Pages   int    `json:"pages"`
	Listed  int    `json:"listed"`
	Matched int    `json:"matched"`
	// Complete: every page was read. Advanced: the watermark moved to this poll's start,
	// because every matching alert was handled; otherwise the next poll reads from the
	// same time again.
	Complete bool `json:"complete"`
	Advanced bool `json:"advanced"`
	// Busy: another run of this poll holds the source; this run read nothing from it.
	Busy bool `json:"busy,omitempty"`
	// Note says why the window is not the usual one (a first run, a long gap).
	Note string `json:"note,omitempty"`
}

// Polled alert statuses.
const (
	PollActed          = "acted"           // its users went down the alert path, every one handled
	PollAlreadyHandled = "already-handled" // acted on by an earlier poll: not again
	PollHeld           = "held"            // another run is acting on it right now
	PollRetry          = "retry"           // not fully handled: the next poll tries again
	PollGivenUp        = "given-up"        // cannot be handled automatically: an operator must
)

// PolledAlert is one matching alert of a poll.
type PolledAlert struct {
	Source   string `json:"source"`
	ID       string `json:"id"`
	Format   string `json:"format,omitempty"`
	Title    string `json:"title,omitempty"`
	Severity string `json:"severity,omitempty"`
	// LastUpdate is the version seen (lastUpdateDateTime or lastUpdatedDateTime).
	LastUpdate string `json:"lastUpdate,omitempty"`
	Rule       string `json:"rule,omitempty"` // the rule that matched it
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	Targets    int    `json:"targets"` // users it named, each an outcome in Targets
}
