package alert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// useMappings loads rules for one test or benchmark and puts the previous ones back after
// it, so the tests iterating over every format never see them.
func useMappings(tb testing.TB, raw string) {
	tb.Helper()
	prev := customFormats
	tb.Cleanup(func() { customFormats = prev })
	if _, err := LoadMappings(raw); err != nil {
		tb.Fatal(err)
	}
}

func TestCustomFixture(t *testing.T) {
	if _, err := recogniseInline(t, string(readEventFixture(t, "custom/acme-idp.json"))); !errors.Is(err, ErrUnrecognised) {
		t.Fatalf("without its rule the fixture gave err = %v, want ErrUnrecognised (a built-in format took it?)", err)
	}
	useMappings(t, string(readEventFixture(t, "custom/acme-idp.mappings.json")))
	got := recogniseFile(t, "custom/acme-idp.json")
	want := []Alert{{
		Format: "custom:acme-idp", ID: "ACME-ATO-20261123-0042", Title: "Session token replayed from a new network", Severity: "critical",
		Principals: []Principal{
			{UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"},
			{UserPrincipalName: "AlexW@contoso.onmicrosoft.com", UserID: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24"},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadMappings(t *testing.T) {
	useMappings(t, "")
	n, err := LoadMappings(`[{"name": "a", "match": {"source": "x"}, "users": "u"}, {"name": "b-2", "match": {"field": "k", "equals": ""}, "users": "u"}]`)
	if err != nil || n != 2 || len(customFormats) != 2 || customFormats[1].Name != "custom:b-2" {
		t.Fatalf("loaded %d (%v), formats %d", n, err, len(customFormats))
	}
	if n, err := LoadMappings(" \n"); err != nil || n != 0 || customFormats != nil {
		t.Errorf("an empty setting left %d rules (%v)", len(customFormats), err)
	}
}

func TestLoadMappings_badRules(t *testing.T) {
	const match = `"match": {"source": "com.acme.idp"}`
	cases := map[string]struct {
		raw  string
		want []string
	}{
		"bad JSON":            {`[{"name": "acme",`, []string{"expected a JSON array of rules"}},
		"not a list":          {`{"name": "acme"}`, []string{"not a JSON object"}},
		"unknown key":         {`[{"name": "acme", ` + match + `, "users": "u", "usres": "u"}]`, []string{`rule "acme"`, `unknown key "usres"`}},
		"unknown match key":   {`[{"name": "acme", "match": {"sorce": "x"}, "users": "u"}]`, []string{`rule "acme"`, `unknown key "sorce"`}},
		"wrong type":          {`[{"name": "acme", "match": {"field": "k", "equals": 3}, "users": "u"}]`, []string{`rule "acme"`, `"match.equals"`}},
		"no match":            {`[{"name": "acme", "users": "u"}]`, []string{`rule "acme"`, "at least one"}},
		"empty match":         {`[{"name": "acme", "match": {}, "users": "u"}]`, []string{`rule "acme"`, "at least one"}},
		"field without value": {`[{"name": "acme", "match": {"field": "k"}, "users": "u"}]`, []string{`rule "acme"`, `"field" and "equals"`}},
		"value without field": {`[{"name": "acme", "match": {"source": "x", "equals": "k"}, "users": "u"}]`, []string{`rule "acme"`, `"field" and "equals"`}},
		"no users":            {`[{"name": "acme", ` + match + `, "userIds": "ids"}]`, []string{`rule "acme"`, `"users" is required`}},
		"users syntax":        {`[{"name": "acme", ` + match + `, "users": "accounts[?role=='victim'.upn"}]`, []string{`rule "acme": users: SyntaxError`, "offset"}},
		"title syntax":        {`[{"name": "acme", ` + match + `, "users": "u", "title": "rule..name"}]`, []string{`rule "acme": title: SyntaxError`}},
		"field syntax":        {`[{"name": "acme", "match": {"field": "a[", "equals": "x"}, "users": "u"}]`, []string{`rule "acme": match.field: SyntaxError`}},
		"unknown function":    {`[{"name": "acme", ` + match + `, "users": "lowercase(u)"}]`, []string{`rule "acme": users: unknown function lowercase()`}},
		"arity":               {`[{"name": "acme", ` + match + `, "users": "u", "severity": "length(a, b)"}]`, []string{`rule "acme": severity: length() takes 1 argument, not 2`}},
		"nested function":     {`[{"name": "acme", ` + match + `, "users": "a[?contains(b)].c"}]`, []string{`rule "acme": users: contains() takes 2 arguments, not 1`}},
		"duplicate":           {`[{"name": "acme", ` + match + `, "users": "u"}, {"name": "acme", ` + match + `, "users": "v"}]`, []string{`rule "acme": another rule has this name`}},
		"bad name":            {`[{"name": "Acme IdP", ` + match + `, "users": "u"}]`, []string{`rule "Acme IdP"`, "lowercase letters, digits and dashes"}},
		"unnamed":             {`[{"name": "ok", ` + match + `, "users": "u"}, {` + match + `, "users": "u"}]`, []string{`rule #2 (unnamed)`}},
	}
	useMappings(t, `[{"name": "before", "match": {"source": "x"}, "users": "u"}]`)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadMappings(c.raw)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(customFormats) != 1 || customFormats[0].Name != "custom:before" {
				t.Errorf("a failed load changed the rules: %d", len(customFormats))
			}
		})
	}
}

// recogniseCustom recognises payload and returns the format that took it, or the error.
func recogniseCustom(t *testing.T, payload string) (string, error) {
	t.Helper()
	alerts, err := recogniseInline(t, payload)
	if err != nil {
		return "", err
	}
	return alerts[0].Format, nil
}

func TestCustomMatch(t *testing.T) {
	useMappings(t, `[
		{"name": "by-prefix", "match": {"source": "com.acme.*"}, "users": "user"},
		{"name": "by-detail-type", "match": {"source": "com.other", "detailType": "Account Compromised"}, "users": "user"},
		{"name": "by-field", "match": {"field": "alert_kind", "equals": "ato"}, "users": "user"},
		{"name": "by-number", "match": {"field": "level", "equals": "3"}, "users": "user"},
		{"name": "by-nested-field", "match": {"field": "meta.\"kind.name\"", "equals": "takeover"}, "users": "user"},
		{"name": "by-all", "match": {"source": "com.third", "field": "alert_kind", "equals": "mfa-fatigue"}, "users": "user"}
	]`)
	envelope := func(source, detailType, detail string) string {
		return `{"id": "e-1", "source": "` + source + `", "detail-type": "` + detailType + `", "detail": ` + detail + `}`
	}
	cases := map[string]struct{ payload, want string }{
		"source prefix":             {envelope("com.acme.idp", "Anything", `{"user": "AdeleV@contoso.onmicrosoft.com"}`), "custom:by-prefix"},
		"prefix is not a substring": {envelope("com.acmeidp", "Anything", `{"user": "x"}`), ""},
		"detail-type":               {envelope("com.other", "Account Compromised", `{"user": "x"}`), "custom:by-detail-type"},
		"detail-type exact":         {envelope("com.other", "Account compromised", `{"user": "x"}`), ""},
		"field, bare":               {`{"alert_kind": "ato", "user": "x"}`, "custom:by-field"},
		"field in envelope":         {envelope("com.nobody", "X", `{"alert_kind": "ato", "user": "x"}`), "custom:by-field"},
		"field differs":             {`{"alert_kind": "ATO", "user": "x"}`, ""},
		"field as number":           {`{"level": 3, "user": "x"}`, "custom:by-number"},
		"field as string number":    {`{"level": "3", "user": "x"}`, "custom:by-number"},
		"field is an object":        {`{"level": {"3": 3}, "user": "x"}`, ""},
		"nested field":              {`{"meta": {"kind.name": "takeover"}, "user": "x"}`, "custom:by-nested-field"},
		"all conditions":            {envelope("com.third", "X", `{"alert_kind": "mfa-fatigue", "user": "x"}`), "custom:by-all"},
		"one condition fails":       {envelope("com.fourth", "X", `{"alert_kind": "mfa-fatigue", "user": "x"}`), ""},
		"source needs envelope":     {`{"source": "com.acme.idp", "user": "x"}`, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := recogniseCustom(t, c.payload)
			if c.want == "" {
				if !errors.Is(err, ErrUnrecognised) {
					t.Errorf("format %q, err %v: want unrecognised", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("format %q, err %v: want %s", got, err, c.want)
			}
		})
	}
}

func TestCustomExtract(t *testing.T) {
	useMappings(t, `[
		{"name": "one", "match": {"field": "kind", "equals": "one"}, "users": "user", "id": "n", "severity": "score", "title": "missing"},
		{"name": "list", "match": {"field": "kind", "equals": "list"}, "users": "people", "userIds": "ids", "id": "big"},
		{"name": "nested", "match": {"field": "kind", "equals": "nested"}, "users": "groups[*].members[*].upn"},
		{"name": "none", "match": {"field": "kind", "equals": "none"}, "users": "accounts[?role=='victim'].upn"},
		{"name": "bad-users", "match": {"field": "kind", "equals": "bad-users"}, "users": "accounts"},
		{"name": "bad-title", "match": {"field": "kind", "equals": "bad-title"}, "users": "user", "title": "tags"},
		{"name": "bad-call", "match": {"field": "kind", "equals": "bad-call"}, "users": "join(',', accounts)"}
	]`)
	cases := map[string]struct {
		payload string
		want    Alert
	}{
		"string": {`{"kind": "one", "user": "AdeleV@contoso.onmicrosoft.com", "n": 4711, "score": 7.5}`,
			Alert{Format: "custom:one", ID: "4711", Severity: "7.5", Principals: []Principal{{Account: "AdeleV@contoso.onmicrosoft.com"}}}},
		"lists and ids": {`{"kind": "list", "people": ["AdeleV@contoso.onmicrosoft.com", null, "", "AlexW@contoso.onmicrosoft.com"], "ids": "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", "big": 12345678901234567890}`,
			Alert{Format: "custom:list", ID: "12345678901234567890", Principals: []Principal{
				{Account: "AdeleV@contoso.onmicrosoft.com"}, {Account: "AlexW@contoso.onmicrosoft.com"}, {UserID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"}}}},
		"nested lists": {`{"kind": "nested", "groups": [{"members": [{"upn": "a@contoso.com"}, {"upn": "b@contoso.com"}]}, {"members": [{"upn": "c@contoso.com"}]}]}`,
			Alert{Format: "custom:nested", ID: "e-1", Principals: []Principal{{Account: "a@contoso.com"}, {Account: "b@contoso.com"}, {Account: "c@contoso.com"}}}},
		"no users": {`{"kind": "none", "accounts": [{"role": "observer", "upn": "x@contoso.com"}]}`,
			Alert{Format: "custom:none", ID: "e-1"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			alerts, err := recogniseInline(t, `{"id": "e-1", "source": "s", "detail-type": "d", "detail": `+c.payload+`}`)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(alerts, []Alert{c.want}) {
				t.Errorf("got  %+v\nwant %+v", alerts, []Alert{c.want})
			}
		})
	}
	for name, c := range map[string]struct{ payload, want string }{
		"users not strings": {`{"kind": "bad-users", "accounts": [{"name": "sekret@contoso.com"}]}`, `custom:bad-users: users "accounts": yields an object without upn or id`},
		"title a list":      {`{"kind": "bad-title", "user": "u@contoso.com", "tags": ["sekret"]}`, `custom:bad-title: title "tags": yields a list`},
		"function type":     {`{"kind": "bad-call", "accounts": [{"upn": "sekret@contoso.com"}]}`, `custom:bad-call: users "join(',', accounts)": a function was given an argument of the wrong type`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := recogniseInline(t, c.payload)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "sekret") {
				t.Errorf("error %q echoes a value", err)
			}
		})
	}
}

func TestCustomNeverTakesABuiltInFormat(t *testing.T) {
	useMappings(t, `[
		{"name": "greedy-graph", "match": {"field": "\"@odata.type\"", "equals": "#microsoft.graph.security.alert"}, "users": "title"},
		{"name": "greedy-type", "match": {"detailType": "SystemLog"}, "users": "actor.alternateId"}
	]`)
	for file, want := range map[string]string{"okta-system-log.json": "okta-system-log", "graph-security-alert.json": "graph-security-alert"} {
		if got := recogniseFile(t, file); got[0].Format != want {
			t.Errorf("%s: format %s, want %s", file, got[0].Format, want)
		}
	}
}

// A rule that names the event's source is the operator's word on that product: it wins
// over a built-in format that also fits, for that source only.
func TestCustomRuleNamingTheSourceWins(t *testing.T) {
	useMappings(t, `[{"name": "okta-targets", "match": {"source": "aws.partner/okta.com/*"}, "users": "target[?type=='User'].alternateId"}]`)
	if got := recogniseFile(t, "okta-system-log.json"); got[0].Format != "custom:okta-targets" {
		t.Errorf("format %s, want the rule naming the source", got[0].Format)
	}
	if got := recogniseFile(t, "graph-security-alert.json"); got[0].Format != "graph-security-alert" {
		t.Errorf("another source: format %s", got[0].Format)
	}
}

// A product whose payload carries the person who reported the incident in a top-level
// "userId" is not a direct request: the rule for its source names the victim.
func TestCustomRuleOverDirectShape(t *testing.T) {
	useMappings(t, `[{"name": "helpdesk", "match": {"source": "com.contoso.helpdesk"}, "users": "affected.upn", "id": "ticket"}]`)
	const event = `{"version":"0","id":"e-1","source":"com.contoso.helpdesk","detail-type":"Ticket Escalated","detail":` +
		`{"ticket":"HD-77","userId":"helpdesk.agent@contoso.onmicrosoft.com","affected":{"upn":"AdeleV@contoso.onmicrosoft.com"}}}`
	expectAlerts(t, event, []Alert{{Format: "custom:helpdesk", ID: "HD-77", Principals: []Principal{{Account: "AdeleV@contoso.onmicrosoft.com"}}}})
	// Without a rule the product's event is no request either: refused, not the reporter revoked.
	useMappings(t, "")
	if alerts, err := recogniseInline(t, event); !errors.Is(err, ErrUnrecognised) {
		t.Errorf("without a rule: %+v, %v", alerts, err)
	}
}

func TestCustomRulesOverlapping(t *testing.T) {
	useMappings(t, `[
		{"name": "first", "match": {"source": "com.acme.*"}, "users": "user"},
		{"name": "second", "match": {"source": "com.acme.idp", "detailType": "Account Compromised"}, "users": "user"},
		{"name": "third", "match": {"detailType": "Account Compromised"}, "users": "user"}
	]`)
	_, err := recogniseInline(t, `{"id": "e", "source": "com.acme.idp", "detail-type": "Account Compromised", "detail": {"user": "x"}}`)
	if !errors.Is(err, ErrUnrecognised) || !strings.Contains(err.Error(), "custom:first") || !strings.Contains(err.Error(), "custom:second") {
		t.Errorf("err = %v, want one naming both rules", err)
	}
	// A rule naming the source comes before one that does not: no overlap.
	alerts, err := recogniseInline(t, `{"id": "e", "source": "com.acme.sso", "detail-type": "Account Compromised", "detail": {"user": "x"}}`)
	if err != nil || alerts[0].Format != "custom:first" {
		t.Errorf("got %+v, %v; want custom:first", alerts, err)
	}
}

func BenchmarkFormat_custom(b *testing.B) {
	useMappings(b, string(readEventFixture(b, "custom/acme-idp.mappings.json")))
	benchRecogniseEvent(b, "custom/acme-idp.json")
}

func FuzzRecognise_custom(f *testing.F) {
	useMappings(f, string(readEventFixture(f, "custom/acme-idp.mappings.json")))
	fuzzRecogniseEvents(f, "custom/acme-idp.json")
}
