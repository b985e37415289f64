package wal

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/rs/zerolog"
)

// writeRecords writes n puts to one prefix and returns the WAL dir and the
// segment path.
func writeRecords(t *testing.T, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	w, _ := openT(t, fsyncCfg(dir), &recorder{})
	for i := range n {
		appendWait(t, w, &store.Change{Revision: int64(i + 1), Ops: []store.Op{
			{Type: store.OpPut, Key: []byte(fmt.Sprintf("/registry/pods/ns/p%d", i)), Value: []byte("value"), LeaseID: int64(i)},
			{Type: store.OpDelete, Key: []byte("/registry/pods/ns/gone")},
		}})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("want one segment, got %v", files)
	}
	return dir, files[0]
}

// TestTornTailEveryOffset cuts the last record at every byte offset (and,
// separately, fills the cut part with zeros, as a filesystem may after a crash):
// replay must keep every earlier record, truncate the file back to the last
// good record, warn, and accept new writes after it.
func TestTornTailEveryOffset(t *testing.T) {
	const n = 4
	srcDir, seg := writeRecords(t, n)
	offs := recordOffsets(t, seg)
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	last := offs[n-1]
	for cut := last; cut < int64(len(full)); cut++ {
		for _, zeroFill := range []bool{false, true} {
			t.Run(fmt.Sprintf("cut=%d/zeros=%v", cut, zeroFill), func(t *testing.T) {
				dir := copyDir(t, srcDir)
				path := segmentFiles(t, dir)[0]
				data := append([]byte(nil), full[:cut]...)
				if zeroFill {
					data = append(data, make([]byte, int64(len(full))-cut)...)
					if string(data) == string(full) {
						t.Skip("the cut-off bytes were zeros already: nothing torn")
					}
				}
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				rec := &recorder{}
				w, logs := openT(t, fsyncCfg(dir), rec)
				if got := revisions(rec.changes); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
					t.Fatalf("replayed %v, want the first 3", got)
				}
				switch {
				case cut == last && zeroFill:
					// Nothing of the record is left: the same bytes as
					// preallocated space never written.
					if !strings.Contains(logs.String(), "trimming zero-filled space after the last record") {
						t.Errorf("no trim in log: %s", logs)
					}
				case cut > last || zeroFill:
					if !strings.Contains(logs.String(), "truncating torn final record") {
						t.Errorf("no warning in log: %s", logs)
					}
				}
				st, err := os.Stat(path)
				if err != nil || st.Size() != last {
					t.Fatalf("file not truncated to %d: %v %v", last, st.Size(), err)
				}
				appendWait(t, w, put(4, "/registry/pods/ns/again", "v"))
				w.Close()
				rec2 := &recorder{}
				openT(t, fsyncCfg(dir), rec2)
				if got := revisions(rec2.changes); !reflect.DeepEqual(got, []int64{1, 2, 3, 4}) {
					t.Fatalf("after rewrite replayed %v", got)
				}
			})
		}
	}
}

// TestCorruptionStopsBoot flips one bit in each part of a record in the middle
// of a segment: boot must fail naming the file and the record's offset, and
// --wal-repair must truncate there instead.
func TestCorruptionStopsBoot(t *testing.T) {
	const n = 5
	srcDir, seg := writeRecords(t, n)
	offs := recordOffsets(t, seg)
	mid := offs[2]
	tests := []struct {
		name string
		pos  int64
	}{
		{"length", mid + 1},
		{"header checksum", mid + 5},
		{"payload checksum", mid + 9},
		{"payload", mid + frameHeaderSize + 3},
		{"payload end", offs[3] - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, srcDir)
			path := segmentFiles(t, dir)[0]
			data, _ := os.ReadFile(path)
			data[tt.pos] ^= 0x10
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := openReplay(fsyncCfg(dir), zerolog.New(zerolog.NewTestWriter(t)), &recorder{})
			var de *DecodeError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &de) {
				t.Fatalf("err = %v, want a corruption error", err)
			}
			if de.File != path || de.Offset != mid || de.Torn {
				t.Errorf("error names %s offset %d torn %v; want %s offset %d", de.File, de.Offset, de.Torn, path, mid)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", mid)) {
				t.Errorf("message %q does not name file and offset", err)
			}
			// The refused boot must not have touched the file.
			if after, _ := os.ReadFile(path); len(after) != len(data) {
				t.Errorf("refused boot changed the file: %d -> %d bytes", len(data), len(after))
			}

			cfg := fsyncCfg(dir)
			cfg.Repair = true
			rec := &recorder{}
			_, logs := openT(t, cfg, rec)
			if got := revisions(rec.changes); !reflect.DeepEqual(got, []int64{1, 2}) {
				t.Fatalf("repair replayed %v, want [1 2]", got)
			}
			if !strings.Contains(logs.String(), "wal repair") {
				t.Errorf("repair not logged: %s", logs)
			}
		})
	}
}

// TestTornInClosedSegmentIsCorruption: only the last segment of a series can
// be torn by a crash; earlier ones were fsynced before the next began.
func TestTornInClosedSegmentIsCorruption(t *testing.T) {
	dir := t.TempDir()
	cfg := fsyncCfg(dir)
	cfg.SegmentBytes = 100
	files := writeSegments(t, cfg, 10, 50, 3)
	st, _ := os.Stat(files[0])
	if err := os.Truncate(files[0], st.Size()-3); err != nil {
		t.Fatal(err)
	}
	_, err := openReplay(cfg, zerolog.New(zerolog.NewTestWriter(t)), &recorder{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "closed segment") {
		t.Fatalf("err = %v", err)
	}
}

// TestGapDropsLaterRecords: records of one prefix were lost (say, a buffered
// batch that never reached disk) while another prefix's later records were
// written. Replay must stop at the hole so the state is a prefix of history,
// and truncate the later records so new ones can follow.
func TestGapDropsLaterRecords(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, fsyncCfg(dir), &recorder{})
	appendWait(t, w, put(1, "/registry/pods/a", "1"))
	appendWait(t, w, put(2, "/registry/nodes/n", "2"))
	appendWait(t, w, put(3, "/registry/pods/b", "3"))
	appendWait(t, w, put(4, "/registry/nodes/m", "4"))
	appendWait(t, w, put(5, "/registry/pods/c", "5"))
	w.Close()
	nodes := ""
	for _, f := range segmentFiles(t, dir) {
		if strings.Contains(f, routeName([]byte("/registry/nodes/"))) {
			nodes = f
		}
	}
	offs := recordOffsets(t, nodes)
	if err := os.Truncate(nodes, offs[1]); err != nil { // lose seq 4
		t.Fatal(err)
	}
	rec := &recorder{}
	w2, logs := openT(t, fsyncCfg(dir), rec)
	if got := revisions(rec.changes); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Fatalf("replayed %v, want [1 2 3]", got)
	}
	if !strings.Contains(logs.String(), "dropping records after a record lost") {
		t.Errorf("gap not logged: %s", logs)
	}
	appendWait(t, w2, put(6, "/registry/pods/d", "6"))
	w2.Close()
	rec2 := &recorder{}
	openT(t, fsyncCfg(dir), rec2)
	if got := revisions(rec2.changes); !reflect.DeepEqual(got, []int64{1, 2, 3, 6}) {
		t.Fatalf("after restart replayed %v, want [1 2 3 6]", got)
	}
}
