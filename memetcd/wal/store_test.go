package wal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
)

// These tests run the real store on the WAL: what the store held before a
// restart is exactly what it holds after replay.

// storeState is everything a restart must keep.
type storeState struct {
	Rev    int64
	KVs    []store.KeyValue
	Leases []store.Lease
}

func dump(t *testing.T, st *store.Store) storeState {
	t.Helper()
	res, err := st.Range(&store.RangeRequest{Key: []byte{0}, End: []byte{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	ls := st.Leases()
	sort.Slice(ls, func(i, j int) bool { return ls[i].ID < ls[j].ID })
	return storeState{Rev: st.Rev(), KVs: res.KVs, Leases: ls}
}

// bootStore opens the WAL in dir, replays it into a new store and returns both.
func bootStore(t *testing.T, cfg Config) (*store.Store, *WAL) {
	t.Helper()
	log, _ := testLogger(t)
	w, err := Open(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Config{Journal: w, Log: log})
	if err := w.Replay(st); err != nil {
		st.Close()
		w.Close()
		t.Fatalf("replay: %v", err)
	}
	t.Cleanup(func() { st.Close(); w.Close() })
	return st, w
}

func wait(t *testing.T, wt store.Waiter, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// workload runs n random writes of every kind the store journals.
func workload(t *testing.T, st *store.Store, rng *rand.Rand, n int, leaseBase int64) {
	t.Helper()
	key := func() []byte {
		kinds := []string{"pods", "nodes", "configmaps", "example.com/widgets"}
		return fmt.Appendf(nil, "/registry/%s/ns/k%d", kinds[rng.IntN(len(kinds))], rng.IntN(20))
	}
	var leases []int64
	for i := range n {
		switch r := rng.IntN(10); {
		case r < 5:
			var lease int64
			if len(leases) > 0 && rng.IntN(3) == 0 {
				lease = leases[rng.IntN(len(leases))]
			}
			_, wt, err := st.Put(&store.PutRequest{Key: key(), Value: fmt.Appendf(nil, "v%d", i), Lease: lease})
			wait(t, wt, err)
		case r < 6:
			_, wt, err := st.DeleteRange(&store.DeleteRequest{Key: key()})
			wait(t, wt, err)
		case r < 8:
			k := key()
			_, wt, err := st.Txn(&store.TxnRequest{
				Compare: []store.Compare{{Key: k, Target: store.CompareMod, Result: store.CompareGreater, Int: 0}},
				Success: []store.TxnOp{{Put: &store.PutRequest{Key: k, Value: fmt.Appendf(nil, "t%d", i)}},
					{Put: &store.PutRequest{Key: key(), Value: []byte("other")}}},
				Failure: []store.TxnOp{{Put: &store.PutRequest{Key: k, Value: []byte("created")}}},
			})
			wait(t, wt, err)
		case r < 9:
			id := leaseBase + int64(i)
			_, wt, err := st.Grant(id, 3600)
			wait(t, wt, err)
			leases = append(leases, id)
		default:
			if len(leases) > 0 {
				j := rng.IntN(len(leases))
				_, wt, err := st.Revoke(leases[j])
				wait(t, wt, err)
				leases = append(leases[:j], leases[j+1:]...)
			}
		}
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	tests := []struct {
		name         string
		snapshotAt   []int // after how many workload rounds to snapshot
		segmentBytes int64
	}{
		{name: "wal only"},
		{name: "snapshot in the middle", snapshotAt: []int{1}},
		{name: "snapshot at the end", snapshotAt: []int{2}},
		{name: "two snapshots, small segments", snapshotAt: []int{0, 1}, segmentBytes: 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := fsyncCfg(dir)
			cfg.SegmentBytes = tt.segmentBytes
			st, w := bootStore(t, cfg)
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range 3 {
				workload(t, st, rng, 150, int64(round)*1000)
				if round == 1 {
					wt, err := st.Compact(st.Rev() - 20)
					wait(t, wt, err)
				}
				for _, at := range tt.snapshotAt {
					if at == round {
						if err := w.Snapshot(st); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			before := dump(t, st)
			st.Close()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			st2, _ := bootStore(t, cfg)
			after := dump(t, st2)
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("state differs after restart\nbefore rev %d, %d keys, %d leases\nafter  rev %d, %d keys, %d leases",
					before.Rev, len(before.KVs), len(before.Leases), after.Rev, len(after.KVs), len(after.Leases))
			}
			if len(tt.snapshotAt) > 0 {
				snaps, _ := filepath.Glob(filepath.Join(dir, "snap-*"))
				if len(snaps) != 1 {
					t.Errorf("snapshots kept: %v, want only the newest", snaps)
				}
			}
		})
	}
}

// TestSnapshotDropsCoveredSegments: after a snapshot, replay reads only what
// came later, and the segments the snapshot covers are gone.
func TestSnapshotDropsCoveredSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := fsyncCfg(dir)
	cfg.SegmentBytes = 256
	st, w := bootStore(t, cfg)
	for i := range 100 {
		_, wt, err := st.Put(&store.PutRequest{Key: fmt.Appendf(nil, "/registry/pods/ns/p%d", i%10), Value: []byte("0123456789")})
		wait(t, wt, err)
	}
	segsBefore := len(segmentFiles(t, dir))
	if err := w.Snapshot(st); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 0 {
		t.Errorf("%d segments left after a snapshot covering all (had %d)", n, segsBefore)
	}
	_, wt, err := st.Put(&store.PutRequest{Key: []byte("/registry/pods/ns/after"), Value: []byte("x")})
	wait(t, wt, err)
	before := dump(t, st)
	st.Close()
	w.Close()
	st2, w2 := bootStore(t, cfg)
	if got := dump(t, st2); !reflect.DeepEqual(before, got) {
		t.Fatalf("state differs: %d keys rev %d, want %d keys rev %d", len(got.KVs), got.Rev, len(before.KVs), before.Rev)
	}
	if n := testutilGauge(w2.metrics.replayRecords); n != 1 {
		t.Errorf("replayed %v records after the snapshot, want 1", n)
	}
}

// TestSnapshotLeavesOutModeNone: memory-only prefixes must not come back
// through a snapshot either.
func TestSnapshotLeavesOutModeNone(t *testing.T) {
	dir := t.TempDir()
	cfg := fsyncCfg(dir)
	cfg.Routing.Prefixes = map[string]Mode{"/registry/events/": ModeNone}
	st, w := bootStore(t, cfg)
	for _, k := range []string{"/registry/events/ns/e", "/registry/pods/ns/p"} {
		_, wt, err := st.Put(&store.PutRequest{Key: []byte(k), Value: []byte("v")})
		wait(t, wt, err)
	}
	if err := w.Snapshot(st); err != nil {
		t.Fatal(err)
	}
	st.Close()
	w.Close()
	st2, _ := bootStore(t, cfg)
	got := dump(t, st2)
	if len(got.KVs) != 1 || string(got.KVs[0].Key) != "/registry/pods/ns/p" {
		t.Fatalf("keys after restart: %+v", got.KVs)
	}
}

// TestCrashDuringSnapshot: a .tmp left by a crash is ignored and removed, the
// previous state still loads.
func TestCrashDuringSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := fsyncCfg(dir)
	st, w := bootStore(t, cfg)
	_, wt, err := st.Put(&store.PutRequest{Key: []byte("/registry/pods/ns/p"), Value: []byte("v")})
	wait(t, wt, err)
	before := dump(t, st)
	st.Close()
	w.Close()
	tmp := filepath.Join(dir, snapshotName(99)+tmpExt)
	if err := os.WriteFile(tmp, []byte(snapMagic+"half a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	st2, _ := bootStore(t, cfg)
	if got := dump(t, st2); !reflect.DeepEqual(before, got) {
		t.Fatalf("state differs after crash during snapshot")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("tmp snapshot not removed: %v", err)
	}
}
