// Package webhookaws is the AWS edge of the webhook endpoint: the EventBridge bus and the
// Secrets Manager keyring behind internal/webhook's interfaces, the Lambda function URL
// event in and out, and the wiring from the environment that functions/webhook runs.
//
// It uses only aws-sdk-go-v2 (EventBridge, Secrets Manager through the AWS caching library)
// and aws-lambda-go: it must never import internal/graph, internal/app or anything that
// pulls in the Graph SDK, so the endpoint holds no Graph credential and builds in seconds.
// It must never log a body, a path, a header or a key.
package webhookaws
