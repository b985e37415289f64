package wal

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sort"

	"github.com/k8s1m/k8s1m/memetcd/store"
)

// replay restores target from dir: the newest snapshot, then every record
// after it from all segment series merged by sequence number, stopping at the
// first missing sequence number. It leaves the directory in the state the
// next boot expects: torn tails and records after a gap truncated away.
func (w *WAL) replay(target Target) error {
	l, err := listDir(w.cfg.Dir)
	if err != nil {
		return err
	}
	snap, err := w.restoreSnapshot(l, target)
	if err != nil {
		return err
	}
	iters, err := w.openRoutes(l)
	if err != nil {
		return err
	}
	defer closeAll(iters)
	expected, replayed, err := applyRecords(iters, target, snap)
	if err != nil {
		return err
	}
	for _, it := range iters {
		if it.has {
			if err := it.cutAtHead(expected); err != nil {
				return err
			}
		}
	}

	w.seq = expected - 1
	nsegs := 0
	for _, it := range iters {
		rt := w.routeByName(it.name, ModeNone)
		rt.segs = it.segs
		nsegs += len(it.segs)
	}
	w.metrics.segments.Set(float64(nsegs))
	w.metrics.replayRecords.Set(float64(replayed))
	w.log.Info().Uint64("snapshot_seq", snap.Seq).Uint64("last_seq", w.seq).Int("records", replayed).
		Int("files", nsegs).Msg("wal replayed")
	return nil
}

// restoreSnapshot removes unfinished snapshots, restores target from the
// newest snapshot (if any) and removes the older ones. The zero meta means
// no snapshot: replay starts at sequence number 1.
func (w *WAL) restoreSnapshot(l *dirListing, target Target) (SnapshotMeta, error) {
	for _, p := range l.tmp {
		w.log.Warn().Str("file", p).Msg("removing unfinished snapshot left by a crash")
		if err := os.Remove(p); err != nil {
			return SnapshotMeta{}, fmt.Errorf("remove %s: %w", p, err)
		}
	}
	n := len(l.snapshots)
	if n == 0 {
		return SnapshotMeta{}, nil
	}
	path := filepath.Join(w.cfg.Dir, snapshotName(l.snapshots[n-1]))
	meta, err := loadSnapshotFile(path, target)
	if err != nil {
		return SnapshotMeta{}, err
	}
	w.log.Info().Str("file", path).Uint64("seq", meta.Seq).Int64("rev", meta.Revision).
		Int64("compact_rev", meta.CompactRevision).Uint64("keys", meta.Keys).Uint64("leases", meta.Leases).Msg("wal snapshot loaded")
	for _, old := range l.snapshots[:n-1] {
		if err := os.Remove(filepath.Join(w.cfg.Dir, snapshotName(old))); err != nil && !os.IsNotExist(err) {
			return SnapshotMeta{}, fmt.Errorf("remove old snapshot: %w", err)
		}
	}
	return meta, nil
}

