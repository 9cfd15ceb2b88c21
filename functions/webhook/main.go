// Command webhook is the alert endpoint for SIEMs that push: a Lambda function URL whose
// paths, one per source, authenticate each product's request and put its body on the
// alert bus. Everything it does lives in internal/webhook; this file only reads
// configuration, builds the endpoint once per container and hands it to the runtime.
// It holds no Graph credential and does not link the Graph SDK.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/session-revoker/session-revoker/internal/webhookaws"
)

func main() {
	log := webhookaws.Logger(os.Stdout, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := webhookaws.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	ep, err := webhookaws.New(context.Background(), cfg, log)
	if err != nil {
		log.Error("startup", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(webhookaws.FunctionURLHandler(ep))
}
