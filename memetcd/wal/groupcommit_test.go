package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gatedFile is a real segment file whose first Sync blocks until the test
// opens the gate. That holds the flusher inside one fsync while the test lines
// up more writers, so the test knows, without timing, which writes can share
// the next fsync.
type gatedFile struct {
	walFile
	syncs   *atomic.Int64
	inSync  chan struct{} // closed when the first Sync starts
	release chan struct{} // the first Sync returns after this is closed
	once    *sync.Once
}

func (g *gatedFile) Sync() error {
	if g.syncs.Add(1) == 1 {
		g.once.Do(func() { close(g.inSync) })
		<-g.release
	}
	return g.walFile.Sync()
}

func TestGroupCommitSharesFsync(t *testing.T) {
	const writers = 64
	dir := t.TempDir()
	var syncs atomic.Int64
	inSync, release := make(chan struct{}), make(chan struct{})
	once := &sync.Once{}
	cfg := fsyncCfg(dir)
	cfg.Routing.ResourceRoot = "" // one file, so one fsync per batch
	cfg.openFile = func(path string) (walFile, error) {
		f, err := openSegment(path)
		if err != nil {
			return nil, err
		}
		return &gatedFile{walFile: f, syncs: &syncs, inSync: inSync, release: release, once: once}, nil
	}
	w, _ := openT(t, cfg, &recorder{})

	first := make(chan error, 1)
	go func() { first <- w.Append(put(1, "/k/first", "v")).Wait(context.Background()) }()
	<-inSync // the flusher is now inside the first batch's fsync

	var appended atomic.Int64
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			wt := w.Append(put(int64(i+2), fmt.Sprintf("/k/%d", i), "v"))
			appended.Add(1)
			errs <- wt.Wait(context.Background())
		}()
	}
	pollUntil(t, func() bool { return appended.Load() == writers })
	close(release)

	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// One fsync for the first write, one shared by all the others.
	if got := syncs.Load(); got != 2 {
		t.Errorf("%d fsyncs for %d writes, want 2", got, writers+1)
	}
	if got := testutil.CollectAndCount(w.metrics.fsyncDuration); got != 1 {
		t.Errorf("fsync histogram series = %d", got)
	}
	w.Close()
	rec := &recorder{}
	openT(t, cfg, rec)
	if len(rec.changes) != writers+1 {
		t.Errorf("replayed %d records, want %d", len(rec.changes), writers+1)
	}
}

// failingFile returns err from Write or Sync after a number of good writes.
//
// An injected error, not a full disk, because a real ENOSPC needs a tiny
// filesystem the test creates (TestDiskFullTmpfs does that, as root); this one
// runs everywhere and also covers fsync failing, which no real filesystem can
// be made to do on demand.
type failingFile struct {
	walFile
	goodWrites *atomic.Int64
	goodSyncs  *atomic.Int64 // nil: syncs never fail
}

func (f *failingFile) Write(p []byte) (int, error) {
	if f.goodWrites.Add(-1) < 0 {
		n := len(p) / 2 // a short write, as a full disk gives
		f.walFile.Write(p[:n])
		return n, syscall.ENOSPC
	}
	return f.walFile.Write(p)
}

func (f *failingFile) Sync() error {
	if f.goodSyncs != nil && f.goodSyncs.Add(-1) < 0 {
		return syscall.EIO
	}
	return f.walFile.Sync()
}

