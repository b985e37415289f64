package wal

// Group commit: Append encodes a change into its route's pending buffer under
// mu; the flusher (run) takes every pending buffer at once, writes it, and
// with one fsync makes a whole batch of fsync-mode records durable, then
// wakes the batch's waiters. Durable and Barrier let replies wait on it.

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/store"
)

// Append logs c (see store.Journal). Ops whose prefix is in mode none are left
// out; the rest, even if they span prefixes, become ONE record in the file of
// the most durable prefix among them, so a Txn is never half on disk.
func (w *WAL) Append(c *store.Change) store.Waiter {
	w.mu.Lock()
	var target *route
	mode := ModeNone
	kept := 0
	for i := range c.Ops {
		rt, m := w.routeOf(&c.Ops[i])
		if m == ModeNone {
			continue
		}
		kept++
		if m > mode {
			target, mode = rt, m
		}
	}
	if kept == 0 {
		w.mu.Unlock()
		return doneWaiter{}
	}
	for w.pending >= 2*w.cfg.MaxPendingBytes && w.failed == nil {
		w.kickFlusher()
		w.metrics.backpressure.Inc()
		w.drained.Wait()
	}
	if w.failed != nil {
		err := w.failed
		w.mu.Unlock()
		if mode == ModeFsync {
			return doneWaiter{err: err}
		}
		w.metrics.droppedRecords.Inc()
		return doneWaiter{}
	}
	ops := c.Ops
	if kept < len(ops) {
		ops = make([]store.Op, 0, kept)
		for i := range c.Ops {
			if _, m := w.routeOf(&c.Ops[i]); m != ModeNone {
				ops = append(ops, c.Ops[i])
			}
		}
	}
	wasIdle := w.pending == 0
	w.seq++
	rec := Record{Seq: w.seq, Revision: c.Revision, Ops: ops}
	if len(target.buf) == 0 {
		target.firstSeq = rec.Seq
		w.dirty = append(w.dirty, target)
	}
	before := len(target.buf)
	target.buf = appendFrame(target.buf, &rec)
	target.lastSeq = rec.Seq
	target.count++
	w.pending += len(target.buf) - before
	var wt store.Waiter = doneWaiter{}
	kick := w.pending >= w.cfg.MaxPendingBytes
	switch {
	case kick || !wasIdle:
	case w.inline && time.Since(w.lastFlush) >= w.cfg.FlushInterval/inlineShare:
		w.pendingSince = time.Now()
		wt = flushOnReply{w}
	default:
		w.armTimerLocked()
	}
	if mode == ModeFsync {
		if w.syncWaiter == nil {
			w.syncWaiter = newBatch(c.Revision)
			if w.inflight == nil {
				w.minPending.Store(c.Revision)
			}
		}
		wt = w.syncWaiter
		kick = true
	}
	w.mu.Unlock()
	w.metrics.recordsByMode[mode].Inc()
	if kick {
		w.kickFlusher()
	}
	return wt
}

// inlineShare: a reply writes the pending data itself only if the last flush
// was at least FlushInterval/inlineShare ago, so replies make at most
// inlineShare flushes per FlushInterval and at high rates the flusher's
// batches take over.
const inlineShare = 4

// flushOnReply is the Waiter of a buffered record appended to an idle WAL
// that has no fsync-mode prefix: the reply writes the pending data itself,
// after the store's lock is released, instead of arming the flusher's timer.
// At a low rate that saves two thread wake-ups per write (the flusher's and
// its timer's; on a VM each costs more than the write(2) it leads to), and
// nothing ever waits on a disk: a write of buffered records to the page
// cache, no fsync (that stays the syncer's). If a flush is running (and may
// have taken its buffers before this record was appended) the timer is armed
// as usual instead.
type flushOnReply struct{ w *WAL }

func (f flushOnReply) Wait(context.Context) error {
	w := f.w
	if w.flushing.TryLock() {
		select {
		case <-w.stop: // the flusher's final flush took everything
		default:
			w.flush(false)
			w.metrics.replyFlushes.Inc()
		}
		w.flushing.Unlock()
		return nil
	}
	w.mu.Lock()
	if w.pending > 0 {
		w.armTimerLocked()
	}
	w.mu.Unlock()
	return nil // buffered: the record is not acknowledged on the disk's word
}

