package transport

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// msgHeaderLen is gRPC's message prefix: a compressed flag and a 4-byte length.
const msgHeaderLen = 5

// Header blocks are written without HPACK's dynamic table (every field a
// literal "without indexing", or a static-table index), so they need no
// per-connection encoder state and the fixed ones are built once.

// responseHeaders is ":status: 200" and "content-type: application/grpc".
var responseHeaders = appendLiteral([]byte{0x88}, "content-type", "application/grpc")

// appendLiteral appends a "literal header field without indexing, new name".
func appendLiteral(b []byte, name, value string) []byte {
	b = append(b, 0)
	b = appendHpackString(b, name)
	return appendHpackString(b, value)
}

// appendHpackString appends a string literal, not Huffman coded.
func appendHpackString(b []byte, s string) []byte {
	b = appendHpackInt(b, 7, 0, uint64(len(s)))
	return append(b, s...)
}

// appendHpackInt appends v as an HPACK integer with an n-bit prefix whose
// high bits are flags (RFC 7541 5.1).
func appendHpackInt(b []byte, n uint, flags byte, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(b, flags|byte(v))
	}
	b = append(b, flags|byte(limit))
	v -= limit
	for v >= 128 {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// trailerBlock encodes a call's status as gRPC trailers; with headers it is
// a "trailers-only" response (the status with the response headers).
func trailerBlock(st *status.Status, headers bool) []byte {
	var b []byte
	if headers {
		b = append(b, responseHeaders...)
	}
	b = appendLiteral(b, "grpc-status", strconv.Itoa(int(st.Code())))
	if msg := st.Message(); msg != "" {
		b = appendLiteral(b, "grpc-message", percentEncode(msg))
	}
	if p := st.Proto(); p != nil && len(p.Details) > 0 {
		if raw, err := proto.Marshal(p); err == nil {
			b = appendLiteral(b, "grpc-status-details-bin", base64.RawStdEncoding.EncodeToString(raw))
		}
	}
	return b
}

// okTrailers is the trailer block of a successful call.
var okTrailers = trailerBlock(status.New(codes.OK, ""), false)

// percentEncode escapes a grpc-message as gRPC's spec asks: bytes outside
// printable ASCII, and '%', as %XX.
func percentEncode(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// parseTimeout reads a grpc-timeout value: up to 8 digits and a unit.
func parseTimeout(v string) (time.Duration, error) {
	if len(v) < 2 || len(v) > 9 {
		return 0, fmt.Errorf("grpc-timeout %q: bad length", v)
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("grpc-timeout %q: %w", v, err)
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("grpc-timeout %q: unknown unit", v)
	}
	const maxDur = time.Duration(1<<63 - 1)
	if n > uint64(maxDur/unit) {
		return maxDur, nil
	}
	return time.Duration(n) * unit, nil
}

// gogoMessage is what etcd's generated messages offer: marshalling into a
// buffer sized beforehand, with no reflection.
type gogoMessage interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// gogoUnmarshaler is the generated decoder of etcd's messages.
type gogoUnmarshaler interface {
	Unmarshal([]byte) error
}

// marshalMsg encodes m with gRPC's message prefix in front.
func marshalMsg(m any) ([]byte, error) {
	if g, ok := m.(gogoMessage); ok {
		n := g.Size()
		b := make([]byte, msgHeaderLen+n)
		if _, err := g.MarshalToSizedBuffer(b[msgHeaderLen:]); err != nil {
			return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
		}
		binary.BigEndian.PutUint32(b[1:], uint32(n))
		return b, nil
	}
	pm, err := protoMessage(m)
	if err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(make([]byte, msgHeaderLen, msgHeaderLen+proto.Size(pm)), pm)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-msgHeaderLen))
	return b, nil
}

// unmarshalMsg decodes a message body (the prefix stripped) into m.
func unmarshalMsg(b []byte, m any) error {
	if g, ok := m.(gogoUnmarshaler); ok {
		if err := g.Unmarshal(b); err != nil {
			return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
		}
		return nil
	}
	pm, err := protoMessage(m)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, pm); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

func protoMessage(m any) (proto.Message, error) {
	switch v := m.(type) {
	case proto.Message:
		return v, nil
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(v), nil
	}
	return nil, status.Errorf(codes.Internal, "grpc: %T is not a protobuf message", m)
}
