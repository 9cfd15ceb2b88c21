package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/outcome"
)

// demoPoll shows the pull path: Defender for Cloud Apps has raised an impossible-travel
// alert (and a low-severity one no rule matches); the scheduled poll's request, as the
// template's schedule sends it, goes through the real handler, with the state table in
// moto. A second poll a minute later lists the same alert and acts on nothing.
func demoPoll(file string) error {
	payload, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	ctx := context.Background()
	emu := graphemu.NewServer(graphemu.DefaultUsers())
	defer emu.Close()
	h, aws, stop, err := start(ctx, emu, nil)
	if err != nil {
		return err
	}
	defer stop()

	emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "high", ServiceSource: "microsoftDefenderForCloudApps",
		DetectionSource: "cloudAppSecurity", Category: "InitialAccess", Users: []string{"AdeleV@contoso.onmicrosoft.com"}})
	emu.AddAlert(graphemu.SecurityAlert{Title: "Impossible travel activity", Severity: "low", ServiceSource: "microsoftDefenderForCloudApps",
		Users: []string{"MeganB@contoso.onmicrosoft.com"}})
	before, _ := emu.User("AdeleV@contoso.onmicrosoft.com")
	fmt.Fprintf(os.Stderr, "demo-poll: the emulator's GET /security/alerts_v2 lists two alerts: \"Impossible travel activity\" (high) naming AdeleV, and one (low) naming MeganB\n")
	fmt.Fprintf(os.Stderr, "demo-poll: %s through the real handler, as the schedule sends it; Entra/Graph emulator at %s, Secrets Manager and the state table (moto) at %s\n", file, emu.URL, aws.URL)

	res, herr := pollOnce(ctx, h.Handle, payload, "local-poll-1")
	if res != nil {
		if err := printJSON(res); err != nil {
			return err
		}
	}
	if herr != nil {
		return herr
	}
	for _, r := range emu.Requests() {
		fmt.Fprintf(os.Stderr, "demo-poll: emulator saw %s %s -> %d\n", r.Method, r.Path, r.Status)
	}
	after, _ := emu.User("AdeleV@contoso.onmicrosoft.com")
	megan, _ := emu.User("MeganB@contoso.onmicrosoft.com")
	fmt.Fprintf(os.Stderr, "demo-poll: AdeleV's sessions are valid from %s (before the poll: %s); MeganB's were not touched (%s)\n",
		stamp(after.SignInSessionsValidFromDateTime), stamp(before.SignInSessionsValidFromDateTime), stamp(megan.SignInSessionsValidFromDateTime))

	emu.ResetRequests()
	again, herr := pollOnce(ctx, h.Handle, payload, "local-poll-2")
	if herr != nil {
		return herr
	}
	revokes := 0
	for _, r := range emu.Requests() {
		if r.Method == "POST" {
			revokes++
		}
	}
	for _, a := range again.Poll.Alerts {
		fmt.Fprintf(os.Stderr, "demo-poll: the next poll listed alert %s again: %s, %d revoke calls\n", a.ID, a.Status, revokes)
	}
	return nil
}

func pollOnce(ctx context.Context, handle func(context.Context, json.RawMessage) (any, error), payload []byte, requestID string) (*outcome.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second) // the template's function timeout
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID})
	out, err := handle(ctx, payload)
	res, _ := out.(*outcome.Result)
	if res == nil && err == nil {
		err = fmt.Errorf("the handler returned %T, not a poll's result", out)
	}
	return res, err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never revoked"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
