package wal

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// lockFlusherThread locks the calling goroutine (the flusher) to its OS
// thread and asks the kernel for a short time slice for that thread.
//
// Why: a batch's waiters are acknowledged, and the next batch written, only
// once the flusher runs again after its fdatasync returns. On a machine whose
// cores are busy (with memetcd's own gRPC work, its clients, neighbours)
// Linux's EEVDF scheduler lets the thread that is running finish its slice
// (0.75 ms × (1 + log2 CPUs) by default) before the woken flusher gets the
// CPU, and every put queued behind the batch waits that long too. A thread
// that asks for a short slice (sched_setattr's sched_runtime on a
// SCHED_OTHER thread, Linux 6.12+) gets an earlier deadline and preempts on
// wake-up; it still gets no more CPU than its fair share. Unlike a negative
// nice value this needs no privilege. Older kernels accept the call and
// ignore the runtime.
func lockFlusherThread(slice time.Duration) error {
	runtime.LockOSThread()
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return fmt.Errorf("sched_getattr: %w", err)
	}
	if attr.Policy != unix.SCHED_NORMAL {
		return nil // an operator chose a policy; leave it
	}
	attr.Runtime = uint64(slice.Nanoseconds())
	attr.Flags = 0
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return fmt.Errorf("sched_setattr: %w", err)
	}
	return nil
}
