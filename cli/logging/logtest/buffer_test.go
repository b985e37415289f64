package logtest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

var _ io.Writer = (*Buffer)(nil)

// TestConcurrentWrites: writes from many goroutines all arrive, whole, while
// the buffer is read (run with -race).
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "g%d-%d\n", g, i)
				_ = b.Contains("g0-0")
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	if !b.Contains("g7-99\n") || b.Contains("g8-0") {
		t.Fatalf("Contains disagrees with the writes:\n%s", b.String())
	}
}

func TestTail(t *testing.T) {
	var b Buffer
	if got := b.Tail(4); got != "" {
		t.Fatalf("empty Tail(4) = %q", got)
	}
	b.Write([]byte("abc"))
	if got := b.Tail(4); got != "abc" {
		t.Fatalf("Tail(4) of %q = %q", "abc", got)
	}
	b.Write([]byte("defg"))
	if got := b.Tail(4); got != "defg" {
		t.Fatalf("Tail(4) of %q = %q", "abcdefg", got)
	}
}

func TestWaitFor(t *testing.T) {
	t.Run("already written", func(t *testing.T) {
		var b Buffer
		b.Write([]byte("ready\n"))
		if !b.WaitFor(context.Background(), "ready") {
			t.Fatal("WaitFor missed what was already written")
		}
	})
	t.Run("written later, across writes", func(t *testing.T) {
		var b Buffer
		go func() {
			for _, s := range []string{"noise\n", "rea", "dy\n"} {
				time.Sleep(10 * time.Millisecond)
				b.Write([]byte(s))
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !b.WaitFor(ctx, "ready") {
			t.Fatalf("WaitFor gave up; buffer holds %q", b.String())
		}
	})
	t.Run("never written", func(t *testing.T) {
		var b Buffer
		b.Write([]byte("noise\n"))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if b.WaitFor(ctx, "ready") {
			t.Fatal("WaitFor found what was never written")
		}
	})
}