// armTimerLocked has the flusher write what is pending within FlushInterval.
// Caller holds mu.
func (w *WAL) armTimerLocked() {
	if !w.timerArmed {
		w.timerArmed = true
		w.flushTimer.Reset(w.cfg.FlushInterval)
	}
}

// kickFlusher wakes the flusher if it is not already due to run.
func (w *WAL) kickFlusher() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Durable returns a Waiter that is done once every fsync-mode record of a
// store revision up to rev is on disk (store.DurableReader). The store shows
// a change to readers and watchers as soon as it is applied in memory, before
// its fsync; a reply that reveals state at rev (a read, a failed compare, a
// delete of nothing, a watch event) must wait on this first, or a client can
// see a write the next crash loses. Cheap when nothing is pending: one atomic
// load. Lease grants and compactions carry the current revision, so waiting
// on the store's revision covers them too.
func (w *WAL) Durable(rev int64) store.Waiter {
	if rev < w.minPending.Load() {
		return doneWaiter{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.failed != nil:
		return doneWaiter{err: w.failed}
	case w.syncWaiter != nil && w.syncWaiter.minRev <= rev: // finished only after the in-flight batch
		return w.syncWaiter
	case w.inflight != nil && w.inflight.minRev <= rev:
		return w.inflight
	}
	return doneWaiter{}
}

// Barrier returns a Waiter that is done once every fsync-mode record
// appended so far is on disk.
func (w *WAL) Barrier() store.Waiter { return w.Durable(math.MaxInt64 - 1) }

// routeOf maps one op to its route and mode. Caller holds mu.
func (w *WAL) routeOf(op *store.Op) (*route, Mode) {
	switch op.Type {
	case store.OpPut, store.OpDelete:
		prefix, mode := w.cfg.Routing.Route(op.Key)
		if mode == ModeNone {
			return nil, ModeNone
		}
		rt := w.routes[string(prefix)]
		if rt == nil {
			rt = w.routeByName(routeName(prefix), mode)
			w.routes[string(prefix)] = rt
		}
		return rt, mode
	default:
		return w.meta, w.metaMode
	}
}

// run is the flusher: it writes whatever is pending when kicked (an fsync
// waiter, or too many buffered bytes), or FlushInterval after buffered data
// became pending (flushTimer, armed by Append, unless the reply writes it:
// flushOnReply). The timer runs only while data waits, so an idle WAL
// costs no wake-ups (with its thread locked, each one is a hand-off between
// OS threads: a ticker every 10 ms was most of an idle memetcd's CPU).
func (w *WAL) run() {
	defer close(w.stopped)
	// Only an fsync-mode WAL has waiters on the flusher's wake-up after an
	// fdatasync; without one, a locked thread is a hand-off between OS
	// threads at every flush and buys nothing.
	if w.cfg.FlusherSlice > 0 && w.metaMode == ModeFsync {
		// The thread stays locked until run returns, and then exits with
		// the goroutine: it never goes back to the runtime's pool with
		// its scheduling attributes.
		if err := lockFlusherThread(w.cfg.FlusherSlice); err != nil {
			w.log.Debug().Err(err).Msg("flusher keeps the default time slice")
		}
	}
	for {
		final := false
		select {
		case <-w.kick:
		case <-w.flushTimer.C:
		case <-w.stop:
			final = true
		}
		w.flushing.Lock()
		w.flush(final)
		w.flushing.Unlock()
		if final {
			return
		}
	}
}

// fail makes the WAL refuse durable writes from now on (see ErrFailed).
func (w *WAL) fail(err error) {
	err = fmt.Errorf("%w: %w", ErrFailed, err)
	w.mu.Lock()
	first := w.failed == nil
	if first {
		w.failed = err
		w.drained.Broadcast()
	}
	w.mu.Unlock()
	if first {
		// Counted once: the background syncer may retry the same file and
		// fail again, which is the same failure.
		w.metrics.writeErrors.Inc()
		w.log.Error().Err(err).Msg("wal write failed: refusing durable writes until restart")
	}
}

type pendingWrite struct {
	rt                *route
	buf               []byte
	firstSeq, lastSeq uint64
}

// flush writes every pending buffer; the caller holds flushing. When
// fsync-mode records are in it (or final is set) it then fsyncs every file
// with unsynced bytes, buffered ones too: an fsync-mode record must never be acknowledged while an earlier
// buffered record could still vanish, or replay would cut at the gap and
// drop the acknowledged one. Then it wakes the batch's waiters.
func (w *WAL) flush(final bool) {
	w.mu.Lock()
	// Whatever this flush takes no longer waits; data appended after it
	// takes the pending buffers arms the timer again.
	if w.timerArmed {
		w.timerArmed = false
		w.flushTimer.Stop()
	}
	w.lastFlush = time.Now()
	b := w.syncWaiter
	w.syncWaiter = nil
	w.inflight = b
	work := make([]pendingWrite, 0, len(w.dirty))
	records := 0
	for _, rt := range w.dirty {
		work = append(work, pendingWrite{rt: rt, buf: rt.buf, firstSeq: rt.firstSeq, lastSeq: rt.lastSeq})
		records += rt.count
		rt.buf, rt.spare, rt.count = rt.spare[:0], nil, 0
	}
	w.dirty = w.dirty[:0]
	w.pending = 0
	w.drained.Broadcast()
	failed := w.failed
	w.mu.Unlock()
	if b != nil {
		w.metrics.batchWait.Observe(time.Since(b.created).Seconds())
	}

	if failed != nil {
		b.finish(failed)
		return
	}
	err := w.writeAndSync(work, b != nil || final)
	if len(work) > 0 {
		w.metrics.batchRecords.Observe(float64(records))
	}
	if err != nil {
		w.fail(err)
	}

	w.mu.Lock()
	if err != nil {
		err = w.failed
	}
	w.inflight = nil
	switch {
	case err != nil && b != nil:
		// Leave minPending at the failed batch: reads at or after it
		// take the slow path and get the failure.
	case w.syncWaiter != nil:
		w.minPending.Store(w.syncWaiter.minRev)
	case err == nil:
		w.minPending.Store(math.MaxInt64)
	}
	for _, pw := range work {
		if pw.rt.spare == nil && cap(pw.buf) <= 4*w.cfg.MaxPendingBytes {
			pw.rt.spare = pw.buf[:0]
		}
	}
	w.mu.Unlock()
	// Waiters wake only now: the reply path's Durable check then finds
	// minPending past their batch (one atomic load) instead of queueing on
	// mu behind the appenders.
	b.finish(err)
}

func (w *WAL) writeAndSync(work []pendingWrite, sync bool) error {
	w.filesMu.Lock()
	defer w.filesMu.Unlock()
	for _, pw := range work {
		if err := w.writeRoute(pw); err != nil {
			return err
		}
	}
	if !sync {
		return nil
	}
	for _, rt := range w.byName {
		if rt.file == nil || rt.syncedTo >= rt.written {
			continue
		}
		start := time.Now()
		if err := rt.file.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", rt.segs[len(rt.segs)-1].path, err)
		}
		w.metrics.fsyncDuration.Observe(time.Since(start).Seconds())
		rt.syncedTo = rt.written
	}
	return nil
}

// batch is the Waiter shared by every fsync-mode record of one flush.
type batch struct {
	done    chan struct{}
	err     error
	minRev  int64     // store revision of the batch's first record
	created time.Time // when its first record was appended
}

func newBatch(minRev int64) *batch {
	return &batch{done: make(chan struct{}), minRev: minRev, created: time.Now()}
}

func (b *batch) finish(err error) {
	if b == nil {
		return
	}
	b.err = err
	close(b.done)
}

func (b *batch) Wait(ctx context.Context) error {
	// A finished batch answers even to a cancelled context: select would
	// pick between two ready cases at random.
	select {
	case <-b.done:
		return b.err
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("wal: waiting for fsync: %w", ctx.Err())
	}
}

type doneWaiter struct{ err error }

func (d doneWaiter) Wait(context.Context) error { return d.err }
