package graph_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/revoke"
)

func TestListAlerts(t *testing.T) {
	emu := graphemu.NewServer(graphemu.DefaultUsers(), graphemu.WithPageSize(1))
	t.Cleanup(emu.Close)
	c := newClient(t, emu, emu.ClientSecret)
	a := emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", ServiceSource: "microsoftDefenderForCloud",
		CreatedDateTime: time.Now().Add(-time.Minute), Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	b := emu.AddAlert(graphemu.SecurityAlert{Title: "Stolen session cookie was used", Severity: "high"})

	p, err := c.ListAlerts(ctx(t), poll.FirstPage(poll.Alerts, time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || delivery.TopLevel(p.Items[0]).String("id") != b || !strings.HasPrefix(p.Next, emu.GraphRoot()+"/v1.0/security/alerts_v2?") {
		t.Fatalf("first page %s, next %q", p.Items, p.Next)
	}
	p, err = c.ListAlerts(ctx(t), p.Next)
	if err != nil {
		t.Fatal(err)
	}
	top := delivery.TopLevel(p.Items[0])
	if top.String("id") != a || p.Next != "" {
		t.Fatalf("second page %s, next %q", p.Items, p.Next)
	}
	if top.String("serviceSource") != "microsoftDefenderForCloud" {
		t.Errorf("serviceSource %q: the listing must ask for evolvable enum members", top.String("serviceSource"))
	}
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "alerts_v2") && !r.HasBearer {
			t.Errorf("%s sent without the token", r.Path)
		}
	}

	emu.AddRiskDetection(graphemu.RiskDetection{RiskEventType: "unlikelyTravel", RiskLevel: "high", User: "AlexW@contoso.onmicrosoft.com"})
	p, err = c.ListAlerts(ctx(t), poll.FirstPage(poll.RiskDetections, time.Now().Add(-time.Hour)))
	if err != nil || len(p.Items) != 1 || delivery.TopLevel(p.Items[0]).String("riskEventType") != "unlikelyTravel" {
		t.Fatalf("risk detections: %v %s", err, p.Items)
	}
}

// No link but the two listings on the configured root is requested: not another host, not
// another path of Graph, not a path that climbs out.
func TestListAlertsRefusesOtherLinks(t *testing.T) {
	emu, c := start(t)
	root := emu.GraphRoot() + "/v1.0"
	for _, link := range []string{
		"https://evil.example/v1.0/security/alerts_v2?$skip=1",
		root + "/users?$select=id",
		root + "/security/alerts_v2/../../users",
		root + "/security/alerts_v2%2F..%2F..%2Fusers",
		root + "/security/incidents",
		"/users",
		"security/alerts_v2",
		strings.Replace(root, "https://", "http://", 1) + "/security/alerts_v2",
	} {
		_, err := c.ListAlerts(ctx(t), link)
		var gerr *revoke.Error
		if !errors.As(err, &gerr) || gerr.Kind != revoke.BadRequest || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v", link, err)
		}
	}
	if n := len(emu.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestListAlertsErrors(t *testing.T) {
	emu, c := start(t)
	emu.Inject(graphemu.Fault{Match: graphemu.MatchListAlerts, Status: http.StatusTooManyRequests, RetryAfter: "2"})
	_, err := c.ListAlerts(ctx(t), poll.FirstPage(poll.Alerts, time.Now()))
	var gerr *revoke.Error
	if !errors.As(err, &gerr) || gerr.Kind != revoke.Throttled || gerr.RetryAfter != 2*time.Second {
		t.Fatalf("429: %v", err)
	}
	emu.Inject(graphemu.Fault{Match: graphemu.MatchListRiskDetections, Status: http.StatusForbidden})
	_, err = c.ListAlerts(ctx(t), poll.FirstPage(poll.RiskDetections, time.Now()))
	if !errors.As(err, &gerr) || gerr.Kind != revoke.Denied || gerr.Code != "Authorization_RequestDenied" {
		t.Fatalf("403: %v", err)
	}
}