// openRoutes opens a reader on every segment series, each at its first
// record.
func (w *WAL) openRoutes(l *dirListing) ([]*routeIter, error) {
	names := make([]string, 0, len(l.routes))
	for name := range l.routes {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic logs and tests
	iters := make([]*routeIter, 0, len(names))
	for _, name := range names {
		it := &routeIter{w: w, name: name, segs: l.routes[name]}
		if err := it.advance(); err != nil {
			it.close()
			closeAll(iters)
			return nil, err
		}
		iters = append(iters, it)
	}
	return iters, nil
}

// applyRecords merges the routes' records by sequence number and applies
// those after the snapshot to target, until the first missing sequence
// number. It returns the sequence number it expected next (the first one not
// applied) and how many records it applied.
func applyRecords(iters []*routeIter, target Target, snap SnapshotMeta) (expected uint64, replayed int, err error) {
	// Decoding (this goroutine) and applying (the applier) overlap: on a
	// boot with a long WAL each takes about half the time.
	ap := startApplier(target)
	expected = snap.Seq + 1
	for {
		var it *routeIter
		for _, c := range iters {
			if c.has && (it == nil || c.head.Seq < it.head.Seq) {
				it = c
			}
		}
		if it == nil {
			break
		}
		rec := it.head
		if rec.Seq > snap.Seq {
			if rec.Seq < expected {
				ap.finish()
				return 0, 0, fmt.Errorf("wal replay: %w", &DecodeError{File: it.segs[it.i].path, Offset: it.headOff,
					Reason: fmt.Sprintf("sequence number %d appears twice", rec.Seq)})
			}
			if rec.Seq > expected {
				break // a lost record: everything from here on is cut by the caller
			}
			c := &store.Change{Revision: rec.Revision, Ops: rec.Ops}
			if rec.Revision <= snap.Revision {
				c = withoutKeyOps(c) // see SnapshotMeta
			}
			if !ap.add(c, rec.Seq, it.segs[it.i].path) {
				break // the applier failed; its error is returned below
			}
			expected++
			replayed++
		}
		it.consume()
		if err := it.advance(); err != nil {
			ap.finish()
			return 0, 0, err
		}
	}
	if err := ap.finish(); err != nil {
		return 0, 0, err
	}
	return expected, replayed, nil
}

func loadSnapshotFile(path string, target Target) (SnapshotMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("stat snapshot: %w", err)
	}
	meta, err := loadSnapshot(f, path, st.Size(), func(m SnapshotMeta, leases []store.Lease, kvs iter.Seq[store.KeyValue]) error {
		return target.Restore(m.Revision, m.CompactRevision, leases, kvs)
	})
	if err != nil {
		return meta, fmt.Errorf("load snapshot: %w", err)
	}
	return meta, nil
}

// routeIter walks one route's segments record by record.
type routeIter struct {
	w    *WAL
	name string
	segs []*segment
	i    int // segment being read
	f    *os.File
	dec  *decoder

	head    Record
	headOff int64
	has     bool
	prevSeq uint64
}

// advance loads the next record into head, or sets has=false at the end of
// the route (after truncating a torn tail).
func (it *routeIter) advance() error {
	it.has = false
	for it.i < len(it.segs) {
		seg := it.segs[it.i]
		if it.dec == nil {
			f, err := os.Open(seg.path)
			if err != nil {
				return fmt.Errorf("wal replay: %w", err)
			}
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return fmt.Errorf("wal replay: stat: %w", err)
			}
			it.f, it.dec = f, newDecoder(f, seg.path, st.Size())
			seg.size = st.Size()
		}
		rec, off, err := it.dec.next()
		if err == io.EOF {
			it.close()
			it.i++
			continue
		}
		if err != nil {
			return it.bad(err, off)
		}
		if rec.Seq <= it.prevSeq {
			return fmt.Errorf("wal replay: %w", &DecodeError{File: seg.path, Offset: off,
				Reason: fmt.Sprintf("sequence number %d after %d", rec.Seq, it.prevSeq)})
		}
		it.head, it.headOff, it.has = rec, off, true
		return nil
	}
	return nil
}

// bad handles a record that did not decode: a torn tail of the route's last
// segment is truncated; anything else stops the boot unless Repair is set.
func (it *routeIter) bad(err error, off int64) error {
	var de *DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("wal replay: %w", err)
	}
	seg := it.segs[it.i]
	last := it.i == len(it.segs)-1
	switch {
	case de.Unwritten && last:
		// The normal end of a segment preallocated by a WAL that did not
		// close it (a crash or SIGKILL): no record is lost here.
		it.w.log.Info().Str("file", seg.path).Int64("offset", off).Int64("bytes", seg.size-off).
			Msg("trimming zero-filled space after the last record")
	case de.Torn && last:
		it.w.log.Warn().Str("file", seg.path).Int64("offset", off).Int64("bytes", seg.size-off).
			Str("reason", de.Reason).Msg("truncating torn final record (crash during write)")
	case it.w.cfg.Repair:
		it.w.log.Warn().Str("file", seg.path).Int64("offset", off).Str("reason", de.Reason).
			Int("later_segments_removed", len(it.segs)-it.i-1).Msg("wal repair: truncating at first bad record")
	default:
		if de.Torn {
			// Closed segments were fsynced before the next one started, so
			// a "torn" record inside one is damage, not a crash.
			de.Torn = false
			de.Reason += " (in a closed segment)"
		}
		return fmt.Errorf("wal replay: %w; refusing to boot (--wal-repair truncates here, losing every later record)", de)
	}
	it.close()
	if err := truncateSegment(seg.path, off); err != nil {
		return err
	}
	seg.size = off
	if err := removeSegments(it.segs[it.i+1:]); err != nil {
		return err
	}
	it.segs = it.segs[:it.i+1]
	it.i = len(it.segs)
	return nil
}

