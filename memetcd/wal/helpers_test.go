package wal

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// recorder is a Target that remembers what replay gave it.
type recorder struct {
	mu         sync.Mutex
	restored   bool
	rev        int64
	compactRev int64
	leases     []store.Lease
	kvs        []store.KeyValue
	changes    []store.Change
	failWith   error
}

func (r *recorder) Restore(rev, compactRev int64, leases []store.Lease, kvs iter.Seq[store.KeyValue]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored, r.rev, r.compactRev, r.leases = true, rev, compactRev, leases
	for kv := range kvs {
		r.kvs = append(r.kvs, kv)
	}
	return nil
}

func (r *recorder) Apply(c *store.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failWith != nil {
		return r.failWith
	}
	r.changes = append(r.changes, *c)
	return nil
}

// testLogger logs to the test's output and to a buffer the test reads, to check
// the warnings the WAL must give.
func testLogger(t *testing.T) (zerolog.Logger, *logtest.Buffer) {
	t.Helper()
	lb := &logtest.Buffer{}
	return zerolog.New(zerolog.MultiLevelWriter(lb, zerolog.NewTestWriter(t))), lb
}

// openT opens a WAL on dir and closes it at cleanup if the test did not.
func openT(t *testing.T, cfg Config, target Target) (*WAL, *logtest.Buffer) {
	t.Helper()
	log, lb := testLogger(t)
	w, err := openReplay(cfg, log, target)
	if err != nil {
		t.Fatalf("open wal: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w, lb
}

// openReplay is Open then Replay, closing the WAL if Replay fails.
func openReplay(cfg Config, log zerolog.Logger, target Target) (*WAL, error) {
	w, err := Open(cfg, log, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	if err := w.Replay(target); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func fsyncCfg(dir string) Config {
	return Config{Dir: dir, Routing: Routing{Default: ModeFsync, ResourceRoot: DefaultResourceRoot}}
}

func put(rev int64, key, value string) *store.Change {
	return &store.Change{Revision: rev, Ops: []store.Op{{Type: store.OpPut, Key: []byte(key), Value: []byte(value)}}}
}

// appendWait appends and waits, failing the test on a durability error.
func appendWait(t *testing.T, w *WAL, c *store.Change) {
	t.Helper()
	if err := w.Append(c).Wait(context.Background()); err != nil {
		t.Fatalf("append rev %d: %v", c.Revision, err)
	}
}

// revisions lists the revisions replay delivered.
func revisions(cs []store.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Revision
	}
	return out
}

// segmentFiles lists the WAL's segment files, sorted.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// recordOffsets decodes a segment and returns each record's frame offset.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(bytes.NewReader(data), path, int64(len(data)))
	var offs []int64
	for {
		_, off, err := d.next()
		if err != nil {
			if !strings.Contains(fmt.Sprint(err), "EOF") {
				t.Fatalf("decode %s: %v", path, err)
			}
			return offs
		}
		offs = append(offs, off)
	}
}

// copyDir copies the flat WAL directory src to a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// pollUntil waits for cond, failing after a generous bound (a hang, not speed).
func pollUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testutilGauge reads a gauge's value.
func testutilGauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

// writeSegments appends n puts of one key with values of valueLen bytes
// (revisions 1 to n) in a WAL on cfg, closes it, and returns the segment
// files, failing unless there are at least minFiles: cfg.SegmentBytes should
// be small enough to cut.
func writeSegments(t *testing.T, cfg Config, n, valueLen, minFiles int) []string {
	t.Helper()
	w, _ := openT(t, cfg, &recorder{})
	for i := range n {
		appendWait(t, w, put(int64(i+1), "/registry/pods/a", strings.Repeat("v", valueLen)))
	}
	w.Close()
	files := segmentFiles(t, cfg.Dir)
	if len(files) < minFiles {
		t.Fatalf("%d segments, want at least %d", len(files), minFiles)
	}
	return files
}
