package webhook

import (
	"strings"

	"github.com/session-revoker/session-revoker/internal/sources"
)

// Scheme is how a product proves that a request is its own.
type Scheme int

const (
	// Bearer: "Authorization: Bearer <token>", for products that can set a header but do
	// not sign (Elastic's webhook connector, Sumo Logic webhook connections, Logic Apps and
	// Sentinel playbooks, Google SecOps SOAR's HTTP action, SOAR platforms).
	Bearer Scheme = iota + 1
	// PathToken: /<source>/<token>, for a product that can set neither a header nor a
	// signature (Splunk's built-in webhook alert action). The token travels in the URL, so
	// anything that records URLs (a proxy, Splunk's own alert configuration) holds it, and a
	// captured request can be replayed: the weakest scheme here, used only where nothing
	// else is possible.
	PathToken
	// CrowdStrikeSignature: the CrowdStrike Store "Webhook" integration, which Falcon Fusion
	// workflows call, signs each delivery with the HMAC secret key configured on it
	// (at least 32 characters): X-Cs-Primary-Signature is base64(HMAC-SHA256(key, body ||
	// X-Cs-Delivery-Timestamp)). The timestamp bounds replays to ReplayWindow.
	CrowdStrikeSignature
)

func (s Scheme) String() string {
	switch s {
	case Bearer:
		return "bearer"
	case PathToken:
		return "path-token"
	case CrowdStrikeSignature:
		return "crowdstrike-hmac"
	}
	return "none"
}

// Route is one source's path on the endpoint.
type Route struct {
	Source sources.Source
	Scheme Scheme
}

// Path is the route's path; a PathToken route continues with "/<token>".
func (r Route) Path() string { return "/" + r.Source.Name }

// productSchemes are the sources whose product cannot use Bearer, the default. Each is
// the strongest method the product supports (the README's webhook table cites each).
var productSchemes = map[string]Scheme{
	"splunk":      PathToken,
	"crowdstrike": CrowdStrikeSignature,
}

// routes are the sources the alert bus's rules match by detail-type: partner and AWS
// sources (Datadog, Okta, Security Hub) arrive on EventBridge from the product itself,
// authenticated by AWS, and have no path here.
var routes = func() map[string]Route {
	m := map[string]Route{}
	for _, s := range sources.All {
		if s.DetailType == "" || s.SourcePrefix != "" {
			continue
		}
		scheme, ok := productSchemes[s.Name]
		if !ok {
			scheme = Bearer
		}
		m[s.Name] = Route{Source: s, Scheme: scheme}
	}
	return m
}()

// Routes lists every path the endpoint serves, in sources.All's order.
func Routes() []Route {
	var out []Route
	for _, s := range sources.All {
		if r, ok := routes[s.Name]; ok {
			out = append(out, r)
		}
	}
	return out
}

// route finds the route a request path names, and the token a PathToken route carries.
// Leading slashes and one trailing slash are forgiven (an operator pasting the function
// URL, which ends in "/", before the path); anything else past the route is no route.
func route(path string) (r Route, token string, ok bool) {
	p := strings.TrimLeft(path, "/")
	name, rest, _ := strings.Cut(p, "/")
	r, ok = routes[name]
	if !ok {
		return Route{}, "", false
	}
	rest = strings.TrimSuffix(rest, "/")
	switch {
	case r.Scheme == PathToken:
		if strings.Contains(rest, "/") {
			return Route{}, "", false
		}
		return r, rest, true
	case rest != "":
		return Route{}, "", false
	}
	return r, "", true
}
