package wal

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// recordsEnd is where the last whole record of a segment ends.
func recordsEnd(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(bytes.NewReader(data), path, int64(len(data)))
	end := int64(0)
	for {
		if _, _, err := d.next(); err != nil {
			return end
		}
		end = d.fr.off
	}
}

// TestPreallocatedSegment: an fsync-mode segment is zero-filled ahead of
// its records while open; a crash image (the directory copied with the
// WAL still open) replays every acknowledged record and trims the zeros
// quietly; Close leaves the file ending at its last record.
func TestPreallocatedSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := fsyncCfg(dir)
	cfg.PreallocBytes = 64 << 10
	w, _ := openT(t, cfg, &recorder{})
	const n = 300 // about 20 KiB of records: one preallocation step
	for i := range n {
		appendWait(t, w, put(int64(i+1), fmt.Sprintf("/registry/pods/ns/p%d", i), "value"))
	}
	files := segmentFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("want one segment, got %v", files)
	}
	end := recordsEnd(t, files[0])
	if size := fileSize(t, files[0]); size != 64<<10 || end >= size {
		t.Fatalf("open segment: size %d, records end at %d; want size 64 KiB, zeros after the records", size, end)
	}

	crash := copyDir(t, dir)
	rec := &recorder{}
	w2, logs := openT(t, fsyncCfg(crash), rec)
	if got := len(rec.changes); got != n {
		t.Fatalf("crash image replayed %d records, want %d", got, n)
	}
	if !strings.Contains(logs.String(), "trimming zero-filled space after the last record") {
		t.Errorf("no trim in log: %s", logs)
	}
	if strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("preallocated space warned about: %s", logs)
	}
	if size := fileSize(t, segmentFiles(t, crash)[0]); size != end {
		t.Errorf("crash image segment is %d bytes after boot, want %d", size, end)
	}
	appendWait(t, w2, put(n+1, "/registry/pods/ns/after", "v"))
	w2.Close()

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if size := fileSize(t, files[0]); size != end {
		t.Fatalf("closed segment is %d bytes, want %d (its records)", size, end)
	}
	rec3 := &recorder{}
	_, logs3 := openT(t, fsyncCfg(dir), rec3)
	if got := len(rec3.changes); got != n {
		t.Fatalf("after Close replayed %d records, want %d", got, n)
	}
	if strings.Contains(logs3.String(), "trimming") || strings.Contains(logs3.String(), "truncating") {
		t.Errorf("a cleanly closed WAL needed trimming: %s", logs3)
	}
}

// TestPreallocatedSegmentCut: a segment closed by a cut ends at its last
// record (replay calls a zero tail in a closed segment damage), and the
// series replays whole with nothing to trim but the open segment's zeros.
func TestPreallocatedSegmentCut(t *testing.T) {
	dir := t.TempDir()
	cfg := fsyncCfg(dir)
	cfg.PreallocBytes = 16 << 10
	cfg.SegmentBytes = 8 << 10
	w, _ := openT(t, cfg, &recorder{})
	const n = 400
	value := strings.Repeat("v", 100)
	for i := range n {
		appendWait(t, w, put(int64(i+1), fmt.Sprintf("/registry/pods/ns/p%d", i), value))
	}
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("want several segments, got %v", files)
	}
	for _, f := range files[:len(files)-1] {
		if size, end := fileSize(t, f), recordsEnd(t, f); size != end {
			t.Errorf("closed segment %s is %d bytes, its records end at %d", f, size, end)
		}
	}
	crash := copyDir(t, dir)
	rec := &recorder{}
	openT(t, fsyncCfg(crash), rec)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if got := revisions(rec.changes); !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed %d records, want %d in order", len(got), n)
	}
}

// TestBufferedNotPreallocated: buffered segments are not zero-filled (their
// fsyncs are in the background, so the zeros would be extra I/O for
// nothing), and neither is anything with PreallocBytes < 0.
func TestBufferedNotPreallocated(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode Mode
		pre  int64
	}{
		{"buffered", ModeBuffered, 0},
		{"fsync, preallocation off", ModeFsync, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{Dir: dir, Routing: Routing{Default: tc.mode, ResourceRoot: DefaultResourceRoot}, PreallocBytes: tc.pre}
			w, _ := openT(t, cfg, &recorder{})
			for i := range 10 {
				appendWait(t, w, put(int64(i+1), fmt.Sprintf("/registry/pods/ns/p%d", i), "value"))
			}
			pollUntil(t, func() bool {
				f := segmentFiles(t, dir)
				return len(f) == 1 && fileSize(t, f[0]) > 0
			})
			f := segmentFiles(t, dir)[0]
			if size, end := fileSize(t, f), recordsEnd(t, f); size != end {
				t.Errorf("segment is %d bytes, its records end at %d: preallocated", size, end)
			}
		})
	}
}
