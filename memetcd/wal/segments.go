package wal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File names in the WAL directory:
//
//	p<hex prefix>.<index>.wal   segment <index> (16 hex digits) of a key prefix;
//	                            the catch-all prefix "" is just "p"
//	meta.<index>.wal            lease grants, revokes and compactions
//	snap-<seq>.snap             snapshot covering records up to <seq>
//	*.tmp                       an unfinished snapshot, removed at boot
//
// Hex keeps any byte of a prefix (slashes, dots) out of the file name while
// staying readable with `xxd -r -p`.
const (
	segmentExt  = ".wal"
	snapPrefix  = "snap-"
	snapExt     = ".snap"
	tmpExt      = ".tmp"
	metaRoute   = "meta"
	routePrefix = "p"
)

// maxPrefixHex bounds the hex part of a file name: with the index and
// extension the name stays well under the usual 255-byte limit.
const maxPrefixHex = 200

// routeName is the file-name stem of a key prefix's segments: "p" and the
// hex-encoded prefix, or, for a prefix too long for a file name, the hex of
// its start, "-" and a hash of the whole (records carry full keys, so the
// name only has to tell prefixes apart).
func routeName(prefix []byte) string {
	h := hex.EncodeToString(prefix)
	if len(h) <= maxPrefixHex {
		return routePrefix + h
	}
	sum := sha256.Sum256(prefix)
	return routePrefix + h[:maxPrefixHex-18] + "-" + hex.EncodeToString(sum[:8]) // even: whole bytes
}

func segmentName(route string, index uint64) string {
	return fmt.Sprintf("%s.%016x%s", route, index, segmentExt)
}

// parseSegmentName splits "<route>.<index>.wal"; ok is false for other files.
func parseSegmentName(name string) (route string, index uint64, ok bool) {
	stem, found := strings.CutSuffix(name, segmentExt)
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(stem, '.')
	if i <= 0 || len(stem)-i-1 != 16 {
		return "", 0, false
	}
	index, err := strconv.ParseUint(stem[i+1:], 16, 64)
	if err != nil {
		return "", 0, false
	}
	route = stem[:i]
	if route != metaRoute {
		if !strings.HasPrefix(route, routePrefix) {
			return "", 0, false
		}
		h, hash, long := strings.Cut(route[len(routePrefix):], "-")
		if _, err := hex.DecodeString(h); err != nil {
			return "", 0, false
		}
		if _, err := hex.DecodeString(hash); long && (err != nil || len(hash) != 16) {
			return "", 0, false
		}
	}
	return route, index, true
}

func snapshotName(seq uint64) string { return fmt.Sprintf("%s%016x%s", snapPrefix, seq, snapExt) }

func parseSnapshotName(name string) (seq uint64, ok bool) {
	s, found := strings.CutPrefix(name, snapPrefix)
	if !found {
		return 0, false
	}
	s, found = strings.CutSuffix(s, snapExt)
	if !found || len(s) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 16, 64)
	return seq, err == nil
}

// segment is one file of a route's series. firstSeq and lastSeq are 0 until a
// record is known to be in it.
type segment struct {
	path     string
	index    uint64
	size     int64
	firstSeq uint64
	lastSeq  uint64
}

// dirListing is what a WAL directory holds, each route's segments in order.
type dirListing struct {
	routes    map[string][]*segment
	snapshots []uint64 // ascending
	tmp       []string
}

func listDir(dir string) (*dirListing, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir: %w", err)
	}
	l := &dirListing{routes: map[string][]*segment{}}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, tmpExt) {
			l.tmp = append(l.tmp, path)
			continue
		}
		if seq, ok := parseSnapshotName(name); ok {
			l.snapshots = append(l.snapshots, seq)
			continue
		}
		route, index, ok := parseSegmentName(name)
		if !ok {
			continue // not ours: leave operators' files alone
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", path, err)
		}
		l.routes[route] = append(l.routes[route], &segment{path: path, index: index, size: info.Size()})
	}
	for _, segs := range l.routes {
		sort.Slice(segs, func(i, j int) bool { return segs[i].index < segs[j].index })
	}
	sort.Slice(l.snapshots, func(i, j int) bool { return l.snapshots[i] < l.snapshots[j] })
	return l, nil
}

// walFile is what the WAL needs of an open segment; tests wrap it to inject
// write and sync errors. Records go through Write, at the file offset, which
// only Write moves; WriteAt fills preallocated space ahead of it and
// Truncate gives that space back when the segment is closed.
type walFile interface {
	io.Writer
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
}

// openFileFunc opens a segment for writing at its end (created if missing).
type openFileFunc func(path string) (walFile, error)

// openSegment opens path positioned at its end. Not O_APPEND: Linux
// ignores pwrite's offset on such files, and preallocation writes ahead of
// the end.
func openSegment(path string) (walFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return wrapSync(f), nil
}

// syncDir makes the directory's entries (a new or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
