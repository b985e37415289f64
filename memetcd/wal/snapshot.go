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
		p = append(p[:0], snapKindKey)
		p = binary.AppendUvarint(p, uint64(len(kv.Key)))
		p = append(p, kv.Key...)
		p = binary.AppendUvarint(p, uint64(len(kv.Value)))
		p = append(p, kv.Value...)
		p = binary.AppendVarint(p, kv.CreateRevision)
		p = binary.AppendVarint(p, kv.ModRevision)
		p = binary.AppendVarint(p, kv.Version)
		p = binary.AppendVarint(p, kv.Lease)
		sw.frame(p)
		meta.Keys++
		return sw.err
	})
	if err != nil {
		return "", meta, 0, fmt.Errorf("snapshot %s: %w", final, err)
	}
	meta.Revision, meta.CompactRevision, meta.Leases = rev, compactRev, uint64(len(leases))
	keysCRC := sw.crc.Sum32()
	metaOff := sw.n
	p = append(p[:0], snapKindMeta)
	p = binary.AppendUvarint(p, seq)
	p = binary.AppendVarint(p, rev)
	p = binary.AppendVarint(p, compactRev)
	sw.frame(p)
	for _, l := range leases {
		p = append(p[:0], snapKindLease)
		p = binary.AppendVarint(p, l.ID)
		p = binary.AppendVarint(p, l.TTL)
		sw.frame(p)
	}
	p = append(p[:0], snapKindTrailer)
	p = binary.AppendUvarint(p, meta.Keys)
	p = binary.AppendUvarint(p, meta.Leases)
	p = binary.LittleEndian.AppendUint32(p, keysCRC)
	sw.frame(p)
	p = binary.LittleEndian.AppendUint64(p[:0], uint64(metaOff))
	sw.write(append(p, snapFooterEnd...))
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

// restoreFunc receives a snapshot: the meta and leases first, then kvs, which
// reads the keys from the file as it is ranged over (*store.Store.Restore).
type restoreFunc func(meta SnapshotMeta, leases []store.Lease, kvs iter.Seq[store.KeyValue]) error

