package wal

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
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
	// SyncInterval is how often the background syncer fdatasyncs the
	// buffered-mode files written since its last pass (what survives a
	// power cut; a process crash loses nothing past FlushInterval). Every
	// resource prefix has its own file, so syncing at FlushInterval costs
	// up to one fdatasync per written prefix every 10 ms, under Kubernetes'
	// writes the largest single item of memetcd's CPU (BENCHMARKS.md,
	// "Under Kubernetes' load"). Default DefaultSyncInterval; never below
	// FlushInterval.
	SyncInterval time.Duration
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
	// the default scheduling. Used only when some prefix (or the default)
	// is in fsync mode: nothing waits on a buffered-only flusher.
	FlusherSlice time.Duration
	// Repair truncates at the first bad record instead of refusing to boot
	// (--wal-repair). Everything after that point is lost, so it is an
	// operator's decision, never the default.
	Repair bool

	// openFile opens segments; tests replace it to inject disk errors.
	openFile openFileFunc
	// noInline leaves every write to the flusher (tests of its timer).
	noInline bool
}

// Defaults of Config.SyncInterval, PreallocBytes and FlusherSlice (and of the
// memetcd flags that set them).
const (
	DefaultSyncInterval  = 100 * time.Millisecond
	DefaultPreallocBytes = 1 << 20
	DefaultFlusherSlice  = 100 * time.Microsecond
)

func (c *Config) setDefaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 10 * time.Millisecond
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	c.SyncInterval = max(c.SyncInterval, c.FlushInterval)
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
// flushing is held for a whole flush (by the flusher, or by a reply's Wait
// with the store's lock released: flushOnReply), taking mu and then filesMu
// in turn, never both. filesMu is taken by flushes, the syncer and snapshot
// cleanup, never with mu.
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

	kick chan struct{}
	// flushTimer is armed (under mu, timerArmed) when buffered data becomes
	// pending with nothing pending before and the reply will not write it
	// itself: the flusher then writes it within FlushInterval. An idle WAL
	// has no timer running.
	flushTimer *time.Timer
	timerArmed bool
	// inline is set when no prefix is in fsync mode: a buffered record's
	// reply may then write the pending data itself (see flushOnReply).
	inline bool
	// lastFlush is when the last flush took the pending data, pendingSince
	// when data became pending with nothing pending before (under mu).
	lastFlush, pendingSince time.Time
	// flushing serialises flushes: the flusher's and the replies'.
	flushing   sync.Mutex
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
	w.flushTimer = time.NewTimer(time.Hour)
	w.flushTimer.Stop()
	// Leases and compactions must be as durable as the most durable key they
	// can affect, so the meta file takes the strongest configured mode.
	w.metaMode = cfg.Routing.Default
	for _, m := range cfg.Routing.Prefixes {
		w.metaMode = max(w.metaMode, m)
	}
	w.inline = w.metaMode < ModeFsync && !cfg.noInline
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
