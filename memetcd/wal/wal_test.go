package wal

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// history is a mix of everything the store logs, across several resources.
func history() []*store.Change {
	return []*store.Change{
		put(2, "/registry/pods/default/a", "a1"),
		{Revision: 2, Ops: []store.Op{{Type: store.OpLeaseGrant, LeaseID: 100, TTL: 60}}},
		{Revision: 3, Ops: []store.Op{ // a Txn spanning two resources
			{Type: store.OpPut, Key: []byte("/registry/pods/default/b"), Value: []byte("b1"), LeaseID: 100},
			{Type: store.OpPut, Key: []byte("/registry/configmaps/default/c"), Value: []byte("c1")},
		}},
		put(4, "/registry/events/default/e", "e1"),
		{Revision: 5, Ops: []store.Op{{Type: store.OpDelete, Key: []byte("/registry/pods/default/a")}}},
		{Revision: 5, Ops: []store.Op{{Type: store.OpCompact, Revision: 4}}},
		{Revision: 6, Ops: []store.Op{{Type: store.OpLeaseRevoke, LeaseID: 100},
			{Type: store.OpDelete, Key: []byte("/registry/pods/default/b")}}},
		put(7, "/other/x", "x1"),
	}
}

func TestAppendReplayModes(t *testing.T) {
	tests := []struct {
		name     string
		routing  Routing
		wantRevs []int64
		wantOps  []int // ops per replayed change
	}{
		{
			name:     "fsync everywhere",
			routing:  Routing{Default: ModeFsync, ResourceRoot: DefaultResourceRoot},
			wantRevs: []int64{2, 2, 3, 4, 5, 5, 6, 7},
			wantOps:  []int{1, 1, 2, 1, 1, 1, 2, 1},
		},
		{
			name:     "buffered everywhere",
			routing:  Routing{Default: ModeBuffered, ResourceRoot: DefaultResourceRoot},
			wantRevs: []int64{2, 2, 3, 4, 5, 5, 6, 7},
			wantOps:  []int{1, 1, 2, 1, 1, 1, 2, 1},
		},
		{
			name:     "none everywhere",
			routing:  Routing{Default: ModeNone, ResourceRoot: DefaultResourceRoot},
			wantRevs: []int64{},
			wantOps:  []int{},
		},
		{
			name: "events not written, configmaps memory only",
			routing: Routing{Default: ModeFsync, ResourceRoot: DefaultResourceRoot,
				Prefixes: map[string]Mode{"/registry/events/": ModeNone, "/registry/configmaps/": ModeNone}},
			wantRevs: []int64{2, 2, 3, 5, 5, 6, 7},
			wantOps:  []int{1, 1, 1, 1, 1, 2, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := openT(t, Config{Dir: dir, Routing: tt.routing}, &recorder{})
			for _, c := range history() {
				appendWait(t, w, c)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			w2, _ := openT(t, Config{Dir: dir, Routing: tt.routing}, rec)
			if got := revisions(rec.changes); !reflect.DeepEqual(got, tt.wantRevs) {
				t.Fatalf("replayed revisions %v, want %v", got, tt.wantRevs)
			}
			for i, c := range rec.changes {
				if len(c.Ops) != tt.wantOps[i] {
					t.Errorf("change %d (rev %d): %d ops, want %d", i, c.Revision, len(c.Ops), tt.wantOps[i])
				}
			}
			if got := w2.LastSeq(); got != uint64(len(tt.wantRevs)) {
				t.Errorf("LastSeq after replay = %d, want %d", got, len(tt.wantRevs))
			}
		})
	}
}

func TestFilesPerPrefix(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, fsyncCfg(dir), &recorder{})
	for _, c := range history() {
		appendWait(t, w, c)
	}
	w.Close()
	var names []string
	for _, p := range segmentFiles(t, dir) {
		names = append(names, filepath.Base(p))
	}
	want := []string{
		"meta.0000000000000001.wal",
		"p.0000000000000001.wal",                                   // catch-all: /other/x
		"p2f72656769737472792f6576656e74732f.0000000000000001.wal", // /registry/events/
		"p2f72656769737472792f706f64732f.0000000000000001.wal",     // /registry/pods/ (also the pods+configmaps Txn)
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("files %v\nwant %v", names, want)
	}
}

func TestReplayContinuesSequence(t *testing.T) {
	dir := t.TempDir()
	for boot := 0; boot < 3; boot++ {
		w, _ := openT(t, fsyncCfg(dir), &recorder{})
		appendWait(t, w, put(int64(10+boot), "/registry/pods/a", "v"))
		w.Close()
	}
	rec := &recorder{}
	openT(t, fsyncCfg(dir), rec)
	if got := revisions(rec.changes); !reflect.DeepEqual(got, []int64{10, 11, 12}) {
		t.Errorf("revisions %v", got)
	}
}

func TestSegmentsCut(t *testing.T) {
	cfg := fsyncCfg(t.TempDir())
	cfg.SegmentBytes = 200
	writeSegments(t, cfg, 50, 40, 5)
	rec := &recorder{}
	openT(t, cfg, rec)
	if len(rec.changes) != 50 || rec.changes[49].Revision != 50 {
		t.Fatalf("replayed %d changes", len(rec.changes))
	}
}

