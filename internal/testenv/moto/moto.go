// Package moto starts moto_server, the in-memory AWS emulator, on a free loopback port, so
// the real aws-sdk-go-v2 clients can be tested over the wire. It is for tests and the
// local tools only; nothing in the function imports it.
package moto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Server is a running moto_server.
type Server struct {
	URL   string // http://127.0.0.1:PORT
	cmd   *exec.Cmd
	stdin io.Closer // Launch: the script serves until its stdin closes
}

// ErrMissing says moto_server is not installed.
var ErrMissing = errors.New("moto_server not found on PATH or in ~/.pyenv/shims: it comes with the machine image (moto 5.2.1); elsewhere: pip install 'moto[server]'")

// Find returns the command that runs moto_server.
func Find() ([]string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}, nil
	}
	home, _ := os.UserHomeDir()
	shim := filepath.Join(home, ".pyenv", "shims", "moto_server")
	if st, err := os.Stat(shim); err == nil && !st.IsDir() {
		return []string{shim}, nil
	}
	return nil, ErrMissing
}

// Start runs moto_server on a free port of 127.0.0.1 and waits until it answers.
func Start(ctx context.Context) (*Server, error) {
	argv, err := Find()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], append(argv[1:], "-H", "127.0.0.1", "-p", fmt.Sprint(port))...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so Stop ends pyenv's shim and python both
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("moto_server exited before answering: %v", err)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
	}
	s.Stop()
	return nil, errors.New("moto_server did not answer within 30 s")
}

// ErrNoPython says no Python with moto and the SAM translator was found.
var ErrNoPython = errors.New("python3 with moto 5.2.1, aws-sam-translator and cfn-lint not found (tried python3 on PATH and ~/.pyenv/shims/python3): they come with the machine image; elsewhere: pip install 'moto[server]' cfn-lint")

var python struct {
	once sync.Once
	path string
	err  error
}

// Python returns the python3 that has moto, the SAM translator and cfn-lint: PATH's first,
// else pyenv's (a bare shell lacks its shims on PATH, and the system python lacks moto).
func Python() (string, error) {
	python.once.Do(func() {
		home, _ := os.UserHomeDir()
		candidates := []string{filepath.Join(home, ".pyenv", "shims", "python3")}
		if p, err := exec.LookPath("python3"); err == nil {
			candidates = append([]string{p}, candidates...)
		}
		for _, p := range candidates {
			if exec.Command(p, "-c", "import moto, samtranslator, cfnlint").Run() == nil {
				python.path = p
				return
			}
		}
		python.err = ErrNoPython
	})
	return python.path, python.err
}

// Launch runs a Python script that serves moto in-process (moto's ThreadedMotoServer, where
// the script can correct moto) and prints "listening http://127.0.0.1:PORT" once it
// answers; it serves until Stop closes its stdin. The script's other output goes to log.
func Launch(ctx context.Context, log io.Writer, script string, args ...string) (*Server, error) {
	py, err := Python()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(py, append([]string{script}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", script, err)
	}
	s := &Server{cmd: cmd, stdin: stdin}
	url := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
				url <- u
			} else {
				fmt.Fprintln(log, lines.Text())
			}
		}
		close(url)
		_ = cmd.Wait() // reaped, so Stop sees the process group gone
	}()
	select {
	case u, ok := <-url:
		if !ok {
			s.Stop()
			return nil, fmt.Errorf("%s exited before serving (its errors are in the test log)", script)
		}
		s.URL = u
		return s, nil
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("%s did not serve within 60 s", script)
	}
}

// Env is what an AWS SDK client needs to reach this server instead of AWS.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":      s.URL,
		"AWS_ACCESS_KEY_ID":     "testing",
		"AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_SESSION_TOKEN":     "testing",
		"AWS_REGION":            "us-east-1",
		// Never read a developer's real profile or IMDS while pointed at moto.
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// Stop ends the server and its process group.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if s.stdin != nil {
		s.stdin.Close()
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			if syscall.Kill(-s.cmd.Process.Pid, 0) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	<-done
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PutSecret creates (or overwrites) a secret in the server the environment points at.
func PutSecret(ctx context.Context, id, value string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value)})
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)})
	}
	return err
}

// CreateStateTable creates the function's state table as template.yaml defines it: a
// string partition key pk and TTL on expiresAt.
func CreateStateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}},
		BillingMode:          dbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)},
	})
	return err
}
