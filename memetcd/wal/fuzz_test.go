package wal

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/store"
)

// Fuzz targets: `go test -fuzz FuzzDecoder` / `-fuzz FuzzSnapshotLoad` explore;
// plain `go test` runs them over the seeds below (and testdata/fuzz, if any).

func seedSegment() []byte {
	var buf []byte
	for _, c := range history() {
		buf = appendFrame(buf, &Record{Seq: uint64(len(buf) + 1), Revision: c.Revision, Ops: c.Ops})
	}
	return buf
}

// FuzzDecoder: any bytes either decode to records that re-encode to exactly
// the bytes read, or stop with a DecodeError at a frame boundary; never a
// panic, never a hang, never a silently skipped byte.
func FuzzDecoder(f *testing.F) {
	good := seedSegment()
	f.Add(good)
	f.Add(good[:len(good)-5])
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped)
	f.Add(append(bytes.Clone(good), make([]byte, 40)...))
	f.Add([]byte{})
	f.Add(make([]byte, frameHeaderSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder(bytes.NewReader(data), "fuzz", int64(len(data)))
		var reencoded []byte
		for {
			rec, off, err := d.next()
			if err == io.EOF {
				if !bytes.Equal(reencoded, data) {
					t.Fatalf("clean EOF but re-encoding differs")
				}
				return
			}
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not a DecodeError", err)
				}
				if de.Offset != off || off != int64(len(reencoded)) {
					t.Fatalf("error at %d, last good frame ended at %d", de.Offset, len(reencoded))
				}
				return
			}
			reencoded = appendFrame(reencoded, &rec)
			if !bytes.Equal(reencoded, data[:len(reencoded)]) {
				t.Fatalf("record at %d does not re-encode to its bytes", off)
			}
		}
	})
}

// fakeStore is a Snapshotter with fixed contents.
type fakeStore struct {
	rev, compactRev int64
	kvs             []store.KeyValue
	leases          []store.Lease
}

func (s *fakeStore) Snapshot(fn func(store.KeyValue) error) (int64, []store.Lease, int64, error) {
	for _, kv := range s.kvs {
		if err := fn(kv); err != nil {
			return 0, nil, 0, err
		}
	}
	return s.rev, s.leases, s.compactRev, nil
}

func sampleStore() *fakeStore {
	return &fakeStore{
		rev: 42, compactRev: 30,
		kvs: []store.KeyValue{
			{Key: []byte("/registry/pods/a"), Value: []byte("va"), CreateRevision: 3, ModRevision: 40, Version: 5, Lease: 7},
			{Key: []byte("/registry/nodes/n"), Value: []byte("vn"), CreateRevision: 41, ModRevision: 41, Version: 1},
		},
		leases: []store.Lease{{ID: 7, TTL: 60}, {ID: 8, TTL: 3600}},
	}
}

func seedSnapshot(t testing.TB) []byte {
	dir := t.TempDir()
	path, _, _, err := writeSnapshot(dir, 9, sampleStore(), func([]byte) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type loaded struct {
	meta   SnapshotMeta
	leases []store.Lease
	kvs    []store.KeyValue
}

func loadBytes(data []byte) (loaded, error) {
	var l loaded
	meta, err := loadSnapshot(bytes.NewReader(data), "snap", int64(len(data)),
		func(m SnapshotMeta, leases []store.Lease, kvs iter.Seq[store.KeyValue]) error {
			l.leases = leases
			for kv := range kvs {
				l.kvs = append(l.kvs, kv)
			}
			return nil
		})
	l.meta = meta
	return l, err
}

// FuzzSnapshotLoad: any bytes either load completely and consistently (the
// counts in the trailer match what was handed out) or fail with ErrSnapshot.
func FuzzSnapshotLoad(f *testing.F) {
	good := seedSnapshot(f)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:len(good)/2])
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 4
	f.Add(flipped)
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := loadBytes(data)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v does not wrap ErrSnapshot", err)
			}
			return
		}
		if uint64(len(l.kvs)) != l.meta.Keys || uint64(len(l.leases)) != l.meta.Leases {
			t.Fatalf("loaded %d keys %d leases, trailer says %d %d", len(l.kvs), len(l.leases), l.meta.Keys, l.meta.Leases)
		}
	})
}

func TestSnapshotRoundTrip(t *testing.T) {
	l, err := loadBytes(seedSnapshot(t))
	if err != nil {
		t.Fatal(err)
	}
	src := sampleStore()
	want := SnapshotMeta{Seq: 9, Revision: 42, CompactRevision: 30, Keys: 2, Leases: 2}
	if l.meta != want || !reflect.DeepEqual(l.kvs, src.kvs) || !reflect.DeepEqual(l.leases, src.leases) {
		t.Fatalf("got %+v %+v %+v", l.meta, l.kvs, l.leases)
	}
}

// TestSnapshotEveryBitChecked flips each bit of a snapshot in turn: every
// one must make loading fail, so a damaged snapshot never boots.
func TestSnapshotEveryBitChecked(t *testing.T) {
	good := seedSnapshot(t)
	for i := range len(good) * 8 {
		data := bytes.Clone(good)
		data[i/8] ^= 1 << (i % 8)
		if _, err := loadBytes(data); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("bit %d of byte %d flipped: err = %v", i%8, i/8, err)
		}
	}
}

// TestCorruptSnapshotStopsBoot: the boot names the snapshot file.
func TestCorruptSnapshotStopsBoot(t *testing.T) {
	dir := t.TempDir()
	data := seedSnapshot(t)
	data[len(snapMagic)+20] ^= 1
	path := filepath.Join(dir, snapshotName(9))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger(t)
	_, err := openReplay(fsyncCfg(dir), log, &recorder{})
	if !errors.Is(err, ErrSnapshot) || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("err = %v", err)
	}
}
