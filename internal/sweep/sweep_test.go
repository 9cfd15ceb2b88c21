package sweep

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/delivery"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

const group = "c5a3e8f1-2b7d-4e9a-9f61-3d8b2a7c4e15"

func parse(t *testing.T, body string) (Spec, error) {
	t.Helper()
	if !delivery.Valid([]byte(body)) {
		t.Fatalf("test input is not JSON: %s", body)
	}
	return Parse(delivery.TopLevel([]byte(body)))
}

func TestParse(t *testing.T) {
	s, err := parse(t, `{"sweep":{"name":"risky-high","riskyUsers":{}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.RiskyUsers.RiskLevels, ","); got != "high" {
		t.Errorf("default levels = %s, want high", got)
	}
	if got := strings.Join(s.RiskyUsers.RiskStates, ","); got != "atRisk,confirmedCompromised" {
		t.Errorf("default states = %s", got)
	}
	q, err := url.ParseQuery(strings.SplitN(s.FirstPage(), "?", 2)[1])
	if err != nil {
		t.Fatal(err)
	}
	if want := "(riskLevel eq 'high') and (riskState eq 'atRisk' or riskState eq 'confirmedCompromised')"; q.Get("$filter") != want {
		t.Errorf("$filter = %q, want %q", q.Get("$filter"), want)
	}
	g, err := parse(t, `{"sweep":{"name":"offboarding","group":"`+strings.ToUpper(group)+`","approved":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/groups/" + group + "/transitiveMembers/microsoft.graph.user?"; !strings.HasPrefix(g.FirstPage(), want) || !g.Approved {
		t.Errorf("group sweep: first page %q, approved %v", g.FirstPage(), g.Approved)
	}
}

func TestParseErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"sweep":"risky"}`:                                              `"sweep" must be an object`,
		`{"sweep":{"riskyUsers":{}}}`:                                    `"name"`,
		`{"sweep":{"name":"a/b","riskyUsers":{}}}`:                       `"name"`,
		`{"sweep":{"name":"x"}}`:                                         "exactly one",
		`{"sweep":{"name":"x","riskyUsers":{},"group":"` + group + `"}}`: "exactly one",
		`{"sweep":{"name":"x","group":"all users"}}`:                     "object id",
		`{"sweep":{"name":"x","riskyUsers":{"riskLevels":["severe"]}}}`:  `"severe" is not one of low, medium, high`,
		`{"sweep":{"name":"x","riskyUsers":{"riskStates":["atrisk"]}}}`:  `riskStates`,
		`{"sweep":{"name":"x","riskyUsers":{},"aproved":true}}`:          `unknown field "aproved"`,
		`{"sweep":{"name":"x","riskyUsers":{},"approved":"yes"}}`:        `"approved" has the wrong JSON type`,
	} {
		_, err := parse(t, body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to say %s", body, err, want)
		}
	}
}

// nextLink is link's page n, as Graph writes @odata.nextLink: absolute, the request's own
// query, and a skip token.
func nextLink(link string, n int) string {
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("$skiptoken", fmt.Sprint(n))
	return "https://graph.microsoft.com/v1.0" + strings.TrimPrefix(u.Path, "/v1.0") + "?" + q.Encode()
}

func statuses(ts []outcome.Outcome) map[outcome.Status]int { return outcome.Summarise(ts) }

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"sweep":{"name":"r","riskyUsers":{"riskLevels":["high","medium"]}}}`, `{"sweep":{"name":"g","group":"` + group + `","approved":true,"dryRun":true}}`, `{"sweep":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		top, _, ok := delivery.ValidObject(b)
		if !ok || top == nil {
			return
		}
		s, err := Parse(top)
		if err != nil {
			return
		}
		// Whatever was accepted builds a URL from checked parts only.
		first := s.FirstPage()
		if strings.ContainsAny(first, " #\\") || strings.Contains(first, "..") || !strings.HasPrefix(first, "/") {
			t.Fatalf("first page %q from %q", first, b)
		}
	})
}

// TestLinksBelongToTheirSweep: only a link on the sweep's own listing is followed, so a
// next link Graph (or anyone who could write it) gives cannot steer a sweep elsewhere.
func TestLinksBelongToTheirSweep(t *testing.T) {
	live, _ := parse(t, `{"sweep":{"name":"all","group":"`+group+`","approved":true}}`)
	other, _ := parse(t, `{"sweep":{"name":"all","group":"d6b4f9a2-3c8e-4f0b-8a72-4e9c3b8d5f26","approved":true}}`)
	first := live.FirstPage()
	for link, want := range map[string]bool{
		nextLink(first, 3):             true,
		first:                          true,
		nextLink(other.FirstPage(), 3): false, // another group
		"https://graph.microsoft.com/v1.0/users?$top=100&$skiptoken=3":      false,
		strings.Replace(nextLink(first, 3), "%24top=100", "%24top=999", 1):  false, // query changed
		nextLink(first, 3) + "&$filter=x":                                   false,
		nextLink(first, 3) + "#frag":                                        false,
		"https://graph.microsoft.com/v1.0/groups/" + group + "/../../users": false,
	} {
		if got := live.OwnsLink(link); got != want {
			t.Errorf("OwnsLink(%s) = %v, want %v", link, got, want)
		}
	}

}

func TestParseIsStrict(t *testing.T) {
	for body, want := range map[string]string{
		`{"sweep":{"name":"x","riskyUsers":{},"APPROVED":true}}`:              `unknown field "APPROVED"`,
		`{"sweep":{"name":"x","riskyUsers":{},"dryRun":true,"dryRun":false}}`: `"dryRun" is given twice`,
		`{"sweep":{"name":"x","riskyUsers":{"RiskLevels":["low"]}}}`:          `unknown field "RiskLevels"`,
		`{"sweep":{"name":"x","riskyUsers":{}},"users":["a@contoso.com"]}`:    `nothing may stand beside "sweep"`,
	} {
		if _, err := parse(t, body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
