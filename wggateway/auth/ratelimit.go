package auth

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// FailureLimiter budgets failed authentications per source with a token
// bucket: each source may fail Burst times, and earns one more attempt every
// Refill. IPv6 sources are grouped by /64, because one host usually owns a
// whole /64 and could otherwise rotate addresses to reset its budget.
type FailureLimiter struct {
	burst  float64
	refill time.Duration
	now    Clock

	// mu guards buckets.
	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// maxSources caps the table so a flood of distinct sources cannot grow it
// without bound; full buckets are dropped first because they carry no state.
const maxSources = 65536

// NewFailureLimiter allows burst failures per source, refilling one per refill.
// now may be nil (time.Now). A zero refill is refused rather than read as "no
// limit": a limiter that never limits is a configuration mistake.
func NewFailureLimiter(burst int, refill time.Duration, now Clock) (*FailureLimiter, error) {
	if burst < 1 {
		return nil, errors.New("auth failure burst must be at least 1")
	}
	if refill <= 0 {
		return nil, errors.New("auth failure refill must be positive")
	}
	if now == nil {
		now = time.Now
	}
	return &FailureLimiter{burst: float64(burst), refill: refill, now: now, buckets: map[netip.Prefix]*bucket{}}, nil
}

func sourceKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	p, _ := a.Prefix(a.BitLen())
	return p
}

// level brings b up to date and returns its tokens. Caller holds mu.
func (l *FailureLimiter) level(b *bucket, now time.Time) float64 {
	b.tokens += float64(now.Sub(b.at)) / float64(l.refill)
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.at = now
	return b.tokens
}

// Reserve spends one attempt of src before its credentials are looked at, and
// reports whether src had one. Checking and charging in one step under mu is
// what makes N concurrent guesses cost N: a separate "allowed?" then "fail"
// would let every guess in flight pass the check before any is charged.
// A request that then authenticates gives the attempt back with Refund.
func (l *FailureLimiter) Reserve(src netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := sourceKey(src)
	b, ok := l.buckets[k]
	if !ok {
		if len(l.buckets) >= maxSources {
			l.pruneLocked(now)
		}
		if len(l.buckets) >= maxSources {
			// Still full: forget an arbitrary source. That source gets a fresh
			// budget, which is a better failure than unbounded memory.
			for k := range l.buckets {
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[k] = b
	}
	if l.level(b, now) < 1 {
		return false
	}
	b.tokens--
	return true
}

// Refund returns the attempt Reserve took from src after it authenticated.
// A source back at its full budget is forgotten, so sources that only ever
// succeed (every healthy node) do not fill the table.
func (l *FailureLimiter) Refund(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := sourceKey(src)
	b, ok := l.buckets[k]
	if !ok {
		return
	}
	if l.level(b, l.now())+1 >= l.burst {
		delete(l.buckets, k)
		return
	}
	b.tokens++
}

// pruneLocked drops sources whose budget has fully refilled.
func (l *FailureLimiter) pruneLocked(now time.Time) {
	for k, b := range l.buckets {
		if l.level(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// Sources is the number of sources tracked (for tests and debugging).
func (l *FailureLimiter) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
