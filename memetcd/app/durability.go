package app

import (
	"context"
	"fmt"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/k8s1m/k8s1m/memetcd/wal"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// durability is what the WAL contributes to the process: the Journal the
// store appends to, a boot step that rebuilds the store from disk (and then
// starts periodic snapshots), and a close that stops the snapshots and
// flushes after the server has stopped.
type durability struct {
	journal store.Journal
	replay  func(st *store.Store) error
	close   func() error
	// waitsForDisk: some prefix is in fsync mode, so a write may wait for
	// an fdatasync before it is answered.
	waitsForDisk bool
}

// walConfig turns the --wal-* flags into the WAL's configuration.
func walConfig(cfg Config) (wal.Config, error) {
	def, err := wal.ParseMode(cfg.WALDefault)
	if err != nil {
		return wal.Config{}, fmt.Errorf("--wal-default: %w", err)
	}
	prefixes, err := wal.ParsePrefixModes(cfg.WALPrefixModes, cfg.WALNoWritePrefixes)
	if err != nil {
		return wal.Config{}, err
	}
	// wal.Config's zero values mean its defaults; a 0 flag means off.
	prealloc, slice := cfg.WALPreallocBytes, cfg.WALFlusherSlice
	if prealloc <= 0 {
		prealloc = -1
	}
	if slice <= 0 {
		slice = -1
	}
	return wal.Config{
		Dir: cfg.WALDir,
		Routing: wal.Routing{
			Default:      def,
			Prefixes:     prefixes,
			ResourceRoot: wal.DefaultResourceRoot,
		},
		FlushInterval: cfg.WALFlushInterval,
		SyncInterval:  cfg.WALSyncInterval,
		SegmentBytes:  cfg.WALSegmentBytes,
		PreallocBytes: prealloc,
		FlusherSlice:  slice,
		Repair:        cfg.WALRepair,
	}, nil
}

// openDurability opens the WAL in cfg.WALDir.
func openDurability(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*durability, error) {
	wc, err := walConfig(cfg)
	if err != nil {
		return nil, err
	}
	w, err := wal.Open(wc, log, reg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	snapshotsDone := make(chan struct{})
	close(snapshotsDone) // reopened below once snapshots run
	log.Info().Str("wal_dir", wc.Dir).Str("wal_default", cfg.WALDefault).
		Strs("wal_prefix_modes", cfg.WALPrefixModes).Strs("wal_no_write_prefixes", cfg.WALNoWritePrefixes).
		Dur("wal_flush_interval", wc.FlushInterval).Dur("wal_sync_interval", wc.SyncInterval).Int64("wal_prealloc_bytes", max(wc.PreallocBytes, 0)).
		Dur("wal_flusher_slice", max(wc.FlusherSlice, 0)).Dur("wal_snapshot_interval", cfg.WALSnapshotInterval).
		Msg("wal configured")
	waits := wc.Routing.Default == wal.ModeFsync
	for _, m := range wc.Routing.Prefixes {
		waits = waits || m == wal.ModeFsync
	}
	return &durability{
		waitsForDisk: waits,
		journal:      w,
		replay: func(st *store.Store) error {
			if err := w.Replay(st); err != nil {
				cancel()
				w.Close()
				return err
			}
			if cfg.WALSnapshotInterval > 0 {
				snapshotsDone = make(chan struct{})
				go func() {
					defer close(snapshotsDone)
					w.SnapshotEvery(ctx, st, cfg.WALSnapshotInterval)
				}()
			}
			return nil
		},
		close: func() error {
			cancel()
			<-snapshotsDone
			return w.Close()
		},
	}, nil
}
