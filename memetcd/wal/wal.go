package wal

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Config is everything Open needs; zero values take the documented defaults.
type Config struct {
	// Dir holds the segments and snapshots; created if missing.
	Dir string
	// Routing maps keys to prefixes and modes.
	Routing Routing
	// FlushInterval bounds how far buffered-mode writes may lag the disk.
	// Default 10ms.
	FlushInterval time.Duration
	// SegmentBytes is the size after which a prefix starts a new segment.
	// Default 64 MiB.
	SegmentBytes int64
	// MaxPendingBytes wakes the flusher early when this much buffered data is
	// waiting. At twice this much, Append blocks (and with it the store's
	// writers) until the flusher has taken the pending data: back-pressure,
	// so a disk slower than the write rate bounds memory rather than letting
	// the buffer grow. Default 4 MiB.
	MaxPendingBytes int
	// PreallocBytes is how far ahead of its last record an fsync-mode
	// segment is zero-filled. A batch then overwrites blocks the file
	// already has, so its fdatasync writes the data alone; an append also
	// has to commit the file's new size through the filesystem's journal,
	// shared with every other writer on the disk (BENCHMARKS.md: "fdatasync
	// on this disk"). One batch in every PreallocBytes of records pays for
	// the zeros; the space is truncated away when the segment is closed.
	// Default 1 MiB; negative: append without preallocating.
	PreallocBytes int64
	// FlusherSlice is the CPU time slice the flusher's thread asks the
	// kernel for, so it runs as soon as an fdatasync returns instead of
	// after the running thread's full slice (see lockFlusherThread).
	// Default 100µs (the kernel's minimum); negative: leave the thread to
	// the default scheduling.
	FlusherSlice time.Duration
	// Repair truncates at the first bad record instead of refusing to boot
	// (--wal-repair). Everything after that point is lost, so it is an
	// operator's decision, never the default.
	Repair bool

	// openFile opens segments; tests replace it to inject disk errors.
	openFile openFileFunc
}

// Defaults of Config.PreallocBytes and Config.FlusherSlice (and of the
// memetcd flags that set them).
const (
	DefaultPreallocBytes = 1 << 20
	DefaultFlusherSlice  = 100 * time.Microsecond
)

func (c *Config) setDefaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 10 * time.Millisecond
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = 64 << 20
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = 4 << 20
	}
	if c.PreallocBytes == 0 {
		c.PreallocBytes = DefaultPreallocBytes
	}
	if c.FlusherSlice == 0 {
		c.FlusherSlice = DefaultFlusherSlice
	}
	if c.openFile == nil {
		c.openFile = openSegment
	}
}

// Target is what replay restores into: *store.Store. Restore is called only
// when a snapshot exists, before any Apply; Apply gets the records after it.
type Target interface {
	Restore(rev, compactRev int64, leases []store.Lease, kvs iter.Seq[store.KeyValue]) error
	Apply(c *store.Change) error
}

// ErrFailed is wrapped by every Wait error after a write or fsync failed. The
// WAL then refuses all durable writes until the process restarts: records of
// the failed batch may be half on disk and a later record must never be
// acknowledged on top of them.
var ErrFailed = errors.New("wal failed")

var (
	_ store.Journal       = (*WAL)(nil)
	_ store.DurableReader = (*WAL)(nil)
	_ Target              = (*store.Store)(nil)
	_ Snapshotter         = (*store.Store)(nil)
)

