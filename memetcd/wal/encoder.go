package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// Frame layout, little endian:
//
//	[0:4]   payload length n (1 .. maxPayload)
//	[4:8]   CRC32C of bytes [0:4]
//	[8:12]  CRC32C of the payload
//	[12:12+n] payload
//
// The length has its own checksum so a flipped bit in it reads as corruption,
// not as a record that runs past the end of the file, which would look like a
// torn tail and be truncated away with everything after it.
const (
	frameHeaderSize = 12
	// maxPayload bounds one record: far above etcd's 1.5 MiB request limit,
	// low enough that a bad length cannot make the decoder allocate wildly.
	maxPayload = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame encodes rec as one frame after buf.
func appendFrame(buf []byte, rec *Record) []byte {
	n := payloadSize(rec)
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderSize)...)
	buf = appendPayload(buf, rec)
	payload := buf[start+frameHeaderSize:]
	if len(payload) != n {
		panic("wal: payloadSize disagrees with appendPayload") // caught by tests
	}
	putHeader(buf[start:start+frameHeaderSize], payload)
	return buf
}

// appendRawFrame frames an already encoded payload (snapshot entries).
func appendRawFrame(buf, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderSize)...)
	buf = append(buf, payload...)
	putHeader(buf[start:start+frameHeaderSize], buf[start+frameHeaderSize:])
	return buf
}

func putHeader(h, payload []byte) {
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(h[0:4], castagnoli))
	binary.LittleEndian.PutUint32(h[8:12], crc32.Checksum(payload, castagnoli))
}
