// Package runtimeapi is a stand-in for the Lambda Runtime API that only notices a
// bootstrap's first request for work, the end of its cold init. It is for tests of built
// bootstraps; the deployed-stack harness runs them under the real Runtime Interface
// Emulator instead.
package runtimeapi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Start serves the API on loopback until the test ends. addr is what
// AWS_LAMBDA_RUNTIME_API takes; next receives the time of the first
// /runtime/invocation/next, which is held open as the real API holds it.
func Start(t testing.TB) (addr string, next <-chan time.Time) {
	ch := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			select {
			case ch <- time.Now():
			default:
			}
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), ch
}

// ResidentKB is a process's resident memory (VmRSS), 0 when unreadable.
func ResidentKB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}
