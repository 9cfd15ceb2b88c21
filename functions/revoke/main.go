// Command revoke is the session-revoker Lambda function: an alert in, the named users'
// Entra ID sign-in sessions revoked, a structured result out. Everything it does lives in
// internal/; this file only reads configuration, builds the handler once per container
// and hands it to the Lambda runtime.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/session-revoker/session-revoker/internal/app"
)

func main() {
	log := app.Logger(os.Stdout, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := app.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	h, err := app.New(context.Background(), cfg, log)
	if err != nil {
		log.Error("startup", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
