package wal

// The syncer: buffered-mode bytes reach the disk in the background.

import (
	"fmt"
	"time"
)

// syncer fsyncs buffered writes in the background, every SyncInterval, so
// the flusher never waits on a buffered fsync: buffered records reach the
// OS within FlushInterval (what survives a process crash) and the disk
// within SyncInterval more (what survives a power cut).
func (w *WAL) syncer() {
	defer close(w.syncerDone)
	t := time.NewTicker(w.cfg.SyncInterval)
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
		w.mu.Lock()
		if w.pending > 0 && !w.timerArmed && time.Since(w.pendingSince) >= w.cfg.FlushInterval {
			// A flushOnReply whose Wait was never called: the flusher
			// writes it (every caller waits; this only bounds a bug).
			w.armTimerLocked()
		}
		w.mu.Unlock()
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
