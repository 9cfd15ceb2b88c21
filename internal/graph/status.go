package graph

import (
	"context"
	"net/http"

	khttp "github.com/microsoft/kiota-http-go"
)

// kiota treats any status below 400 as success, and its redirect handler hands back a 3xx
// that has no Location as it is: a 304 from a proxy would read as a revoke. The revoke
// call records the status it actually got, and only a 2xx counts.

type statusKey struct{}

// withStatus returns a context in which the pipeline records the final status into *got.
func withStatus(ctx context.Context, got *int) context.Context {
	return context.WithValue(ctx, statusKey{}, got)
}

// statusRecorder is the last middleware before the transport's answer comes back up.
type statusRecorder struct{}

func (statusRecorder) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	resp, err := p.Next(req, i)
	if resp != nil {
		if got, ok := req.Context().Value(statusKey{}).(*int); ok {
			*got = resp.StatusCode
		}
	}
	return resp, err
}
