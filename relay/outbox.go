package relay

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outbox is the bounded queue feeding one stream. Producers never block (they
// run on other streams' receive loops, which must keep draining); the sender
// takes whatever has piled up, so batches grow exactly when the link is busy.
// A queue that reaches its limit belongs to a stream that does not drain (a
// stalled or hostile peer): the queue is dropped, the overflow counted, and
// the stream draining it closed (kick), so the link starts over.
type outbox[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{}
	limit  int // most queued values; 0: no limit
	// kick closes the stream currently draining the outbox; nil between
	// streams.
	kick       func()
	overflows  prometheus.Counter
	overflowed bool // set by an overflow, for the stream's owner to see

	// delay is how long a busy sender waits for a short batch to fill (see
	// take); patient: every sender waits, busy or not (what it sends is never
	// urgent). The fields below belong to the one goroutine that takes.
	delay    time.Duration
	patient  bool
	lastTake time.Time
	timer    *time.Timer
}

// busyFactor: a sender that took within busyFactor*delay counts as busy.
const busyFactor = 5

// newOutbox returns an outbox whose busy sender waits up to delay for a short
// batch to fill (0: never waits), holding at most limit values (0: no limit);
// overflows (may be nil) counts the times it overflowed.
func newOutbox[T any](delay time.Duration, limit int, overflows prometheus.Counter) *outbox[T] {
	return &outbox[T]{wake: make(chan struct{}, 1), delay: delay, limit: limit, overflows: overflows}
}

// setKick names what closes the stream now draining the outbox (nil: none).
func (o *outbox[T]) setKick(kick func()) {
	o.mu.Lock()
	o.kick = kick
	o.mu.Unlock()
}

// push queues vs; it returns false when the outbox is closed or overflowed
// (vs and everything queued are then dropped and the stream kicked).
func (o *outbox[T]) push(vs ...T) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if o.limit > 0 && len(o.items)+len(vs) > o.limit {
		o.items = nil
		o.overflowed = true
		kick := o.kick
		o.mu.Unlock()
		if o.overflows != nil {
			o.overflows.Inc()
		}
		if kick != nil {
			kick()
		}
		return false
	}
	o.items = append(o.items, vs...)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// requeue puts vs back in front (a failed stream's unacknowledged messages).
func (o *outbox[T]) requeue(vs []T) {
	if len(vs) == 0 {
		return
	}
	o.mu.Lock()
	o.items = append(vs[:len(vs):len(vs)], o.items...)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take waits for at least one queued value and returns up to max of them.
//
// Scores and verdicts are produced one per item and member, and each message
// costs syscalls and framing on both ends whatever it carries. So when the
// sender is busy (it took less than busyFactor*delay ago) and fewer than max
// values are queued, take first waits delay for more to pile up. An idle link
// sends at once, so a lone item pays no delay. A patient outbox always waits.
func (o *outbox[T]) take(ctx context.Context, max int) ([]T, error) {
	lingered := false
	for {
		o.mu.Lock()
		if n := len(o.items); n > 0 {
			if !lingered && n < max && o.delay > 0 {
				if now := time.Now(); o.patient || now.Sub(o.lastTake) < busyFactor*o.delay {
					o.mu.Unlock()
					lingered = true
					if !o.linger(ctx, max) {
						return nil, ctx.Err()
					}
					continue
				}
			}
			o.lastTake = time.Now()
			var out []T
			if n <= max {
				// The common case: hand over the whole queue without copying.
				out, o.items = o.items, nil
			} else {
				out = make([]T, max)
				copy(out, o.items)
				o.items = o.items[max:]
			}
			o.mu.Unlock()
			return out, nil
		}
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-o.wake:
		}
	}
}

// linger waits o.delay, or less once max values are queued; false when ctx
// ended first.
func (o *outbox[T]) linger(ctx context.Context, max int) bool {
	if o.timer == nil {
		o.timer = time.NewTimer(o.delay)
	} else {
		o.timer.Reset(o.delay)
	}
	for {
		select {
		case <-ctx.Done():
			o.timer.Stop()
			return false
		case <-o.timer.C:
			return true
		case <-o.wake:
			if o.len() >= max {
				o.timer.Stop()
				return true
			}
		}
	}
}

// close stops accepting values and returns what was still queued.
func (o *outbox[T]) close() []T {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	rest := o.items
	o.items = nil
	return rest
}

// hasOverflowed reports whether the outbox ever overflowed.
func (o *outbox[T]) hasOverflowed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.overflowed
}

// len is the number of queued values.
func (o *outbox[T]) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// drop discards everything queued (the caller re-routes it elsewhere).
func (o *outbox[T]) drop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = nil
}
