package main

// These tests run the built bootstrap as Lambda does: a process that finds the Runtime
// API through AWS_LAMBDA_RUNTIME_API and asks it for the next invocation. A stand-in
// Runtime API on loopback sees that first request, which marks the end of cold init.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/session-revoker/session-revoker/internal/testenv/runtimeapi"
)

func build(t testing.TB, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	// No -trimpath: it would change every cache key and recompile the Graph SDK.
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

func start(t testing.TB, bin, api string, env ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + api, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

func TestBootstrapReachesTheRuntimeAPI(t *testing.T) {
	bin := build(t, runtime.GOARCH)
	api, next := runtimeapi.Start(t)
	cmd, out := start(t, bin, api, "GRAPH_SECRET_ID=session-revoker/graph-app")
	defer cmd.Process.Kill()
	select {
	case <-next:
	case <-time.After(20 * time.Second):
		t.Fatalf("the function never asked for an invocation; output:\n%s", out)
	}
}

func TestBootstrapRefusesMissingConfiguration(t *testing.T) {
	bin := build(t, runtime.GOARCH)
	api, next := runtimeapi.Start(t)
	cmd, out := start(t, bin, api)
	err := cmd.Wait()
	if err == nil {
		t.Fatal("started without GRAPH_SECRET_ID")
	}
	if !strings.Contains(out.String(), "GRAPH_SECRET_ID is not set") {
		t.Errorf("output does not name the variable:\n%s", out)
	}
	select {
	case <-next:
		t.Error("asked for work without configuration")
	default:
	}
}

// BenchmarkColdStart: process start to the first request for work, and resident memory
// then, for the host architecture (the arm64 figure differs little: same code, no I/O).
func BenchmarkColdStart(b *testing.B) {
	bin := build(b, runtime.GOARCH)
	var rss float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		api, next := runtimeapi.Start(b)
		begin := time.Now()
		cmd, out := start(b, bin, api, "GRAPH_SECRET_ID=session-revoker/graph-app")
		select {
		case at := <-next:
			b.StopTimer()
			_ = at.Sub(begin)
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

// BenchmarkBootstrapSize reports the stripped linux/arm64 binary that sam build deploys.
func BenchmarkBootstrapSize(b *testing.B) {
	bin := build(b, "arm64")
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
}
