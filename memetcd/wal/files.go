package wal

// File lifecycle: a route's segment files are opened (cutSegment), written
// (writeRoute, with preallocation for fsync mode), finished at their last
// record (finishSegment) and removed once a snapshot covers them
// (dropCovered). All under filesMu.

import (
	"fmt"
	"os"
	"path/filepath"
)

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
