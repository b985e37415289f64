package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"iter"
	"os"
	"path/filepath"

	"github.com/k8s1m/k8s1m/memetcd/store"
)

// Snapshotter is the store side of a snapshot (*store.Store): fn gets every
// live key at one revision, and the revision, leases and compaction point of
// that same instant are returned afterwards.
type Snapshotter interface {
	Snapshot(fn func(kv store.KeyValue) error) (rev int64, leases []store.Lease, compactRev int64, err error)
}

// SnapshotMeta says what a snapshot covers.
//
// Every record up to Seq is in the snapshot; records after it may be as well,
// because Seq is read just before the store captures its state, not inside
// the same lock. Replay therefore drops the key ops of later records at or
// below Revision (already in the snapshot) and re-applies their lease and
// compaction ops, which set state (grant: lease exists with TTL; revoke: it
// does not; compact: at least this revision) and so give the same result when
// applied again in order.
type SnapshotMeta struct {
	Seq             uint64
	Revision        int64
	CompactRevision int64
	Keys            uint64
	Leases          uint64
}

// Snapshot file layout. Keys come first because the store hands them out
// before it says which revision they are at; the meta goes after them and a
// fixed footer points at it, so a loader reads the meta, then streams keys.
//
//	magic "memetcd-snap-v1\n"
//	frame(kind=key, key, value, create, mod, version, lease) ...
//	frame(kind=meta, seq, revision, compact revision)          <- footer points here
//	frame(kind=lease, id, ttl) ...
//	frame(kind=trailer, #keys, #leases, CRC32C of bytes [0, meta offset))
//	footer: uint64 meta offset, "snapEnd\n"
//
// Frames are the WAL's (length, header CRC, payload CRC). The snapshot is
// written to a .tmp name, fsynced and renamed, then the directory is fsynced,
// so a crash never leaves a partial file under the real name.
const (
	snapMagic     = "memetcd-snap-v1\n"
	snapFooterEnd = "snapEnd\n"
	snapFooterLen = 8 + len(snapFooterEnd)
)

const (
	snapKindKey     = 1
	snapKindMeta    = 2
	snapKindLease   = 3
	snapKindTrailer = 4
)

// ErrSnapshot is wrapped by every error about a snapshot file's contents.
var ErrSnapshot = errors.New("bad snapshot")

// writeSnapshot writes the store's state to dir as the snapshot of seq, with
// only the keys keep accepts, and returns its path and meta.
func writeSnapshot(dir string, seq uint64, src Snapshotter, keep func(key []byte) bool) (string, SnapshotMeta, int64, error) {
	final := filepath.Join(dir, snapshotName(seq))
	tmp := final + tmpExt
	meta := SnapshotMeta{Seq: seq}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", meta, 0, fmt.Errorf("snapshot: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	sw := &snapWriter{w: bufio.NewWriterSize(f, 1<<20), crc: crc32.New(castagnoli)}
	sw.write([]byte(snapMagic))
	var p []byte
	rev, leases, compactRev, err := src.Snapshot(func(kv store.KeyValue) error {
		if !keep(kv.Key) {
			return nil
		}
		p = appendSnapKey(p[:0], kv)
		sw.frame(p)
		meta.Keys++
		return sw.err
	})
	if err != nil {
		return "", meta, 0, fmt.Errorf("snapshot %s: %w", final, err)
	}
	meta.Revision, meta.CompactRevision, meta.Leases = rev, compactRev, uint64(len(leases))
	sw.metaPart(meta, leases)
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return "", meta, 0, fmt.Errorf("snapshot %s: write: %w", tmp, sw.err)
	}
	if err := f.Sync(); err != nil {
		return "", meta, 0, fmt.Errorf("snapshot %s: fsync: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", meta, 0, fmt.Errorf("snapshot %s: close: %w", tmp, err)
	}
	renamed = true
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", meta, 0, fmt.Errorf("snapshot: rename %s: %w", tmp, err)
	}
	if err := syncDir(dir); err != nil {
		return "", meta, 0, fmt.Errorf("snapshot %s: %w", final, err)
	}
	return final, meta, sw.n, nil
}

// appendSnapKey appends the payload of one key entry.
func appendSnapKey(p []byte, kv store.KeyValue) []byte {
	p = append(p, snapKindKey)
	p = appendBytes(p, kv.Key)
	p = appendBytes(p, kv.Value)
	p = binary.AppendVarint(p, kv.CreateRevision)
	p = binary.AppendVarint(p, kv.ModRevision)
	p = binary.AppendVarint(p, kv.Version)
	return binary.AppendVarint(p, kv.Lease)
}

// snapWriter frames payloads, keeps the running CRC and the first error.
type snapWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	n   int64
	buf []byte
	err error
}

