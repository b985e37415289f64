package auth

import (
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
// now may be nil (time.Now).
func NewFailureLimiter(burst int, refill time.Duration, now Clock) *FailureLimiter {
	if now == nil {
		now = time.Now
	}
	if burst < 1 {
		burst = 1
	}
	return &FailureLimiter{burst: float64(burst), refill: refill, now: now, buckets: map[netip.Prefix]*bucket{}}
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
	if l.refill > 0 {
		b.tokens += float64(now.Sub(b.at)) / float64(l.refill)
	} else {
		b.tokens = l.burst
	}
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.at = now
	return b.tokens
}

// Allowed reports whether src may still try.
func (l *FailureLimiter) Allowed(src netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[sourceKey(src)]
	if !ok {
		return true
	}
	return l.level(b, l.now()) >= 1
}

// Fail spends one attempt of src.
func (l *FailureLimiter) Fail(src netip.Addr) {
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
	l.level(b, now)
	if b.tokens >= 1 {
		b.tokens--
	}
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