func TestWriteErrorIsNeverAcknowledged(t *testing.T) {
	tests := []struct {
		name       string
		goodWrites int64
		goodSyncs  int64 // -1: never fail
		wantErr    error
		wantReplay int // fsync failing leaves the record on disk: "not acknowledged" is not "not there"
	}{
		{name: "write ENOSPC", goodWrites: 3, goodSyncs: -1, wantErr: syscall.ENOSPC, wantReplay: 3},
		{name: "fsync EIO", goodWrites: 1 << 30, goodSyncs: 3, wantErr: syscall.EIO, wantReplay: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var good, syncs atomic.Int64
			good.Store(tt.goodWrites)
			syncs.Store(tt.goodSyncs)
			cfg := fsyncCfg(dir)
			cfg.Routing.ResourceRoot = ""
			cfg.openFile = func(path string) (walFile, error) {
				f, err := openSegment(path)
				if err != nil {
					return nil, err
				}
				ff := &failingFile{walFile: f, goodWrites: &good}
				if tt.goodSyncs >= 0 {
					ff.goodSyncs = &syncs
				}
				return ff, nil
			}
			w, logs := openT(t, cfg, &recorder{})
			for i := range 3 {
				appendWait(t, w, put(int64(i+1), "/k", "v"))
			}
			err := w.Append(put(4, "/k", "v")).Wait(context.Background())
			if !errors.Is(err, ErrFailed) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Wait = %v, want ErrFailed wrapping %v", err, tt.wantErr)
			}
			// Nothing after a failure is acknowledged, even if the disk recovers.
			good.Store(1 << 30)
			syncs.Store(1 << 30)
			if err := w.Append(put(5, "/k", "v")).Wait(context.Background()); !errors.Is(err, ErrFailed) {
				t.Fatalf("write after failure: Wait = %v, want ErrFailed", err)
			}
			if !strings.Contains(logs.String(), "refusing durable writes") {
				t.Errorf("failure not logged")
			}
			if n := testutil.ToFloat64(w.metrics.writeErrors); n != 1 {
				t.Errorf("write errors metric = %v", n)
			}
			w.Close()
			// A half-written record is a torn tail: replay keeps the
			// acknowledged writes (and the unacknowledged one if it is whole).
			rec := &recorder{}
			openT(t, fsyncCfg(dir), rec)
			if len(rec.changes) != tt.wantReplay {
				t.Errorf("replayed %d, want %d", len(rec.changes), tt.wantReplay)
			}
		})
	}
}

// TestStoreReadOnlyAfterWriteError: through the real store, the failed write
// is reported to its client and the store refuses writes afterwards.
func TestStoreReadOnlyAfterWriteError(t *testing.T) {
	dir := t.TempDir()
	var good atomic.Int64
	good.Store(1)
	cfg := fsyncCfg(dir)
	cfg.openFile = func(path string) (walFile, error) {
		f, err := openSegment(path)
		if err != nil {
			return nil, err
		}
		return &failingFile{walFile: f, goodWrites: &good}, nil
	}
	st, _ := bootStore(t, cfg)
	_, wt, err := st.Put(&store.PutRequest{Key: []byte("/registry/pods/a"), Value: []byte("1")})
	wait(t, wt, err)
	_, wt, err = st.Put(&store.PutRequest{Key: []byte("/registry/pods/b"), Value: []byte("2")})
	if err == nil {
		err = wt.Wait(context.Background())
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second put: %v, want ENOSPC", err)
	}
	if _, _, err := st.Put(&store.PutRequest{Key: []byte("/registry/pods/c"), Value: []byte("3")}); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("put after failure: %v, want ErrReadOnly", err)
	}
}

// TestDiskFullTmpfs fills a real, tiny tmpfs the test mounts itself: the
// write that hits ENOSPC fails its client, every acknowledged write replays.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs; TestWriteErrorIsNeverAcknowledged covers the logic")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (%v: %s); TestWriteErrorIsNeverAcknowledged covers the logic", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	cfg := fsyncCfg(dir)
	w, _ := openT(t, cfg, &recorder{})
	value := strings.Repeat("x", 3000)
	acked := 0
	var failure error
	for i := range 1000 {
		if err := w.Append(put(int64(i+1), "/registry/pods/a", value)).Wait(context.Background()); err != nil {
			failure = err
			break
		}
		acked++
	}
	if !errors.Is(failure, syscall.ENOSPC) || !errors.Is(failure, ErrFailed) {
		t.Fatalf("after %d writes: %v, want ENOSPC", acked, failure)
	}
	w.Close()
	rec := &recorder{}
	openT(t, cfg, rec)
	if len(rec.changes) != acked {
		t.Fatalf("replayed %d, acknowledged %d", len(rec.changes), acked)
	}
}

