package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrCorrupt is wrapped by every error about bytes on disk that do not check
// out; errors.As to *DecodeError gives the offset.
var ErrCorrupt = errors.New("wal corrupt")

// DecodeError says where and why a file stopped decoding. Torn means the bad
// bytes are all at the end of the file, which is what a crash in the middle
// of a write leaves behind; anything else is corruption.
type DecodeError struct {
	File   string
	Offset int64
	Torn   bool
	// Unwritten means everything from Offset on is zero: space a
	// preallocating writer reserved and never used (Torn is set too).
	Unwritten bool
	Reason    string
}

func (e *DecodeError) Error() string {
	kind := "corrupt record"
	if e.Torn {
		kind = "torn final record"
	}
	return fmt.Sprintf("%s: %s at offset %d: %s", e.File, kind, e.Offset, e.Reason)
}

func (e *DecodeError) Unwrap() error { return ErrCorrupt }

// frameReader reads frames from a file of known size and classifies a bad
// frame as torn or corrupt:
//
//   - torn: fewer than a header's bytes left; a valid header whose payload
//     runs past the end; a payload checksum failure in the very last frame; or
//     a bad header or payload followed only by zero bytes (a file extended by
//     the crash but never filled in).
//   - corrupt: anything else, in particular a bad frame with real data after.
type frameReader struct {
	r    *bufio.Reader
	file string
	size int64
	off  int64 // offset of the next frame
}

func newFrameReader(r io.Reader, file string, size int64) *frameReader {
	// A big buffer makes replay read segments in large sequential chunks;
	// small files (and fuzz inputs) need no more than their size.
	bufSize := int(min(max(size, 4096), 1<<20))
	return &frameReader{r: bufio.NewReaderSize(r, bufSize), file: file, size: size}
}

// next returns the next payload (a fresh slice the caller may keep) and its
// frame's offset; io.EOF at a clean end, *DecodeError otherwise.
func (f *frameReader) next() (payload []byte, off int64, err error) {
	off = f.off
	left := f.size - off
	if left == 0 {
		return nil, off, io.EOF
	}
	if left < frameHeaderSize {
		return nil, off, f.bad(off, true, fmt.Sprintf("partial header (%d of %d bytes)", left, frameHeaderSize))
	}
	var h [frameHeaderSize]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		return nil, off, fmt.Errorf("%s: read at offset %d: %w", f.file, off, err)
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if crc32.Checksum(h[0:4], castagnoli) != binary.LittleEndian.Uint32(h[4:8]) {
		// A header only partly written before the crash, zeros after it,
		// is torn; a bad header with data after it is damage.
		zero, err := f.restIsZero()
		if err != nil {
			return nil, off, err
		}
		if zero && h == ([frameHeaderSize]byte{}) {
			return nil, off, &DecodeError{File: f.file, Offset: off, Torn: true, Unwritten: true, Reason: "zero-filled space after the last record"}
		}
		if zero {
			return nil, off, f.bad(off, true, "zero-filled tail")
		}
		return nil, off, f.bad(off, false, "header checksum mismatch")
	}
	if n == 0 || n > maxPayload {
		return nil, off, f.bad(off, false, fmt.Sprintf("payload length %d out of range", n))
	}
	if int64(n) > left-frameHeaderSize {
		return nil, off, f.bad(off, true, fmt.Sprintf("record of %d bytes runs past end of file (%d left)", n, left-frameHeaderSize))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(f.r, payload); err != nil {
		return nil, off, fmt.Errorf("%s: read at offset %d: %w", f.file, off, err)
	}
	f.off = off + frameHeaderSize + int64(n)
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(h[8:12]) {
		if f.off == f.size {
			return nil, off, f.bad(off, true, "payload checksum mismatch in last record")
		}
		zero, err := f.restIsZero()
		if err != nil {
			return nil, off, err
		}
		if zero {
			return nil, off, f.bad(off, true, "payload checksum mismatch before zero-filled tail")
		}
		return nil, off, f.bad(off, false, "payload checksum mismatch")
	}
	return payload, off, nil
}

// restIsZero reports whether everything left in the file is zero.
func (f *frameReader) restIsZero() (bool, error) {
	var buf [32 << 10]byte
	for {
		n, err := f.r.Read(buf[:])
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: read: %w", f.file, err)
		}
	}
}

func (f *frameReader) bad(off int64, torn bool, reason string) error {
	return &DecodeError{File: f.file, Offset: off, Torn: torn, Reason: reason}
}

// decoder reads Records from one segment.
type decoder struct {
	fr *frameReader
}

func newDecoder(r io.Reader, file string, size int64) *decoder {
	return &decoder{fr: newFrameReader(r, file, size)}
}

// next returns the next record and its frame's offset; io.EOF at a clean end.
func (d *decoder) next() (Record, int64, error) {
	p, off, err := d.fr.next()
	if err != nil {
		return Record{}, off, err
	}
	rec, err := decodePayload(p)
	if err != nil {
		// The checksum matched, so these are the bytes that were written:
		// a writer bug or a newer format, never a torn write.
		return Record{}, off, &DecodeError{File: d.fr.file, Offset: off, Reason: err.Error()}
	}
	return rec, off, nil
}
