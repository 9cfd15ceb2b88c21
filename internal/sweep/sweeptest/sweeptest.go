// Package sweeptest holds the sweep engine's state and work queue in memory, with the
// state table's conditions, for tests and for trying the engine without AWS.
package sweeptest

import (
	"context"
	"sync"
	"time"

	"github.com/session-revoker/session-revoker/internal/outcome"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// Progress is the state table's sweep runs in memory, with the same conditions.
type Progress struct {
	mu   sync.Mutex
	runs map[string]*sweep.Run
	done map[string]map[int]bool
}

func NewProgress() *Progress {
	return &Progress{runs: map[string]*sweep.Run{}, done: map[string]map[int]bool{}}
}

func (m *Progress) Start(_ context.Context, run sweep.Run, stale time.Duration) (bool, sweep.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.runs[run.Name]; ok && !old.Summarized && run.StartedAt.Sub(old.UpdatedAt) < stale {
		return false, *old, nil
	}
	run.Counts = map[outcome.Status]int{}
	m.runs[run.Name], m.done[run.Name] = &run, map[int]bool{}
	return true, run, nil
}

func (m *Progress) Get(_ context.Context, name string) (sweep.Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[name]
	if !ok {
		return sweep.Run{}, false, nil
	}
	return *r, true, nil
}

func (m *Progress) Planned(_ context.Context, name, run string, step, listed, chunks int, done bool, counts map[outcome.Status]int) (sweep.Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.ID != run || r.Step != step {
		return sweep.Run{}, false, nil
	}
	r.Step, r.Listed, r.Planned, r.ListingDone = step+1, r.Listed+listed, r.Planned+chunks, done
	for st, n := range counts {
		r.Counts[st] += n
	}
	return *r, true, nil
}

func (m *Progress) ChunkDone(_ context.Context, name, run string, seq int, counts map[outcome.Status]int) (sweep.Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.ID != run || m.done[name][seq] {
		if r == nil {
			return sweep.Run{}, false, nil
		}
		return *r, false, nil
	}
	m.done[name][seq] = true
	r.Done++
	for st, n := range counts {
		r.Counts[st] += n
	}
	return *r, true, nil
}

func (m *Progress) Summarized(_ context.Context, name, run string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.ID != run || r.Summarized {
		return false, nil
	}
	r.Summarized = true
	return true, nil
}

func (m *Progress) Stop(_ context.Context, name, reason string) (sweep.Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.runs[name]
	if r == nil || r.Summarized {
		return sweep.Run{}, false, nil
	}
	r.Stopped, r.StopReason = true, reason
	return *r, true, nil
}

// Queue is the sweep queue: work in order, each with its receive count.
type Queue struct {
	mu    sync.Mutex
	items []queued
	sent  int
}

type queued struct {
	w        sweep.Work
	receives int
}

func (q *Queue) Send(_ context.Context, ws []sweep.Work) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range ws {
		// Through the encoding the real queue uses.
		b, err := sweep.Encode(w)
		if err != nil {
			return err
		}
		back, err := sweep.Decode(b)
		if err != nil {
			return err
		}
		q.items = append(q.items, queued{w: back})
		q.sent++
	}
	return nil
}

// Drain runs every message to the end, as the event source mapping would: a message
// whose handling fails comes back with its receive count up, until maxReceives; then it
// is dropped (the queue's redrive policy would move it to the failure queue).
func (q *Queue) Drain(handle func(w sweep.Work, receives int) error, maxReceives int) (failures []error) {
	for steps := 0; ; steps++ {
		if steps > 10_000_000 {
			panic("sweeptest: the queue never drained")
		}
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			return failures
		}
		it := q.items[0]
		q.items = q.items[1:]
		q.mu.Unlock()
		it.receives++
		if err := handle(it.w, it.receives); err != nil {
			failures = append(failures, err)
			if it.receives < maxReceives {
				q.mu.Lock()
				q.items = append(q.items, it)
				q.mu.Unlock()
			}
		}
	}
}

// Pop takes the next message off the queue, as a consumer receives it.
func (q *Queue) Pop() (sweep.Work, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return sweep.Work{}, false
	}
	it := q.items[0]
	q.items = q.items[1:]
	return it.w, true
}

// Len is how many messages wait; Sent how many were ever sent.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *Queue) Sent() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sent
}
