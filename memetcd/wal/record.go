package wal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/k8s1m/k8s1m/memetcd/store"
)

// Record is one logged Change: everything one revision did that goes to
// disk, plus the sequence number that orders records across all files.
type Record struct {
	// Seq numbers logged records 1, 2, 3, ... across every file of the WAL
	// with no gaps; replay uses it to merge files and to find lost records.
	Seq      uint64
	Revision int64
	Ops      []store.Op
}

// recordVersion is the first payload byte; a new encoding gets a new number
// so an old binary refuses a newer WAL instead of misreading it.
const recordVersion = 1

var errMalformed = errors.New("malformed record")

// appendPayload encodes rec after buf.
func appendPayload(buf []byte, rec *Record) []byte {
	buf = append(buf, recordVersion)
	buf = binary.AppendUvarint(buf, rec.Seq)
	buf = binary.AppendVarint(buf, rec.Revision)
	buf = binary.AppendUvarint(buf, uint64(len(rec.Ops)))
	for i := range rec.Ops {
		op := &rec.Ops[i]
		buf = append(buf, byte(op.Type))
		buf = appendBytes(buf, op.Key)
		buf = appendBytes(buf, op.Value)
		buf = binary.AppendVarint(buf, op.LeaseID)
		buf = binary.AppendVarint(buf, op.TTL)
		buf = binary.AppendVarint(buf, op.Revision)
	}
	return buf
}

// payloadSize is the exact length appendPayload will add, so the frame
// header can be written before the payload without a second buffer.
func payloadSize(rec *Record) int {
	n := 1 + uvarintLen(rec.Seq) + varintLen(rec.Revision) + uvarintLen(uint64(len(rec.Ops)))
	for i := range rec.Ops {
		op := &rec.Ops[i]
		n += 1 + uvarintLen(uint64(len(op.Key))) + len(op.Key) +
			uvarintLen(uint64(len(op.Value))) + len(op.Value) +
			varintLen(op.LeaseID) + varintLen(op.TTL) + varintLen(op.Revision)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// decodePayload parses a payload; keys and values alias p, which the caller
// must not reuse.
func decodePayload(p []byte) (Record, error) {
	var rec Record
	r := payloadReader{b: p}
	if v := r.byte(); v != recordVersion {
		return rec, fmt.Errorf("%w: version %d, this binary reads %d", errMalformed, v, recordVersion)
	}
	rec.Seq = r.uvarint()
	rec.Revision = r.varint()
	n := r.uvarint()
	// Every op takes at least 6 bytes; a count beyond that is a lie, and
	// checking it first keeps a bad count from allocating gigabytes.
	if n > uint64(len(p))/6 {
		return rec, fmt.Errorf("%w: %d ops in %d bytes", errMalformed, n, len(p))
	}
	rec.Ops = make([]store.Op, n)
	for i := range rec.Ops {
		op := &rec.Ops[i]
		op.Type = store.OpType(r.byte())
		op.Key = r.bytes()
		op.Value = r.bytes()
		op.LeaseID = r.varint()
		op.TTL = r.varint()
		op.Revision = r.varint()
	}
	if r.err != nil {
		return rec, r.err
	}
	if len(r.b) != 0 {
		return rec, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(r.b))
	}
	if rec.Seq == 0 {
		return rec, fmt.Errorf("%w: sequence number 0", errMalformed)
	}
	return rec, nil
}

// payloadReader reads fields and remembers the first error, so decoding
// reads like the encoder and checks once at the end.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: short %s", errMalformed, what)
	}
	r.b = nil
}

// appendBytes appends b with its length in front, as payloadReader.bytes
// reads it back.
func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

func (r *payloadReader) byte() byte {
	if len(r.b) < 1 {
		r.fail("byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *payloadReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("bytes")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