// With every write left to the flusher (as when some prefix is in fsync
// mode), buffered records reach the file within an interval with nobody
// waiting.
func TestBufferedFlushesWithoutWaiting(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Routing: Routing{Default: ModeBuffered, ResourceRoot: DefaultResourceRoot}, noInline: true}
	w, _ := openT(t, cfg, &recorder{})
	for i := range 10 {
		// Buffered waiters return at once, before any write.
		if err := w.Append(put(int64(i+1), "/registry/pods/a", "v")).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The flusher must get the records to the file on its own, within an interval.
	pollUntil(t, func() bool {
		files := segmentFiles(t, dir)
		return len(files) == 1 && len(recordOffsets(t, files[0])) == 10
	})
	if n := testutil.ToFloat64(w.metrics.replyFlushes); n != 0 {
		t.Errorf("%v reply flushes with noInline", n)
	}
}

// A buffered write to an idle WAL is in the file when its Wait returns (the
// reply wrote it, no flusher wake-up); writes right after it, inside the
// interval, go to the flusher's timer as before.
func TestReplyFlushesIdleWAL(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Routing: Routing{Default: ModeBuffered, ResourceRoot: DefaultResourceRoot}, FlushInterval: time.Hour}
	w, _ := openT(t, cfg, &recorder{})
	appendWait(t, w, put(1, "/registry/pods/a", "v"))
	files := segmentFiles(t, dir)
	if len(files) != 1 || len(recordOffsets(t, files[0])) != 1 {
		t.Fatalf("after the first Wait: %d files, want 1 holding the record", len(files))
	}
	if n := testutil.ToFloat64(w.metrics.replyFlushes); n != 1 {
		t.Errorf("%v reply flushes, want 1", n)
	}
	// Within an hour of that flush: left to the flusher's hour-long timer.
	appendWait(t, w, put(2, "/registry/pods/a", "v"))
	if got := len(recordOffsets(t, segmentFiles(t, dir)[0])); got != 1 {
		t.Errorf("%d records in the file right after a second write inside the interval, want 1", got)
	}
	w.mu.Lock()
	armed := w.timerArmed
	w.mu.Unlock()
	if !armed {
		t.Error("the second write did not arm the flusher's timer")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(recordOffsets(t, segmentFiles(t, dir)[0])); got != 2 {
		t.Errorf("%d records after Close, want 2", got)
	}
}

// A WAL with a prefix in fsync mode never writes on a reply: a flush there
// may fsync, and a reply must not wait on the disk for a buffered record.
func TestNoReplyFlushWithFsyncPrefix(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Routing: Routing{Default: ModeBuffered, ResourceRoot: DefaultResourceRoot,
		Prefixes: map[string]Mode{"/registry/leases/": ModeFsync}}}
	w, _ := openT(t, cfg, &recorder{})
	appendWait(t, w, put(1, "/registry/pods/a", "v"))
	appendWait(t, w, put(2, "/registry/leases/a", "v"))
	if n := testutil.ToFloat64(w.metrics.replyFlushes); n != 0 {
		t.Errorf("%v reply flushes with an fsync-mode prefix, want 0", n)
	}
}

// A reply flush whose Wait is never called (every caller waits; this is a
// bug's bound) still reaches the file: the syncer arms the flusher's timer.
func TestUnwaitedReplyFlushStillWritten(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Routing: Routing{Default: ModeBuffered, ResourceRoot: DefaultResourceRoot}}
	w, _ := openT(t, cfg, &recorder{})
	if _, ok := w.Append(put(1, "/registry/pods/a", "v")).(flushOnReply); !ok {
		t.Fatal("a write to an idle WAL did not get a reply flush")
	}
	pollUntil(t, func() bool {
		files := segmentFiles(t, dir)
		return len(files) == 1 && len(recordOffsets(t, files[0])) == 1
	})
}

func TestReplayApplyErrorStopsBoot(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, fsyncCfg(dir), &recorder{})
	appendWait(t, w, put(1, "/k", "v"))
	w.Close()
	log, _ := testLogger(t)
	_, err := openReplay(fsyncCfg(dir), log, &recorder{failWith: os.ErrInvalid})
	if err == nil || !strings.Contains(err.Error(), "apply seq 1 rev 1") {
		t.Fatalf("err = %v", err)
	}
}

// TestSyncIntervalDefaults: buffered files are fdatasynced every
// DefaultSyncInterval unless set, and never more often than they are
// flushed (a sync between flushes would find nothing new).
func TestSyncIntervalDefaults(t *testing.T) {
	tests := []struct {
		flush, sync, want time.Duration
	}{
		{0, 0, DefaultSyncInterval},
		{10 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
		{200 * time.Millisecond, 0, 200 * time.Millisecond},
		{20 * time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		c := Config{FlushInterval: tt.flush, SyncInterval: tt.sync}
		c.setDefaults()
		if c.SyncInterval != tt.want {
			t.Errorf("flush %s sync %s: SyncInterval = %s, want %s", tt.flush, tt.sync, c.SyncInterval, tt.want)
		}
	}
}
