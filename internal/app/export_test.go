package app

import "time"

// SetRefreshEvery lets a test see a second rotation within the minute.
func SetRefreshEvery(d time.Duration) (restore func()) {
	old := refreshEvery
	refreshEvery = d
	return func() { refreshEvery = old }
}
