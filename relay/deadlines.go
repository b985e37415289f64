package relay

import (
	"context"
	"sync"
	"time"
)

// deadlines runs expiries at their times from one goroutine per member. Every
// gather, pending report and origin backstop has a deadline; a runtime timer
// each (created, and nearly always stopped before it fires) cost more CPU per
// item than the heap that replaces them. Entries are not removed when their item
// finishes early: at its time an entry's expire checks whether it still applies.
type deadlines struct {
	mu sync.Mutex
	h  []deadline // min-heap on at
	// wake tells the loop that the earliest deadline moved earlier.
	wake chan struct{}
}

// expirer is what a deadline runs: it must check that it still applies (the
// item may have been decided or answered meanwhile) and must not block.
type expirer interface{ expire() }

type deadline struct {
	at int64 // UNIX nanoseconds
	x  expirer
}

func newDeadlines() *deadlines { return &deadlines{wake: make(chan struct{}, 1)} }

// add schedules x.expire at at.
func (d *deadlines) add(at time.Time, x expirer) {
	e := deadline{at: at.UnixNano(), x: x}
	d.mu.Lock()
	d.h = append(d.h, e)
	i := len(d.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if d.h[p].at <= e.at {
			break
		}
		d.h[i] = d.h[p]
		i = p
	}
	d.h[i] = e
	earliest := i == 0
	d.mu.Unlock()
	if earliest {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// popDue removes the entries due at now, appending them to due; it returns
// how long until the next one (an hour when there is none).
func (d *deadlines) popDue(now int64, due []expirer) ([]expirer, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.h) > 0 && d.h[0].at <= now {
		due = append(due, d.h[0].x)
		last := len(d.h) - 1
		e := d.h[last]
		d.h[last] = deadline{} // drop the reference
		d.h = d.h[:last]
		if last > 0 {
			d.siftDown(e)
		}
	}
	if len(d.h) == 0 {
		if cap(d.h) > 1024 {
			d.h = nil // let a burst's backing array go
		}
		return due, time.Hour
	}
	return due, time.Duration(d.h[0].at - now)
}

// siftDown places e, replacing the root.
func (d *deadlines) siftDown(e deadline) {
	n := len(d.h)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && d.h[c+1].at < d.h[c].at {
			c++
		}
		if e.at <= d.h[c].at {
			break
		}
		d.h[i] = d.h[c]
		i = c
	}
	d.h[i] = e
}

// len is the number of scheduled entries.
func (d *deadlines) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.h)
}

// run fires entries as they come due until ctx is done.
func (d *deadlines) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []expirer
	for {
		var wait time.Duration
		due, wait = d.popDue(time.Now().UnixNano(), due[:0])
		for i, x := range due {
			x.expire()
			due[i] = nil
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}
