package alert

import (
	"reflect"
	"testing"
)

func TestEntraRiskFixtures(t *testing.T) {
	risky := func(id, upn, updated, level, state string, p Principal) Alert {
		p.UserID, p.UserPrincipalName, p.RiskState = id, upn, state
		return Alert{Format: "entra-risky-user", ID: id + "@" + updated, Title: "risky user: " + state, Severity: level, Principals: []Principal{p}}
	}
	cases := []struct {
		file   string
		alerts []Alert
	}{
		// A page of risky users in every state; the deleted one and the guest written as
		// Microsoft's beta sample writes the flags, as strings and as booleans.
		{"entra-risky-users-list.json", []Alert{
			risky("6a2f8c4e-1d3b-4a7e-9c5f-8b0d2e4a6c19", "IsaiahL@contoso.onmicrosoft.com", "2026-11-23T09:58:41.2209381Z", "high", "confirmedCompromised", Principal{}),
			risky("b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", "AlexW@contoso.onmicrosoft.com", "2026-11-23T07:12:05.0412276Z", "none", "dismissed", Principal{}),
			risky("7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", "MeganB@contoso.onmicrosoft.com", "2026-11-23T06:30:19.5527190Z", "none", "remediated", Principal{}),
			risky("5c1e3a7d-9f2b-4d6e-8a0c-2e4f6b8d0a13", "AllanD@contoso.onmicrosoft.com", "2026-11-22T21:44:02.1187744Z", "high", "atRisk", Principal{Deleted: true}),
			risky("0a2c4e6f-8b1d-4f3a-b5c7-9d1e3f5a7b08", "kai_northwind.com#EXT#@contoso.onmicrosoft.com", "2026-11-23T08:05:33.9035112Z", "medium", "atRisk", Principal{UserType: "Guest"}),
		}},
		{"entra-risk-detection-remediated.json", []Alert{{
			Format: "entra-risk-detection", ID: "2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a0c", Title: "impossibleTravel", Severity: "none",
			Principals: []Principal{{UserID: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", UserPrincipalName: "AlexW@contoso.onmicrosoft.com", RiskState: "remediated"}},
		}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			if got := recogniseFile(t, c.file); !reflect.DeepEqual(got, c.alerts) {
				t.Errorf("got  %+v\nwant %+v", got, c.alerts)
			}
		})
	}
}

func TestEntraRiskyUserShapes(t *testing.T) {
	const head = `{"@odata.type":"#microsoft.graph.riskyUser","id":"6a2f8c4e-1d3b-4a7e-9c5f-8b0d2e4a6c19","riskState":"atRisk"`
	for flags, want := range map[string]Principal{
		`,"isDeleted":"TRUE","isGuest":"false"`: {Deleted: true},
		`,"isDeleted":null,"isGuest":true`:      {UserType: "Guest"},
		``:                                      {},
	} {
		alerts, err := recogniseInline(t, head+flags+`}`)
		if err != nil {
			t.Fatal(err)
		}
		want.UserID, want.RiskState = "6a2f8c4e-1d3b-4a7e-9c5f-8b0d2e4a6c19", "atRisk"
		if got := alerts[0].Principals[0]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", flags, got, want)
		}
	}
	// A history item's own id is not the user's: userId is.
	alerts, err := recogniseInline(t, `{"id":"c0ffee00-1d3b-4a7e-9c5f-8b0d2e4a6c19","userId":"6a2f8c4e-1d3b-4a7e-9c5f-8b0d2e4a6c19","riskState":"atRisk","initiatedBy":"x"}`)
	if err != nil || alerts[0].Principals[0].UserID != "6a2f8c4e-1d3b-4a7e-9c5f-8b0d2e4a6c19" {
		t.Errorf("history item: %+v %v", alerts, err)
	}
	checkErrors(t, map[string]errorCase{
		"flag of another type": {head + `,"isDeleted":7}`, []string{"entra-risky-user", `"isDeleted"`, "wrong JSON type"}},
		"flag another word":    {head + `,"isGuest":"sekret"}`, []string{"entra-risky-user", `"isGuest"`}},
	})
}

func BenchmarkFormat_entraRiskyUsersList(b *testing.B) {
	benchRecogniseEvent(b, "entra-risky-users-list.json")
}

func FuzzRecognise_entraRisk(f *testing.F) {
	fuzzRecogniseEvents(f, "entra-risky-user.json", "entra-risky-users-list.json", "entra-risk-detection.json", "entra-risk-detection-remediated.json")
}
