// Package wait is the one way this code pauses: for a duration, or until its context ends,
// whichever comes first. Every retry, pace and poll loop waits through it, so none can
// outlive the invocation that runs it.
package wait

import (
	"context"
	"time"
)

// For waits d, or until ctx ends; then it returns ctx's error.
func For(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