// loadSnapshot validates a snapshot and feeds it to restore. The meta part
// (meta, leases, counts) is fully checked before restore is called; each key
// is checked before it is yielded, the key count and the keys' checksum after
// the last one. So an error can come after restore got some keys: the caller
// must treat any error as "this boot fails", never serve what it got.
func loadSnapshot(r io.ReaderAt, name string, size int64, restore restoreFunc) (SnapshotMeta, error) {
	var meta SnapshotMeta
	bad := func(off int64, format string, args ...any) error {
		return fmt.Errorf("%w: %w", ErrSnapshot, &DecodeError{File: name, Offset: off, Reason: fmt.Sprintf(format, args...)})
	}
	head := int64(len(snapMagic))
	if size < head+int64(snapFooterLen) {
		return meta, bad(0, "file of %d bytes is too short", size)
	}
	buf := make([]byte, len(snapMagic))
	if _, err := r.ReadAt(buf, 0); err != nil || string(buf) != snapMagic {
		return meta, bad(0, "not a memetcd snapshot")
	}
	footer := make([]byte, snapFooterLen)
	footOff := size - int64(snapFooterLen)
	if _, err := r.ReadAt(footer, footOff); err != nil || string(footer[8:]) != snapFooterEnd {
		return meta, bad(footOff, "footer missing")
	}
	metaOff := int64(binary.LittleEndian.Uint64(footer[:8]))
	if metaOff < head || metaOff >= footOff {
		return meta, bad(footOff, "meta offset %d outside the file", metaOff)
	}

	// Meta part: meta, leases, trailer, then exactly the footer.
	fr := newFrameReader(io.NewSectionReader(r, metaOff, footOff-metaOff), name, footOff-metaOff)
	next := func(base int64) ([]byte, int64, error) {
		p, off, err := fr.next()
		off += base
		if err == io.EOF {
			return nil, off, bad(off, "unexpected end")
		}
		var de *DecodeError
		if errors.As(err, &de) {
			return nil, off, bad(off, "%s", de.Reason)
		}
		return p, off, err
	}
	p, off, err := next(metaOff)
	if err != nil {
		return meta, err
	}
	pr := payloadReader{b: p}
	if pr.byte() != snapKindMeta {
		return meta, bad(off, "no meta entry at the footer's offset")
	}
	meta.Seq, meta.Revision, meta.CompactRevision = pr.uvarint(), pr.varint(), pr.varint()
	if pr.err != nil || len(pr.b) != 0 {
		return meta, bad(off, "malformed meta")
	}
	var leases []store.Lease
	var keysCRC uint32
	for {
		p, off, err = next(metaOff)
		if err != nil {
			return meta, err
		}
		pr = payloadReader{b: p}
		kind := pr.byte()
		if kind == snapKindLease {
			l := store.Lease{ID: pr.varint(), TTL: pr.varint()}
			if pr.err != nil || len(pr.b) != 0 {
				return meta, bad(off, "malformed lease")
			}
			leases = append(leases, l)
			continue
		}
		if kind != snapKindTrailer {
			return meta, bad(off, "entry kind %d in the meta part", kind)
		}
		meta.Keys, meta.Leases = pr.uvarint(), pr.uvarint()
		if pr.err != nil || len(pr.b) != 4 {
			return meta, bad(off, "malformed trailer")
		}
		keysCRC = binary.LittleEndian.Uint32(pr.b)
		if meta.Leases != uint64(len(leases)) {
			return meta, bad(off, "trailer says %d leases, file has %d", meta.Leases, len(leases))
		}
		if _, _, err := fr.next(); err != io.EOF {
			return meta, bad(off, "data between trailer and footer")
		}
		break
	}

	// Keys: streamed to restore as it ranges.
	crc := crc32.New(castagnoli)
	crc.Write(buf) // the magic
	kr := newFrameReader(io.NewSectionReader(r, head, metaOff-head), name, metaOff-head)
	var keysErr error
	var nkeys uint64
	done := false
	kvs := func(yield func(store.KeyValue) bool) {
		for keysErr == nil && !done {
			p, off, err := kr.next()
			off += head
			if err == io.EOF {
				done = true
				if nkeys != meta.Keys {
					keysErr = bad(metaOff, "trailer says %d keys, file has %d", meta.Keys, nkeys)
				} else if crc.Sum32() != keysCRC {
					keysErr = bad(head, "checksum of the key section does not match")
				}
				return
			}
			if err != nil {
				var de *DecodeError
				if errors.As(err, &de) {
					err = bad(off, "%s", de.Reason)
				}
				keysErr = err
				return
			}
			writeFrameCRC(crc, p)
			pr := payloadReader{b: p}
			if pr.byte() != snapKindKey {
				keysErr = bad(off, "entry in the key section is not a key")
				return
			}
			kv := store.KeyValue{Key: pr.bytes(), Value: pr.bytes(), CreateRevision: pr.varint(),
				ModRevision: pr.varint(), Version: pr.varint(), Lease: pr.varint()}
			if pr.err != nil || len(pr.b) != 0 {
				keysErr = bad(off, "malformed key")
				return
			}
			nkeys++
			if !yield(kv) {
				return
			}
		}
	}
	if err := restore(meta, leases, kvs); err != nil {
		if keysErr != nil {
			return meta, keysErr
		}
		return meta, fmt.Errorf("restore snapshot %s: %w", name, err)
	}
	// Restore may stop ranging early; the rest must still check out.
	for range kvs {
	}
	return meta, keysErr
}

// writeFrameCRC feeds a frame to a running checksum: frames are
// deterministic, so re-making the header equals the bytes on disk.
func writeFrameCRC(h hash.Hash32, p []byte) {
	var hdr [frameHeaderSize]byte
	putHeader(hdr[:], p)
	h.Write(hdr[:])
	h.Write(p)
}
