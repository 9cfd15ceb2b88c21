package main

// The built bootstrap, run as Lambda runs it: a process that finds the Runtime API
// through AWS_LAMBDA_RUNTIME_API and asks it for the next invocation. This binary links
// no Graph SDK, so building it here (host arch, lambda.norpc) takes seconds.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/testenv/runtimeapi"
)

func build(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// environment is what template.yaml sets, with credentials that reach nothing: cold init
// calls no AWS API (the secret is read on the first request).
func environment(api string) []string {
	return []string{
		"AWS_LAMBDA_RUNTIME_API=" + api, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"ALERT_BUS_NAME=session-revoker-alerts", "WEBHOOK_SECRET_ID=session-revoker/webhook",
	}
}

func start(t testing.TB, bin string, env []string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// TestNoGraphSDK: the endpoint holds no Graph credential and must never link the client
// that would use one (nor the 4.5 GB build that comes with it).
func TestNoGraphSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "msgraph") || strings.Contains(dep, "azure-sdk-for-go") || strings.HasSuffix(dep, "/internal/graph") || strings.HasSuffix(dep, "/internal/app") || strings.HasSuffix(dep, "/internal/secrets") {
			t.Errorf("functions/webhook depends on %s", dep)
		}
	}
}

func TestBootstrapReachesTheRuntimeAPI(t *testing.T) {
	bin := build(t)
	api, next := runtimeapi.Start(t)
	cmd, out := start(t, bin, environment(api))
	defer cmd.Process.Kill()
	select {
	case <-next:
	case <-time.After(20 * time.Second):
		t.Fatalf("the function never asked for an invocation; output:\n%s", out)
	}
}

func TestBootstrapRefusesMissingConfiguration(t *testing.T) {
	bin := build(t)
	api, next := runtimeapi.Start(t)
	var env []string
	for _, kv := range environment(api) {
		if !strings.HasPrefix(kv, "WEBHOOK_SECRET_ID=") {
			env = append(env, kv)
		}
	}
	cmd, out := start(t, bin, env)
	if err := cmd.Wait(); err == nil {
		t.Fatal("started without WEBHOOK_SECRET_ID")
	}
	if !strings.Contains(out.String(), "WEBHOOK_SECRET_ID") {
		t.Errorf("output does not name the variable:\n%s", out)
	}
	select {
	case <-next:
		t.Error("asked for work without configuration")
	default:
	}
}

// BenchmarkColdStart: process start to the first request for work, and resident memory
// then (host architecture).
func BenchmarkColdStart(b *testing.B) {
	bin := build(b)
	var rss float64
	b.ResetTimer()
	for range b.N {
		api, next := runtimeapi.Start(b)
		cmd, out := start(b, bin, environment(api))
		select {
		case <-next:
			b.StopTimer()
			rss += runtimeapi.ResidentKB(cmd.Process.Pid)
		case <-time.After(20 * time.Second):
			b.Fatalf("no request for work; output:\n%s", out)
		}
		cmd.Process.Kill()
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(rss/float64(b.N), "rss-KB")
}

// BenchmarkBootstrapSize reports the stripped binary (host arch; sam build makes arm64,
// within a few percent of it).
func BenchmarkBootstrapSize(b *testing.B) {
	st, err := os.Stat(build(b))
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
}