// consume records head as replayed into its segment's bounds.
func (it *routeIter) consume() {
	seg := it.segs[it.i]
	if seg.firstSeq == 0 {
		seg.firstSeq = it.head.Seq
	}
	seg.lastSeq = it.head.Seq
	it.prevSeq = it.head.Seq
	it.has = false
}

// cutAtHead truncates the route before its head record, which follows a lost
// sequence number (want): keeping it would replay history with a hole.
func (it *routeIter) cutAtHead(want uint64) error {
	seg := it.segs[it.i]
	it.w.log.Warn().Str("file", seg.path).Int64("offset", it.headOff).Uint64("missing_seq", want).
		Uint64("first_dropped_seq", it.head.Seq).Int("later_segments_removed", len(it.segs)-it.i-1).
		Msg("dropping records after a record lost in a crash (never acknowledged in fsync mode)")
	it.close()
	if err := truncateSegment(seg.path, it.headOff); err != nil {
		return err
	}
	seg.size = it.headOff
	if err := removeSegments(it.segs[it.i+1:]); err != nil {
		return err
	}
	it.segs = it.segs[:it.i+1]
	it.has = false
	return nil
}

func (it *routeIter) close() {
	if it.f != nil {
		it.f.Close()
		it.f, it.dec = nil, nil
	}
}

func closeAll(iters []*routeIter) {
	for _, it := range iters {
		it.close()
	}
}

// withoutKeyOps keeps the lease and compaction ops of a change whose key ops
// the snapshot already holds.
func withoutKeyOps(c *store.Change) *store.Change {
	out := &store.Change{Revision: c.Revision}
	for _, op := range c.Ops {
		if op.Type != store.OpPut && op.Type != store.OpDelete {
			out.Ops = append(out.Ops, op)
		}
	}
	return out
}

// applier applies replayed changes in order on its own goroutine, in batches
// so the channel costs little per change.
type applier struct {
	ch    chan []applyItem
	batch []applyItem
	done  chan struct{} // closed when the applier failed or finished
	err   error         // set before done is closed
}

type applyItem struct {
	c    *store.Change
	seq  uint64
	file string
}

const applyBatch = 256

// batchTarget is a Target that takes a run of changes at once
// (*store.Store): one lock and one watcher wake-up per batch.
type batchTarget interface {
	ApplyBatch(cs []*store.Change) (applied int, err error)
}

func startApplier(target Target) *applier {
	a := &applier{ch: make(chan []applyItem, 8), done: make(chan struct{})}
	bt, _ := target.(batchTarget)
	go func() {
		defer close(a.done)
		var cs []*store.Change
		for b := range a.ch {
			failed, err := -1, error(nil)
			if bt != nil {
				cs = cs[:0]
				for _, it := range b {
					cs = append(cs, it.c)
				}
				if n, e := bt.ApplyBatch(cs); e != nil {
					failed, err = n, e
				}
			} else {
				for i, it := range b {
					if e := target.Apply(it.c); e != nil {
						failed, err = i, e
						break
					}
				}
			}
			if err != nil {
				it := b[failed]
				a.err = fmt.Errorf("wal replay: apply seq %d rev %d from %s: %w", it.seq, it.c.Revision, it.file, err)
				for range a.ch { // let the reader finish without blocking
				}
				return
			}
		}
	}()
	return a
}

// add queues a change; false once the applier has failed.
func (a *applier) add(c *store.Change, seq uint64, file string) bool {
	a.batch = append(a.batch, applyItem{c, seq, file})
	if len(a.batch) < applyBatch {
		return true
	}
	select {
	case a.ch <- a.batch:
	case <-a.done:
		return false
	}
	a.batch = make([]applyItem, 0, applyBatch)
	return true
}

// finish waits until everything queued is applied and returns the first error.
func (a *applier) finish() error {
	if len(a.batch) > 0 {
		select {
		case a.ch <- a.batch:
		case <-a.done:
		}
		a.batch = nil
	}
	close(a.ch)
	<-a.done
	return a.err
}