func (s *snapWriter) write(b []byte) {
	if s.err != nil {
		return
	}
	s.crc.Write(b)
	s.n += int64(len(b))
	_, s.err = s.w.Write(b)
}

func (s *snapWriter) frame(payload []byte) {
	s.buf = appendRawFrame(s.buf[:0], payload)
	s.write(s.buf)
}

// metaPart writes what follows the keys: the meta entry, the leases, the
// trailer with the key section's checksum, and the footer pointing at the
// meta entry.
func (s *snapWriter) metaPart(meta SnapshotMeta, leases []store.Lease) {
	keysCRC := s.crc.Sum32()
	metaOff := s.n
	p := []byte{snapKindMeta}
	p = binary.AppendUvarint(p, meta.Seq)
	p = binary.AppendVarint(p, meta.Revision)
	p = binary.AppendVarint(p, meta.CompactRevision)
	s.frame(p)
	for _, l := range leases {
		p = append(p[:0], snapKindLease)
		p = binary.AppendVarint(p, l.ID)
		p = binary.AppendVarint(p, l.TTL)
		s.frame(p)
	}
	p = append(p[:0], snapKindTrailer)
	p = binary.AppendUvarint(p, meta.Keys)
	p = binary.AppendUvarint(p, meta.Leases)
	p = binary.LittleEndian.AppendUint32(p, keysCRC)
	s.frame(p)
	p = binary.LittleEndian.AppendUint64(p[:0], uint64(metaOff))
	s.write(append(p, snapFooterEnd...))
}

// restoreFunc receives a snapshot: the meta and leases first, then kvs, which
// reads the keys from the file as it is ranged over (*store.Store.Restore).
type restoreFunc func(meta SnapshotMeta, leases []store.Lease, kvs iter.Seq[store.KeyValue]) error

// loadSnapshot validates a snapshot and feeds it to restore. The meta part
// (meta, leases, counts) is fully checked before restore is called; each key
// is checked before it is yielded, the key count and the keys' checksum after
// the last one. So an error can come after restore got some keys: the caller
// must treat any error as "this boot fails", never serve what it got.
func loadSnapshot(r io.ReaderAt, name string, size int64, restore restoreFunc) (SnapshotMeta, error) {
	metaOff, footOff, err := snapshotBounds(r, name, size)
	if err != nil {
		return SnapshotMeta{}, err
	}
	meta, leases, keysCRC, err := readSnapshotMeta(r, name, metaOff, footOff)
	if err != nil {
		return meta, err
	}
	ks := &snapKeys{
		fr:   newFrameReader(io.NewSectionReader(r, snapKeysOff, metaOff-snapKeysOff), name, metaOff-snapKeysOff),
		name: name, metaOff: metaOff, meta: meta, wantCRC: keysCRC, crc: crc32.New(castagnoli),
	}
	ks.crc.Write([]byte(snapMagic))
	if err := restore(meta, leases, ks.all); err != nil {
		if ks.err != nil {
			return meta, ks.err
		}
		return meta, fmt.Errorf("restore snapshot %s: %w", name, err)
	}
	// Restore may stop ranging early; the rest must still check out.
	for range ks.all {
	}
	return meta, ks.err
}

// snapKeysOff is where the key section starts: right after the magic.
const snapKeysOff = int64(len(snapMagic))

// badSnapshot is the error about a snapshot's contents at off.
func badSnapshot(name string, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrSnapshot, &DecodeError{File: name, Offset: off, Reason: fmt.Sprintf(format, args...)})
}

// snapshotBounds checks the magic and the footer and returns where the meta
// part and the footer start.
func snapshotBounds(r io.ReaderAt, name string, size int64) (metaOff, footOff int64, err error) {
	if size < snapKeysOff+int64(snapFooterLen) {
		return 0, 0, badSnapshot(name, 0, "file of %d bytes is too short", size)
	}
	buf := make([]byte, len(snapMagic))
	if _, err := r.ReadAt(buf, 0); err != nil || string(buf) != snapMagic {
		return 0, 0, badSnapshot(name, 0, "not a memetcd snapshot")
	}
	footer := make([]byte, snapFooterLen)
	footOff = size - int64(snapFooterLen)
	if _, err := r.ReadAt(footer, footOff); err != nil || string(footer[8:]) != snapFooterEnd {
		return 0, 0, badSnapshot(name, footOff, "footer missing")
	}
	metaOff = int64(binary.LittleEndian.Uint64(footer[:8]))
	if metaOff < snapKeysOff || metaOff >= footOff {
		return 0, 0, badSnapshot(name, footOff, "meta offset %d outside the file", metaOff)
	}
	return metaOff, footOff, nil
}

