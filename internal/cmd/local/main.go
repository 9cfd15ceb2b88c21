// Command local runs the function's code on this machine, as the README's make targets:
//
//	local extract FILE         what the function reads from a payload (no network)
//	local invoke FILE          the real handler, in-process, against the Graph/Entra
//	                           emulator and moto_server (DRY_RUN=1 in the environment
//	                           for a dry run); the handler's JSON result on stdout
//	local demo                 invoke on events/graph-security-alert.json
//	local demo-poll            the pull path: a scheduled poll (events/poll/graph.json)
//	                           finds an impossible-travel alert in the emulator's
//	                           alert list, and its user ends revoked
//
// invoke builds the handler exactly as the Lambda main does (app.ConfigFromEnv, app.New):
// only the endpoints differ, and they are set through the same environment variables an
// operator would use.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/session-revoker/session-revoker/internal/app"
	"github.com/session-revoker/session-revoker/internal/graphemu"
	"github.com/session-revoker/session-revoker/internal/handler"
	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/policy"
	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

const usage = "usage: local extract FILE | local invoke FILE | local demo | local demo-poll"

func main() {
	if len(os.Args) < 2 {
		fail(errors.New(usage))
	}
	var err error
	switch cmd := os.Args[1]; {
	case cmd == "extract" && len(os.Args) == 3:
		err = runExtract(os.Args[2])
	case cmd == "invoke" && len(os.Args) == 3:
		err = invoke(os.Args[2], false)
	case cmd == "demo" && len(os.Args) <= 3:
		file := "events/graph-security-alert.json"
		if len(os.Args) == 3 {
			file = os.Args[2]
		}
		err = invoke(file, true)
	case cmd == "demo-poll" && len(os.Args) == 2:
		err = demoPoll("events/poll/graph.json")
	default:
		err = errors.New(usage)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

func runExtract(file string) error {
	payload, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	settings, err := settings()
	if err != nil {
		return err
	}
	report, err := handler.Extract(payload, settings)
	if err != nil && len(report.Alerts) == 0 {
		return err
	}
	// Some items unread: what was read is shown, and the command still fails.
	if perr := printJSON(report); perr != nil {
		return perr
	}
	return err
}

// start builds the handler exactly as the Lambda main does, against emu and a moto_server
// it starts (Secrets Manager holding the emulator's app credentials); env adds settings.
func start(ctx context.Context, emu *graphemu.Server, env map[string]string) (*handler.Handler, *moto.Server, func(), error) {
	caFile, err := writeTemp("graphemu-ca-*.pem", emu.CertificatePEM())
	if err != nil {
		return nil, nil, nil, err
	}
	aws, err := moto.Start(ctx)
	if err != nil {
		os.Remove(caFile)
		return nil, nil, nil, err
	}
	stop := func() { aws.Stop(); os.Remove(caFile) }
	vars := aws.Env()
	vars["SSL_CERT_FILE"] = caFile // read once, on the first TLS handshake
	vars["GRAPH_BASE_URL"] = emu.GraphRoot()
	vars["AZURE_AUTHORITY_HOST"] = emu.AuthorityHost()
	vars["GRAPH_SECRET_ID"] = "session-revoker/graph-app"
	if os.Getenv("TENANT_ID") == "" {
		// As an operator deploys it: pinned to the tenant the emulator plays.
		vars["TENANT_ID"] = emu.TenantID
	}
	if os.Getenv("DRY_RUN") != "" && os.Getenv("DRY_RUN") != "0" {
		vars["DRY_RUN"] = "true"
	}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		os.Setenv(k, v)
	}
	if err := moto.PutSecret(ctx, vars["GRAPH_SECRET_ID"], fmt.Sprintf(`{"tenantId":%q,"clientId":%q,"clientSecret":%q}`, emu.TenantID, emu.ClientID, emu.ClientSecret)); err != nil {
		stop()
		return nil, nil, nil, err
	}
	// The stack's state table and queues, as the template creates them.
	if err := stack(ctx); err != nil {
		stop()
		return nil, nil, nil, err
	}
	// The variable Lambda sets from the template's LogLevel, so one name works everywhere.
	log := app.Logger(os.Stderr, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := app.ConfigFromEnv(os.Getenv)
	if err == nil {
		var h *handler.Handler
		if h, err = app.New(ctx, cfg, log); err == nil {
			return h, aws, stop, nil
		}
	}
	stop()
	return nil, nil, nil, err
}

// invoke runs the handler against local stand-ins for Entra, Graph and Secrets Manager.
func invoke(file string, narrate bool) error {
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
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second) // the template's function timeout
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "local-" + time.Now().UTC().Format("20060102T150405")})
	if narrate {
		fmt.Fprintf(os.Stderr, "demo: %s through the real handler; Entra/Graph emulator at %s, Secrets Manager (moto) at %s\n", file, emu.URL, aws.URL)
	}
	result, herr := h.Handle(ctx, payload)
	if res, ok := result.(*outcome.Result); ok && herr == nil && res.Sweep != nil && res.Sweep.Status == "started" {
		// A sweep's work is on its queue: consume it, as the event source mapping would,
		// then show how the run ended.
		n, err := drain(ctx, h)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "invoke: the sweep queue's %d records consumed; the run's status:\n", n)
		result, herr = h.Handle(ctx, []byte(`{"sweepStatus": "`+res.Sweep.Name+`"}`))
	}
	if result != nil {
		if err := printJSON(result); err != nil {
			return err
		}
	}
	if narrate && herr == nil {
		for _, r := range emu.Requests() {
			fmt.Fprintf(os.Stderr, "demo: emulator saw %s %s -> %d\n", r.Method, r.Path, r.Status)
		}
	}
	return herr
}

