package poll

import (
	"fmt"
	"time"
)

// A source's watermark is the lastUpdate time its next listing starts from. A poll that
// read every page and handled every matching alert sets it to its own start less the
// overlap; a poll that did not leaves it where it was, so its retry reads the same
// alerts again. A first run pins it at its look-back before it lists anything, so a first
// run that fails midway is retried over the same window, not one sliding with the clock.
//
// The start is this function's clock, taken before the first page is asked for, not the
// newest time Graph returned: it moves on when no alert arrives, and no alert updated
// after it can have been missed by the listing. The overlap covers what Graph's own
// times do not: an alert that becomes visible minutes after its lastUpdate (Defender
// correlates; Identity Protection writes offline detections late) and the skew between
// the two clocks. Whatever the overlap lists again is recognised by its id and not acted
// on twice.

// Window says from which lastUpdate time a poll starting at now lists, and, when that is
// not the watermark, why.
func Window(watermark, now time.Time, lookBack, overlap time.Duration) (from time.Time, note string) {
	floor := now.Add(-MaxCatchUp)
	switch {
	case watermark.IsZero():
		from = now.Add(-lookBack)
		note = fmt.Sprintf("first run: reading back %v", lookBack)
	case watermark.After(now):
		// The clock moved back, or a clock ahead of this one wrote it: do not wait for it
		// to catch up, read the overlap before now.
		from = now.Add(-overlap)
		note = fmt.Sprintf("the watermark %s is later than now: reading the overlap before now", stamp(watermark))
	default:
		from = watermark
	}
	if from.Before(floor) {
		note = fmt.Sprintf("no poll has completed since %s, more than %v ago: alerts last updated before %s are not read again", stamp(watermark), MaxCatchUp, stamp(floor))
		from = floor
	}
	return from, note
}

// Next is the watermark a poll that started at start leaves when it handled everything.
func Next(start time.Time, overlap time.Duration) time.Time { return start.Add(-overlap) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