// WAL is a store.Journal that writes to disk.
//
// Lock order: the store's write lock (held by Append's caller), then mu.
// filesMu is taken by the flusher and by snapshot cleanup only, never with mu.
type WAL struct {
	cfg     Config
	log     zerolog.Logger
	metrics *metrics

	// mu guards the pending side: sequence numbers, routes' pending buffers,
	// the open sync batch and the failure. Append holds it for one encode.
	mu         sync.Mutex
	drained    sync.Cond // on mu: broadcast when the flusher takes the pending data
	seq        uint64
	routes     map[string]*route // by key prefix
	meta       *route            // lease and compaction records
	metaMode   Mode
	dirty      []*route // routes with pending bytes, in first-append order
	pending    int      // bytes pending across routes
	syncWaiter *batch   // waiters of the next fsync; nil if none
	inflight   *batch   // the batch the flusher is writing now; nil if none
	failed     error

	// minPending is the lowest store revision of an fsync-mode record not
	// yet known durable (math.MaxInt64: none). Written under mu, read
	// without it by Durable's fast path.
	minPending atomic.Int64

	// filesMu guards each route's segments and open file.
	filesMu sync.Mutex
	byName  map[string]*route // every route with files, by file-name stem

	// retired holds segment files replaced by a cut or dropped by a
	// snapshot, for the syncer to close (it may be inside Sync on one).
	// Guarded by filesMu.
	retired []walFile

	kick       chan struct{}
	stop       chan struct{}
	stopped    chan struct{}
	stopSync   chan struct{}
	syncerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// route is one segment series. buf/firstSeq/lastSeq are guarded by WAL.mu;
// segs/file by WAL.filesMu.
type route struct {
	name string
	mode Mode

	buf      []byte
	spare    []byte
	firstSeq uint64 // of the pending records
	lastSeq  uint64
	count    int // pending records

	segs      []*segment
	file      walFile // open on segs[len-1], nil until the first write of this boot
	written   int64   // bytes of records written to file
	syncedTo  int64   // bytes of file known to be fsynced
	allocated int64   // size of file: written plus zero-filled space ahead
}

// Open prepares the WAL in cfg.Dir. The store is created with the WAL as its
// Journal, then Replay restores it; only then may the store take writes.
func Open(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*WAL, error) {
	cfg.setDefaults()
	cfg.Routing.compile()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal dir: %w", err)
	}
	w := &WAL{
		cfg:     cfg,
		log:     log.With().Str("component", "wal").Logger(),
		metrics: newMetrics(reg),
		routes:  map[string]*route{},
		byName:  map[string]*route{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),

		stopSync:   make(chan struct{}),
		syncerDone: make(chan struct{}),
	}
	w.minPending.Store(math.MaxInt64)
	w.drained.L = &w.mu
	// Leases and compactions must be as durable as the most durable key they
	// can affect, so the meta file takes the strongest configured mode.
	w.metaMode = cfg.Routing.Default
	for _, m := range cfg.Routing.Prefixes {
		w.metaMode = max(w.metaMode, m)
	}
	return w, nil
}

// Replay restores target from the directory (see replay.go) and starts the
// flusher. The log names every truncation it makes; errors name the file and
// offset. Call it once, before the store takes writes.
func (w *WAL) Replay(target Target) error {
	start := time.Now()
	if err := w.replay(target); err != nil {
		return err
	}
	w.metrics.replayDuration.Set(time.Since(start).Seconds())
	w.meta = w.routeByName(metaRoute, w.metaMode)
	go w.run()
	go w.syncer()
	return nil
}

// routeByName returns the route with file stem name, creating it. Caller holds
// mu (or is Open, before the flusher starts); it takes filesMu itself.
func (w *WAL) routeByName(name string, mode Mode) *route {
	w.filesMu.Lock()
	defer w.filesMu.Unlock()
	rt := w.byName[name]
	if rt == nil {
		rt = &route{name: name}
		w.byName[name] = rt
	}
	rt.mode = mode
	return rt
}

// LastSeq is the sequence number of the last record appended. Call it with the
// store's write lock held to pair it with the state a snapshot will capture.
func (w *WAL) LastSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

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
// waiter, or too many buffered bytes) or every FlushInterval.
func (w *WAL) run() {
	defer close(w.stopped)
	if w.cfg.FlusherSlice > 0 {
		// The thread stays locked until run returns, and then exits with
		// the goroutine: it never goes back to the runtime's pool with
		// its scheduling attributes.
		if err := lockFlusherThread(w.cfg.FlusherSlice); err != nil {
			w.log.Debug().Err(err).Msg("flusher keeps the default time slice")
		}
	}
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.kick:
		case <-t.C:
		case <-w.stop:
			w.flush(true)
			return
		}
		w.flush(false)
	}
}