// The names the local stack gives the state table and the queues.
const (
	localTable       = "session-revoker-state"
	localSweepQueue  = "session-revoker-sweeps"
	localFailedQueue = "session-revoker-failed"
)

// stack creates, in moto, the state table and the sweep and failure queues the template
// creates, and points the function's variables at them.
func stack(ctx context.Context) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	if err := moto.CreateStateTable(ctx, dynamodb.NewFromConfig(cfg), localTable); err != nil {
		return err
	}
	q := sqs.NewFromConfig(cfg)
	urls := map[string]string{}
	for _, name := range []string{localSweepQueue, localFailedQueue} {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			return err
		}
		urls[name] = aws.ToString(out.QueueUrl)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(urls[localSweepQueue]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return err
	}
	for k, v := range map[string]string{"STATE_TABLE": localTable, "SWEEP_QUEUE_URL": urls[localSweepQueue],
		"SWEEP_QUEUE_ARN": attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], "FAILURE_QUEUE_URL": urls[localFailedQueue]} {
		os.Setenv(k, v)
	}
	return nil
}

// drain consumes the sweep queue as the event source mapping does, one record an
// invocation, until it is empty, and returns how many records it handed over.
func drain(ctx context.Context, h *handler.Handler) (int, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return 0, err
	}
	q, url, arn := sqs.NewFromConfig(cfg), os.Getenv("SWEEP_QUEUE_URL"), os.Getenv("SWEEP_QUEUE_ARN")
	n := 0
	for empty := 0; empty < 2; {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			return n, err
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		m := out.Messages[0]
		event, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
			"messageId": aws.ToString(m.MessageId), "eventSource": "aws:sqs", "eventSourceARN": arn, "body": aws.ToString(m.Body),
			"attributes": map[string]string{"ApproximateReceiveCount": m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]},
		}}})
		ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
		raw, err := h.Handle(lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("local-sweep-%d", n)}), event)
		cancel()
		n++
		if err != nil {
			return n, err
		}
		if resp, ok := raw.(handler.BatchResponse); ok && len(resp.BatchItemFailures) > 0 {
			if receives, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]); receives >= 8 {
				return n, fmt.Errorf("a sweep record failed 8 times")
			}
			q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			continue
		}
		q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
	}
	return n, nil
}

func writeTemp(pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(data)
	return f.Name(), err
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// settings reads the policy as the function does, so extract shows the same decisions.
func settings() (policy.Settings, error) {
	cfg, err := app.ConfigFromEnv(func(k string) string {
		if k == "GRAPH_SECRET_ID" {
			return "unused-by-extract"
		}
		return os.Getenv(k)
	})
	return cfg.Policy, err
}