// TestBarrierWaitsForInflightFsync: a barrier taken while a batch is being
// fsynced is done only after that fsync.
func TestBarrierWaitsForInflightFsync(t *testing.T) {
	dir := t.TempDir()
	var syncs atomic.Int64
	inSync, release := make(chan struct{}), make(chan struct{})
	cfg := fsyncCfg(dir)
	cfg.openFile = func(path string) (walFile, error) {
		f, err := openSegment(path)
		if err != nil {
			return nil, err
		}
		return &gatedFile{walFile: f, syncs: &syncs, inSync: inSync, release: release, once: &sync.Once{}}, nil
	}
	w, _ := openT(t, cfg, &recorder{})
	if err := w.Barrier().Wait(context.Background()); err != nil {
		t.Fatalf("idle barrier: %v", err)
	}
	w1 := w.Append(put(1, "/k", "v"))
	<-inSync // the first Sync is the one that blocks: revision 1 is not durable yet
	wt := w.Append(put(2, "/k", "v2"))
	b := w.Barrier()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); err == nil {
		t.Fatal("barrier done while the fsync it covers is still running")
	}
	if err := w.Durable(2).Wait(ctx); err == nil {
		t.Fatal("state at revision 2 reported durable before its fsync")
	}
	if err := w.Durable(0).Wait(ctx); err != nil {
		t.Fatalf("nothing at revision 0 is pending, yet Durable(0) waits: %v", err)
	}
	close(release)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wt.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w1.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Durable(2).Wait(ctx); err != nil {
		t.Fatalf("after the fsync: %v", err)
	}
}

// blockedWriteFile is a segment whose first Write blocks until release is
// closed: a disk that has stopped keeping up.
type blockedWriteFile struct {
	walFile
	writes  *atomic.Int64
	inWrite chan struct{}
	release chan struct{}
}

func (b *blockedWriteFile) Write(p []byte) (int, error) {
	if b.writes.Add(1) == 1 {
		close(b.inWrite)
		<-b.release
	}
	return b.walFile.Write(p)
}

// TestBufferedBackpressure: buffered appends stop at twice MaxPendingBytes
// while the flusher is stuck in a write, and go on once it takes the data.
func TestBufferedBackpressure(t *testing.T) {
	dir := t.TempDir()
	var writes atomic.Int64
	inWrite, release := make(chan struct{}), make(chan struct{})
	cfg := fsyncCfg(dir)
	cfg.Routing.Default = ModeBuffered
	cfg.Routing.ResourceRoot = ""
	cfg.MaxPendingBytes = 1024
	cfg.openFile = func(path string) (walFile, error) {
		f, err := openSegment(path)
		if err != nil {
			return nil, err
		}
		return &blockedWriteFile{walFile: f, writes: &writes, inWrite: inWrite, release: release}, nil
	}
	w, _ := openT(t, cfg, &recorder{})
	value := strings.Repeat("v", 1100)
	ctx := context.Background()
	if err := w.Append(put(1, "/k/a", value)).Wait(ctx); err != nil { // kicks the flusher
		t.Fatal(err)
	}
	<-inWrite          // the flusher holds the first record and cannot take more
	for i := range 2 { // 2 * ~1.1 KiB pending: at the limit
		if err := w.Append(put(int64(i+2), "/k/b", value)).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Append(put(4, "/k/c", value)).Wait(ctx)
	}()
	pollUntil(t, func() bool { return testutil.ToFloat64(w.metrics.backpressure) == 1 })
	select {
	case <-done:
		t.Fatal("append returned while the flusher was stuck and the buffer full")
	default:
	}
	close(release)
	<-done
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	if len(files) != 1 || len(recordOffsets(t, files[0])) != 4 {
		t.Fatalf("files %v", files)
	}
}