// syncer fsyncs buffered writes in the background, every FlushInterval, so
// the flusher never waits on a buffered fsync: buffered records reach the
// OS within one interval (what survives a process crash) and the disk right
// after (what survives a power cut).
func (w *WAL) syncer() {
	defer close(w.syncerDone)
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	type job struct {
		rt      *route
		f       walFile
		written int64
	}
	for {
		select {
		case <-w.stopSync:
			return
		case <-t.C:
		}
		var jobs []job
		w.filesMu.Lock()
		for _, rt := range w.byName {
			if rt.file != nil && rt.syncedTo < rt.written {
				jobs = append(jobs, job{rt, rt.file, rt.written})
			}
		}
		retired := w.retired
		w.retired = nil
		w.filesMu.Unlock()
		for _, j := range jobs {
			start := time.Now()
			if err := j.f.Sync(); err != nil {
				w.fail(fmt.Errorf("fsync %s: %w", j.rt.name, err))
				continue
			}
			w.metrics.fsyncDuration.Observe(time.Since(start).Seconds())
			w.filesMu.Lock()
			if j.rt.file == j.f {
				j.rt.syncedTo = max(j.rt.syncedTo, j.written)
			}
			w.filesMu.Unlock()
		}
		for _, f := range retired {
			f.Close()
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

// flush writes every pending buffer. When fsync-mode records are in it (or
// final is set) it then fsyncs every file with unsynced bytes, buffered ones
// too: an fsync-mode record must never be acknowledged while an earlier
// buffered record could still vanish, or replay would cut at the gap and
// drop the acknowledged one. Then it wakes the batch's waiters.
func (w *WAL) flush(final bool) {
	w.mu.Lock()
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

// writeRoute appends one route's batch, starting a new segment first when
// this boot has not opened one yet or the current one is full. Caller holds
// filesMu.
func (w *WAL) writeRoute(pw pendingWrite) error {
	rt := pw.rt
	if rt.file == nil || rt.segs[len(rt.segs)-1].size >= w.cfg.SegmentBytes {
		if err := w.cutSegment(rt, pw.firstSeq); err != nil {
			return err
		}
	}
	seg := rt.segs[len(rt.segs)-1]
	if rt.mode == ModeFsync && w.cfg.PreallocBytes > 0 {
		if err := w.preallocate(rt, rt.written+int64(len(pw.buf))); err != nil {
			return fmt.Errorf("preallocate %s: %w", seg.path, err)
		}
	}
	n, err := rt.file.Write(pw.buf)
	seg.size += int64(n)
	rt.written += int64(n)
	w.metrics.writeBytes.Add(float64(n))
	if err != nil {
		return fmt.Errorf("write %s: %w", seg.path, err)
	}
	seg.lastSeq = pw.lastSeq
	rt.allocated = max(rt.allocated, rt.written)
	return nil
}

// zeros is what preallocation writes.
var zeros [64 << 10]byte

// preallocate zero-fills rt's file in PreallocBytes steps until it holds at
// least size bytes. The zeros become durable with the next fdatasync,
// together with the batch that needed them; until then a crash leaves at
// worst a shorter zero tail, which replay trims like any unwritten space.
// Caller holds filesMu.
func (w *WAL) preallocate(rt *route, size int64) error {
	for rt.allocated < size {
		end := rt.allocated + w.cfg.PreallocBytes
		for off := rt.allocated; off < end; {
			n, err := rt.file.WriteAt(zeros[:min(int64(len(zeros)), end-off)], off)
			off += int64(n)
			if err != nil {
				return err
			}
		}
		rt.allocated = end
	}
	return nil
}

// finishSegment makes rt's open file end durably at its last record,
// giving back preallocated space: a closed segment is never torn and has no
// zero tail, which is what lets replay call a bad record in one corruption.
// Caller holds filesMu.
func (w *WAL) finishSegment(rt *route) error {
	path := rt.segs[len(rt.segs)-1].path
	trimmed := rt.allocated > rt.written
	if trimmed {
		if err := rt.file.Truncate(rt.written); err != nil {
			return fmt.Errorf("truncate %s: %w", path, err)
		}
		rt.allocated = rt.written
	}
	if trimmed || rt.syncedTo < rt.written {
		if err := rt.file.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", path, err)
		}
		rt.syncedTo = rt.written
	}
	return nil
}

// cutSegment closes rt's open segment (finishSegment) and starts the next
// one. Caller holds filesMu.
func (w *WAL) cutSegment(rt *route, firstSeq uint64) error {
	if rt.file != nil {
		if err := w.finishSegment(rt); err != nil {
			return err
		}
		w.retired = append(w.retired, rt.file)
		rt.file = nil
	}
	index := uint64(1)
	if len(rt.segs) > 0 {
		index = rt.segs[len(rt.segs)-1].index + 1
	}
	path := filepath.Join(w.cfg.Dir, segmentName(rt.name, index))
	f, err := w.cfg.openFile(path)
	if err != nil {
		return fmt.Errorf("new segment: %w", err)
	}
	if err := syncDir(w.cfg.Dir); err != nil {
		f.Close()
		return err
	}
	rt.file, rt.written, rt.syncedTo, rt.allocated = f, 0, 0, 0
	rt.segs = append(rt.segs, &segment{path: path, index: index, firstSeq: firstSeq})
	w.metrics.segments.Inc()
	return nil
}

// Close flushes what is pending, fsyncs and closes every file. Appends after
// Close are a caller bug; a second Close returns the first one's result.
func (w *WAL) Close() error {
	w.closeOnce.Do(func() { w.closeErr = w.close() })
	return w.closeErr
}

func (w *WAL) close() error {
	close(w.stop)
	close(w.stopSync)
	if w.meta != nil { // the flusher and syncer run only after Replay
		<-w.stopped
		<-w.syncerDone
	}
	w.filesMu.Lock()
	defer w.filesMu.Unlock()
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	var errs []error
	for _, rt := range w.byName {
		if rt.file != nil {
			if failed == nil {
				// A failed WAL leaves its files as they are: replay
				// decides what of them is good.
				errs = append(errs, w.finishSegment(rt))
			}
			errs = append(errs, rt.file.Close())
			rt.file = nil
		}
	}
	for _, f := range w.retired {
		f.Close()
	}
	w.retired = nil
	if failed != nil {
		errs = append(errs, failed)
	}
	return errors.Join(errs...)
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

// Snapshot writes the store's state durably, then deletes older snapshots
// and every segment whose records are all covered. Keys of prefixes in mode
// none are left out: memory-only data must not come back after a restart.
// A crash at any point leaves either the old snapshot with all its segments
// or the new one: the file appears only by rename after fsync, and segments
// go only after that. Calls must not overlap.
func (w *WAL) Snapshot(src Snapshotter) error {
	if w.metaMode == ModeNone {
		return nil // nothing is durable, so nothing to snapshot
	}
	start := time.Now()
	seq := w.LastSeq()
	path, meta, size, err := writeSnapshot(w.cfg.Dir, seq, src, func(key []byte) bool {
		_, mode := w.cfg.Routing.Route(key)
		return mode != ModeNone
	})
	if err != nil {
		return err
	}
	w.metrics.snapshotDuration.Observe(time.Since(start).Seconds())
	w.metrics.snapshotBytes.Set(float64(size))
	l, err := listDir(w.cfg.Dir)
	if err != nil {
		return err
	}
	for _, old := range l.snapshots {
		if old < seq {
			if err := os.Remove(filepath.Join(w.cfg.Dir, snapshotName(old))); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove old snapshot: %w", err)
			}
		}
	}
	removed, kept := w.dropCovered(seq)
	w.log.Info().Str("file", path).Int64("bytes", size).Uint64("seq", seq).Int64("rev", meta.Revision).
		Uint64("keys", meta.Keys).Int("segments_removed", removed).Int("segments_kept", kept).
		Dur("took", time.Since(start)).Msg("wal snapshot written")
	return nil
}

// SnapshotEvery takes a snapshot every interval while records were appended
// since the last one, until ctx ends. Errors are logged; the WAL keeps
// working without the snapshot (replay just has more to read).
func (w *WAL) SnapshotEvery(ctx context.Context, src Snapshotter, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := w.LastSeq()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if seq := w.LastSeq(); seq != last {
			if err := w.Snapshot(src); err != nil {
				w.log.Error().Err(err).Msg("wal snapshot failed")
				continue
			}
			last = seq
		}
	}
}

// dropCovered removes segments with no record after seq. An open segment that
// is covered is closed first; the route's next write starts a new one.
func (w *WAL) dropCovered(seq uint64) (removed, kept int) {
	w.filesMu.Lock()
	defer w.filesMu.Unlock()
	for _, rt := range w.byName {
		keep := rt.segs[:0]
		for i, s := range rt.segs {
			open := rt.file != nil && i == len(rt.segs)-1
			if s.lastSeq > seq {
				keep = append(keep, s)
				continue
			}
			if open {
				w.retired = append(w.retired, rt.file)
				rt.file = nil
			}
			if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
				w.log.Warn().Err(err).Str("file", s.path).Msg("cannot remove covered segment; replay will skip it")
				keep = append(keep, s)
				continue
			}
			removed++
		}
		rt.segs = keep
		kept += len(keep)
	}
	w.metrics.segments.Set(float64(kept))
	return removed, kept
}
