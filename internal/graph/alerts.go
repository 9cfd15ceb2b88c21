package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

// listings are the paths a poll may read (SecurityAlert.Read.All and
// IdentityRiskEvent.Read.All).
var listings = []string{poll.Alerts.Path(), poll.RiskDetections.Path()}

// ListAlerts reads one page of a poll's listing, GET /security/alerts_v2 or GET
// /identityProtection/riskDetections. link is relative to the version root
// (poll.FirstPage) or an @odata.nextLink, which must be on this Graph root and on one of
// those two paths: no link Graph (or anything between) returns can send the token, or
// the poll, anywhere else. Items come back as Graph sent them, for the alert formats.
func (c *Client) ListAlerts(ctx context.Context, link string) (poll.Page, error) {
	full, ok := c.listingURL(link)
	if !ok {
		return poll.Page{}, &revoke.Error{Kind: revoke.BadRequest, Message: "a listing link that is not " + c.root + "/security/alerts_v2 or /identityProtection/riskDetections was refused"}
	}
	// Without Prefer, Graph answers the newer members of evolvable enums (serviceSource
	// microsoftDefenderForCloud, ...) as unknownFutureValue, which no rule could name.
	raw, call, err := c.getPage(ctx, full, "Prefer", "include-unknown-enum-members")
	if err != nil {
		return poll.Page{}, err
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
		Next  string            `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(raw, &page); err != nil || page.Value == nil {
		return poll.Page{}, &revoke.Error{Kind: revoke.Other, Call: call, Message: "the listing's page is not the JSON Graph sends ({\"value\": [...]})"}
	}
	for _, item := range page.Value {
		if item = bytes.TrimSpace(item); len(item) == 0 || item[0] != '{' {
			return poll.Page{}, &revoke.Error{Kind: revoke.Other, Call: call, Message: "the listing's page holds an item that is not a JSON object"}
		}
	}
	return poll.Page{Items: page.Value, Next: page.Next}, nil
}

// listingURL is link made absolute, if it names one of the listings on this root.
func (c *Client) listingURL(link string) (string, bool) {
	var rest string
	switch {
	case strings.HasPrefix(link, "/"):
		rest = link
	case strings.HasPrefix(link, c.root+"/"):
		rest = link[len(c.root):]
	default:
		return "", false
	}
	path, _, _ := strings.Cut(rest, "?")
	for _, p := range listings {
		if strings.EqualFold(path, p) {
			return c.root + rest, true
		}
	}
	return "", false
}
