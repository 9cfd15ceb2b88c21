package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/session-revoker/session-revoker/internal/testenv/moto"
)

// awsEnv is moto started by testdata/moto_launcher.py: IAM enforcement when switched on,
// corrected where moto 5.2.1 is more lenient or stricter than AWS, and a log of every
// request it authorised.
type awsEnv struct {
	URL   string
	audit string
	log   lockedWriter
}

// launch starts a launcher of the test's own, stopped when the test ends.
func launch(t *testing.T) *awsEnv {
	t.Helper()
	env := &awsEnv{audit: filepath.Join(t.TempDir(), "audit.jsonl"), log: lockedWriter{mu: &sync.Mutex{}, w: &bytes.Buffer{}}}
	srv, err := moto.Launch(context.Background(), env.log, filepath.Join("testdata", "moto_launcher.py"), env.audit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if out := env.log.String(); t.Failed() && out != "" {
			t.Logf("moto launcher output:\n%s", out)
		}
	})
	env.URL = srv.URL
	return env
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// config is an SDK configuration reaching this moto with the given credentials.
func (e *awsEnv) config(key, secret, token string) aws.Config {
	return aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, token),
		BaseEndpoint:     aws.String(e.URL),
		RetryMaxAttempts: 1, // a denial is an answer, not a fault to retry
	}
}

// admin is the test's own identity, used while enforcement is off.
func (e *awsEnv) admin() aws.Config { return e.config("AKIAIOSFODNN7TESTING", "testing", "") }

// enforce switches IAM enforcement on for every later request (moto's
// INITIAL_NO_AUTH_ACTION_COUNT, through its own reset-auth endpoint), or off again.
func (e *awsEnv) enforce(t *testing.T, on bool) {
	t.Helper()
	count := "0"
	if !on {
		count = "inf"
	}
	resp, err := http.Post(e.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader(count))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset-auth: %s", resp.Status)
	}
}

// authorised is one request moto authorised while enforcement was on.
type authorised struct {
	Principal string `json:"principal"`
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	Allowed   bool   `json:"allowed"`
}

// authorisations reads the launcher's log of authorised requests.
func (e *awsEnv) authorisations(t *testing.T) []authorised {
	t.Helper()
	b, err := os.ReadFile(e.audit)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []authorised
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var a authorised
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("audit line %s: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}
