package app

import (
	"context"
	"errors"
	"time"

	"github.com/session-revoker/session-revoker/internal/poll"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/state"
)

// ListAlerts reads a poll's page through the same rotation as the revoke calls.
func (r *rotating) ListAlerts(ctx context.Context, link string) (poll.Page, error) {
	var p poll.Page
	err := r.do(ctx, func(g revoke.Graph) error {
		l, ok := g.(poll.Lister)
		if !ok {
			return &revoke.Error{Kind: revoke.Other, Message: "this Graph client cannot list alerts"}
		}
		var err error
		p, err = l.ListAlerts(ctx, link)
		return err
	})
	return p, err
}

// pollListerOf gives polls the rotating client, built as for the revoke calls.
func pollListerOf(connect revoke.Connect) func(context.Context) (poll.Lister, error) {
	return func(ctx context.Context) (poll.Lister, error) {
		g, err := connect(ctx)
		if err != nil {
			return nil, err
		}
		l, ok := g.(poll.Lister)
		if !ok {
			return nil, errors.New("the Graph client cannot list alerts")
		}
		return l, nil
	}
}

// pollStore is the state table as polls see it.
type pollStore struct{ store *state.Store }

func (p pollStore) ClaimWatermark(ctx context.Context, key string, now time.Time, lease time.Duration) (time.Time, error) {
	wm, err := p.store.ClaimPoll(ctx, key, now, lease)
	if errors.Is(err, state.ErrPollBusy) {
		return time.Time{}, poll.ErrBusy
	}
	return wm, err
}

func (p pollStore) SaveWatermark(ctx context.Context, key string, watermark, now time.Time) error {
	return p.store.SavePoll(ctx, key, watermark, now)
}

func (p pollStore) ReleaseWatermark(ctx context.Context, key string) error {
	return p.store.ReleasePoll(ctx, key)
}

func (p pollStore) ClaimAlert(ctx context.Context, key string, now time.Time, lease time.Duration) (poll.Mark, bool, error) {
	m, won, err := p.store.ClaimPolledAlert(ctx, key, now, lease)
	st := map[string]string{state.PolledClaimed: poll.MarkClaimed, state.PolledDone: poll.MarkDone, state.PolledGivenUp: poll.MarkGivenUp}[m.Status]
	return poll.Mark{State: st, Attempts: m.Attempts, RequestID: m.RequestID, Reason: m.Reason}, won, err
}

func (p pollStore) CompleteAlert(ctx context.Context, key string, now time.Time) error {
	return p.store.CompletePolledAlert(ctx, key, now)
}

func (p pollStore) ReleaseAlert(ctx context.Context, key string, claimedAt time.Time) error {
	return p.store.ReleasePolledAlert(ctx, key, claimedAt)
}

func (p pollStore) GiveUpAlert(ctx context.Context, key, requestID, reason string, now time.Time) error {
	return p.store.GiveUpPolledAlert(ctx, key, requestID, reason, now)
}
