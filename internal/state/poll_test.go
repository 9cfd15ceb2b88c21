package state

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPollWatermark(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	key := unique(t, "graph/alerts/live/abc")

	wm, err := s.ClaimPoll(ctx, key, t0, time.Minute)
	if err != nil || !wm.IsZero() {
		t.Fatalf("first claim: %v %v, want no watermark", wm, err)
	}
	// A schedule firing while the first run holds it.
	if _, err := s.ClaimPoll(ctx, key, t0.Add(time.Second), time.Minute); !errors.Is(err, ErrPollBusy) {
		t.Fatalf("second claim: %v, want ErrPollBusy", err)
	}
	if err := s.SavePoll(ctx, key, t0, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleasePoll(ctx, key); err != nil {
		t.Fatal(err)
	}
	wm, err = s.ClaimPoll(ctx, key, t0.Add(time.Minute), time.Minute)
	if err != nil || !wm.Equal(t0) {
		t.Fatalf("after release: %v %v, want %v", wm, err, t0)
	}
	// A run that died: its lease ends and the next run takes over, watermark kept.
	wm, err = s.ClaimPoll(ctx, key, t0.Add(3*time.Minute), time.Minute)
	if err != nil || !wm.Equal(t0) {
		t.Fatalf("after an expired lease: %v %v", wm, err)
	}
	if exp, _ := number(getItem(t, "poll#"+key), "expiresAt"); exp < t0.Add(29*24*time.Hour).Unix() {
		t.Errorf("expiresAt %d: the watermark must outlive a month without polls", exp)
	}
	// Releasing a poll that has no item does nothing.
	if err := s.ReleasePoll(ctx, unique(t, "none")); err != nil {
		t.Error(err)
	}
}

func TestPolledAlertLifecycle(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	key := unique(t, "alerts/live/da637")
	const lease = time.Minute

	m, won, err := s.ClaimPolledAlert(ctx, key, t0, lease)
	if err != nil || !won || m.Attempts != 1 || m.Status != PolledClaimed {
		t.Fatalf("first claim: %+v %v %v", m, won, err)
	}
	// Another run meanwhile: held.
	m, won, err = s.ClaimPolledAlert(ctx, key, t0.Add(time.Second), lease)
	if err != nil || won || m.Status != PolledClaimed || !m.ClaimedAt.Equal(t0) {
		t.Fatalf("concurrent claim: %+v %v %v, want held", m, won, err)
	}
	// Not handled: released, attempts kept, the next poll takes it again.
	if err := s.ReleasePolledAlert(ctx, key, t0); err != nil {
		t.Fatal(err)
	}
	m, won, err = s.ClaimPolledAlert(ctx, key, t0.Add(time.Minute), lease)
	if err != nil || !won || m.Attempts != 2 {
		t.Fatalf("claim after release: %+v %v %v, want attempt 2", m, won, err)
	}
	// A release of the older claim leaves the newer one alone.
	if err := s.ReleasePolledAlert(ctx, key, t0); err != nil {
		t.Fatal(err)
	}
	if _, won, _ := s.ClaimPolledAlert(ctx, key, t0.Add(61*time.Second), lease); won {
		t.Fatal("a stale release freed a live claim")
	}
	if err := s.CompletePolledAlert(ctx, key, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Done: never claimed again, however late.
	for _, at := range []time.Duration{3 * time.Minute, 25 * time.Hour} {
		m, won, err = s.ClaimPolledAlert(ctx, key, t0.Add(at), lease)
		if err != nil || won || m.Status != PolledDone || m.Attempts != 2 {
			t.Fatalf("claim of a done alert %v later: %+v %v %v", at, m, won, err)
		}
	}
	if exp, _ := number(getItem(t, "polled#"+key), "expiresAt"); exp < t0.Add(29*24*time.Hour).Unix() {
		t.Errorf("expiresAt %d: a done mark must outlive every listing window by far", exp)
	}
}

func TestPolledAlertGivenUpAndStale(t *testing.T) {
	s := New(client, table)
	ctx := context.Background()
	const lease = time.Minute

	key := unique(t, "riskDetections/live/6a2b")
	if _, won, err := s.ClaimPolledAlert(ctx, key, t0, lease); !won || err != nil {
		t.Fatal(won, err)
	}
	if err := s.GiveUpPolledAlert(ctx, key, "req-1", "names no user: nothing to revoke", t0); err != nil {
		t.Fatal(err)
	}
	m, won, err := s.ClaimPolledAlert(ctx, key, t0.Add(time.Hour), lease)
	if err != nil || won || m.Status != PolledGivenUp || m.RequestID != "req-1" || m.Reason != "names no user: nothing to revoke" {
		t.Fatalf("%+v %v %v", m, won, err)
	}

	// A mark DynamoDB has not yet removed, past its expiry, counts as no mark.
	m, won, err = s.ClaimPolledAlert(ctx, key, t0.Add(31*24*time.Hour), lease)
	if err != nil || !won || m.Attempts != 1 {
		t.Fatalf("after the mark expired: %+v %v %v", m, won, err)
	}

	// A claim whose run died is taken over after its lease.
	key = unique(t, "alerts/live/stale")
	if _, won, _ := s.ClaimPolledAlert(ctx, key, t0, lease); !won {
		t.Fatal("first claim refused")
	}
	m, won, err = s.ClaimPolledAlert(ctx, key, t0.Add(lease+time.Millisecond), lease)
	if err != nil || !won || m.Attempts != 2 {
		t.Fatalf("takeover: %+v %v %v", m, won, err)
	}
}

// Of many runs claiming one alert at once, exactly one wins.
func TestPolledAlertConcurrent(t *testing.T) {
	s := New(client, table)
	key := unique(t, "alerts/live/race")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, won, err := s.ClaimPolledAlert(context.Background(), key, t0, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d runs won the claim", wins)
	}
}

func TestPollWithoutTable(t *testing.T) {
	s := New(client, "")
	if _, err := s.ClaimPoll(context.Background(), "p", t0, time.Minute); err == nil {
		t.Error("claim without a table")
	}
	var e *Error
	if _, _, err := s.ClaimPolledAlert(context.Background(), "a", t0, time.Minute); !errors.As(err, &e) || e.Kind != Config {
		t.Errorf("%v", err)
	}
}
