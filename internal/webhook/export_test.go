package webhook

// SetConstantTimeEqual replaces the comparison every authentication decision makes, so a
// test can count the calls and see their arguments.
func SetConstantTimeEqual(f func(x, y []byte) int) (restore func()) {
	old := constantTimeEqual
	constantTimeEqual = f
	return func() { constantTimeEqual = old }
}

// DetailProblem is detailProblem, for the fuzz target that holds it to encoding/json.
var DetailProblem = detailProblem

// ParseTimestamp is parseTimestamp.
var ParseTimestamp = parseTimestamp

// ForgetReplays empties the replay cache, so a benchmark can send one signed delivery
// again and again.
func (e *Endpoint) ForgetReplays() {
	e.replays.mu.Lock()
	e.replays.until = nil
	e.replays.mu.Unlock()
}