// readSnapshotMeta reads and checks the meta part: meta, leases, trailer,
// then exactly the footer. It returns the key section's expected checksum.
func readSnapshotMeta(r io.ReaderAt, name string, metaOff, footOff int64) (SnapshotMeta, []store.Lease, uint32, error) {
	var meta SnapshotMeta
	fr := newFrameReader(io.NewSectionReader(r, metaOff, footOff-metaOff), name, footOff-metaOff)
	next := func() (payloadReader, int64, error) {
		p, off, err := fr.next()
		off += metaOff
		if err == io.EOF {
			return payloadReader{}, off, badSnapshot(name, off, "unexpected end")
		}
		var de *DecodeError
		if errors.As(err, &de) {
			return payloadReader{}, off, badSnapshot(name, off, "%s", de.Reason)
		}
		return payloadReader{b: p}, off, err
	}
	pr, off, err := next()
	if err != nil {
		return meta, nil, 0, err
	}
	if pr.byte() != snapKindMeta {
		return meta, nil, 0, badSnapshot(name, off, "no meta entry at the footer's offset")
	}
	meta.Seq, meta.Revision, meta.CompactRevision = pr.uvarint(), pr.varint(), pr.varint()
	if pr.err != nil || len(pr.b) != 0 {
		return meta, nil, 0, badSnapshot(name, off, "malformed meta")
	}
	var leases []store.Lease
	for {
		if pr, off, err = next(); err != nil {
			return meta, nil, 0, err
		}
		kind := pr.byte()
		if kind == snapKindLease {
			l := store.Lease{ID: pr.varint(), TTL: pr.varint()}
			if pr.err != nil || len(pr.b) != 0 {
				return meta, nil, 0, badSnapshot(name, off, "malformed lease")
			}
			leases = append(leases, l)
			continue
		}
		if kind != snapKindTrailer {
			return meta, nil, 0, badSnapshot(name, off, "entry kind %d in the meta part", kind)
		}
		break
	}
	meta.Keys, meta.Leases = pr.uvarint(), pr.uvarint()
	if pr.err != nil || len(pr.b) != 4 {
		return meta, nil, 0, badSnapshot(name, off, "malformed trailer")
	}
	keysCRC := binary.LittleEndian.Uint32(pr.b)
	if meta.Leases != uint64(len(leases)) {
		return meta, nil, 0, badSnapshot(name, off, "trailer says %d leases, file has %d", meta.Leases, len(leases))
	}
	if _, _, err := fr.next(); err != io.EOF {
		return meta, nil, 0, badSnapshot(name, off, "data between trailer and footer")
	}
	return meta, leases, keysCRC, nil
}

// snapKeys streams the key section to restore, checking each key before it
// is yielded and the count and checksum after the last one. err is the first
// problem; once set, ranging yields nothing more.
type snapKeys struct {
	fr      *frameReader
	name    string
	metaOff int64
	meta    SnapshotMeta
	wantCRC uint32
	crc     hash.Hash32
	n       uint64
	done    bool
	err     error
}

func (k *snapKeys) all(yield func(store.KeyValue) bool) {
	for k.err == nil && !k.done {
		p, off, err := k.fr.next()
		off += snapKeysOff
		if err == io.EOF {
			k.done = true
			if k.n != k.meta.Keys {
				k.err = badSnapshot(k.name, k.metaOff, "trailer says %d keys, file has %d", k.meta.Keys, k.n)
			} else if k.crc.Sum32() != k.wantCRC {
				k.err = badSnapshot(k.name, snapKeysOff, "checksum of the key section does not match")
			}
			return
		}
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				err = badSnapshot(k.name, off, "%s", de.Reason)
			}
			k.err = err
			return
		}
		writeFrameCRC(k.crc, p)
		pr := payloadReader{b: p}
		if pr.byte() != snapKindKey {
			k.err = badSnapshot(k.name, off, "entry in the key section is not a key")
			return
		}
		kv := store.KeyValue{Key: pr.bytes(), Value: pr.bytes(), CreateRevision: pr.varint(),
			ModRevision: pr.varint(), Version: pr.varint(), Lease: pr.varint()}
		if pr.err != nil || len(pr.b) != 0 {
			k.err = badSnapshot(k.name, off, "malformed key")
			return
		}
		k.n++
		if !yield(kv) {
			return
		}
	}
}

// writeFrameCRC feeds a frame to a running checksum: frames are
// deterministic, so re-making the header equals the bytes on disk.
func writeFrameCRC(h hash.Hash32, p []byte) {
	var hdr [frameHeaderSize]byte
	putHeader(hdr[:], p)
	h.Write(hdr[:])
	h.Write(p)
}
