package relay

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

type fired struct {
	at   time.Time
	mu   *sync.Mutex
	got  *[][2]time.Time // due, fired
	done *sync.WaitGroup
}

func (f fired) expire() {
	now := time.Now()
	f.mu.Lock()
	*f.got = append(*f.got, [2]time.Time{f.at, now})
	f.mu.Unlock()
	f.done.Done()
}

// TestDeadlinesFireNotEarly: every entry fires once and never before its time,
// also when entries added later have earlier times (they must wake the loop).
func TestDeadlinesFireNotEarly(t *testing.T) {
	d := newDeadlines()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { d.run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	var (
		mu   sync.Mutex
		got  [][2]time.Time
		done sync.WaitGroup
	)
	const n = 500
	done.Add(n)
	base := time.Now()
	for i := range n {
		// Latest first, then ever earlier ones, then random.
		off := time.Duration(n-i) * 100 * time.Microsecond
		if i%2 == 1 {
			off = time.Duration(rand.IntN(50_000)) * time.Microsecond
		}
		at := base.Add(off)
		d.add(at, fired{at: at, mu: &mu, got: &got, done: &done})
	}
	done.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d of %d fired", len(got), n)
	}
	for _, g := range got {
		if g[1].Before(g[0]) {
			t.Fatalf("entry due at %v fired at %v", g[0], g[1])
		}
	}
	if d.len() != 0 {
		t.Fatalf("%d entries left", d.len())
	}
}
