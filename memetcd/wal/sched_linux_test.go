package wal

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockFlusherThread: the flusher's thread gets the short slice, and only
// that thread: goroutines elsewhere keep the default.
func TestLockFlusherThread(t *testing.T) {
	type result struct {
		runtime uint64
		err     error
	}
	got := make(chan result)
	go func() {
		// Exits locked, so the thread with the changed slice is not reused.
		if err := lockFlusherThread(200 * time.Microsecond); err != nil {
			got <- result{err: err}
			return
		}
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			got <- result{err: err}
			return
		}
		got <- result{runtime: attr.Runtime}
	}()
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.runtime == 0 {
		t.Skip("kernel reports no custom slice (Linux before 6.12 ignores it)")
	}
	if r.runtime != 200_000 {
		t.Fatalf("flusher thread slice %d ns, want 200000", r.runtime)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if attr.Runtime == 200_000 {
		t.Fatalf("another thread got the flusher's slice")
	}
}
