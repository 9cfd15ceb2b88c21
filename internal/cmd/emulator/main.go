// Command emulator runs the Graph and Entra ID emulator (package graphemu) as a process, for
// local runs of the project's tools against the real SDKs. It is a test double: never point a
// production configuration at it.
//
// It prints KEY=VALUE lines for the environment of the program under test, logs one line per
// request to stderr, and runs until SIGINT or SIGTERM:
//
//	eval "$(go run ./internal/cmd/emulator)"   # or read the lines from its stdout
//
// azidentity must also be told DisableInstanceDiscovery, or MSAL asks the real
// login.microsoftonline.com about the emulator's host.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/session-revoker/session-revoker/internal/graphemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "emulator:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done; it is main without the process, so it can be tested.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	users, err := loadUsers(args, stderr)
	if err != nil {
		return err
	}
	srv := graphemu.NewServer(users, graphemu.WithRequestLog(stderr))
	defer srv.Close()

	dir, err := os.MkdirTemp("", "graphemu-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certFile := filepath.Join(dir, "graphemu-ca.pem")
	if err := os.WriteFile(certFile, srv.CertificatePEM(), 0o644); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "GRAPH_BASE_URL=%s\n", srv.GraphRoot())
	fmt.Fprintf(stdout, "AZURE_AUTHORITY_HOST=%s\n", srv.AuthorityHost())
	fmt.Fprintf(stdout, "SSL_CERT_FILE=%s\n", certFile)
	fmt.Fprintf(stdout, "EMULATOR_TENANT_ID=%s\n", srv.TenantID)
	fmt.Fprintf(stdout, "EMULATOR_CLIENT_ID=%s\n", srv.ClientID)
	fmt.Fprintf(stdout, "EMULATOR_CLIENT_SECRET=%s\n", srv.ClientSecret)

	<-ctx.Done()
	return nil
}

// loadUsers reads the -users directory file, or the embedded contoso directory without one.
func loadUsers(args []string, stderr io.Writer) ([]graphemu.User, error) {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usersFile := fs.String("users", "", "JSON directory file {\"users\": [...]}; default: the embedded contoso directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *usersFile == "" {
		return graphemu.DefaultUsers(), nil
	}
	f, err := os.Open(*usersFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return graphemu.LoadUsers(f)
}
