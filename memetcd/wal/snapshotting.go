package wal

// Snapshot scheduling: when a snapshot is taken and what it lets the WAL
// drop. The snapshot file format is snapshot.go's.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

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
