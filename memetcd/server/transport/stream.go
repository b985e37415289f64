package transport

import (
	"context"
	"encoding/binary"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// stream is one call.
type stream struct {
	c      *conn
	id     uint32
	m      *method
	ctx    context.Context
	cancel context.CancelFunc

	// Receive side, the reader's: request bytes not yet a whole message,
	// stream-level credit not yet granted back, input closed to new bytes.
	buf         []byte
	recvUnacked uint32
	inClosed    bool

	// Messages for a streaming handler's RecvMsg, under rmu. The client
	// can send no more than the stream window before RecvMsg takes some,
	// which bounds inq.
	rmu      sync.Mutex
	inq      [][]byte
	inEnd    bool  // the client ended its input
	inErr    error // the input failed (oversize message, reset)
	consumed uint32
	inReady  chan struct{} // cap 1: inq, inEnd or inErr changed

	// Send side, under c.wmu.
	sendWindow  int64
	headersSent bool
	pending     []byte // message bytes the windows have not let out yet
	trailers    []byte // the status, written after pending
	done        bool   // trailers written or the stream reset: nothing more goes out
	isBlocked   bool   // in c.blocked
}

// onData takes request bytes (n counts the frame's padding too).
func (st *stream) onData(data []byte, n uint32) {
	if st.inClosed {
		return
	}
	cfg := st.c.srv.cfg
	st.buf = append(st.buf, data...)
	if st.m.unary != nil {
		st.recvUnacked += n
		if len(st.buf) > cfg.MaxRecvMsgSize+msgHeaderLen {
			st.inClosed = true
			st.finish(nil, status.Newf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", len(st.buf)-msgHeaderLen, cfg.MaxRecvMsgSize))
			return
		}
		if st.recvUnacked >= streamWindow/4 {
			st.c.grant(st.id, st.recvUnacked)
			st.recvUnacked = 0
		}
		return
	}
	// Streaming: padding is granted back now, message bytes as RecvMsg
	// takes them.
	if pad := n - uint32(len(data)); pad > 0 {
		st.c.grant(st.id, pad)
	}
	var msgs [][]byte
	var err error
	for len(st.buf) >= msgHeaderLen {
		size := binary.BigEndian.Uint32(st.buf[1:])
		if st.buf[0] != 0 {
			err = status.Error(codes.Internal, "grpc: compressed message without a negotiated encoding")
			break
		}
		if uint64(size) > uint64(cfg.MaxRecvMsgSize) {
			err = status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", size, cfg.MaxRecvMsgSize)
			break
		}
		if len(st.buf) < msgHeaderLen+int(size) {
			break
		}
		msgs = append(msgs, append([]byte(nil), st.buf[msgHeaderLen:msgHeaderLen+int(size)]...))
		st.buf = st.buf[msgHeaderLen+int(size):]
	}
	if len(st.buf) == 0 {
		st.buf = nil
	}
	if err != nil {
		st.inClosed = true
		st.buf = nil
	}
	st.rmu.Lock()
	st.inq = append(st.inq, msgs...)
	if err != nil && st.inErr == nil {
		st.inErr = err
	}
	st.rmu.Unlock()
	st.signal()
}

func (st *stream) signal() {
	select {
	case st.inReady <- struct{}{}:
	default:
	}
}

// endInput is the client's END_STREAM: a unary call runs now.
func (st *stream) endInput() {
	if st.m.unary == nil {
		st.rmu.Lock()
		st.inEnd = true
		if len(st.buf) > 0 && st.inErr == nil && !st.inClosed {
			st.inErr = status.Error(codes.Internal, "grpc: the client ended the stream inside a message")
		}
		st.rmu.Unlock()
		st.inClosed = true
		st.signal()
		return
	}
	if st.inClosed {
		return
	}
	st.inClosed = true
	msg, err := unaryRequest(st.buf)
	st.buf = nil
	if err != nil {
		st.finish(nil, status.Convert(err))
		return
	}
	if st.c.srv.cfg.InlineUnary {
		st.runUnary(msg, false)
		return
	}
	st.c.handlers.Add(1)
	go func() {
		defer st.c.handlers.Done()
		st.runUnary(msg, true)
	}()
}

// unaryRequest takes the one message of a unary call out of its bytes.
func unaryRequest(b []byte) ([]byte, error) {
	if len(b) < msgHeaderLen {
		return nil, status.Error(codes.Internal, "grpc: the client sent no request message")
	}
	if b[0] != 0 {
		return nil, status.Error(codes.Internal, "grpc: compressed message without a negotiated encoding")
	}
	size := binary.BigEndian.Uint32(b[1:])
	if uint64(len(b)-msgHeaderLen) != uint64(size) {
		return nil, status.Error(codes.Internal, "grpc: a unary call carries exactly one request message")
	}
	return b[msgHeaderLen:], nil
}

// runUnary calls the handler and writes its answer; flush says to write it
// out now (false on the reader, which flushes when its input is idle).
func (st *stream) runUnary(msg []byte, flush bool) {
	dec := func(v any) error { return unmarshalMsg(msg, v) }
	resp, err := st.m.unary(st.m.impl, st.ctx, dec, st.c.srv.unary)
	var out []byte
	if err == nil {
		out, err = st.marshal(resp)
	}
	if err != nil {
		st.finish(nil, status.Convert(err))
	} else {
		st.finish(out, nil)
	}
	if flush {
		st.c.flush()
	}
}

func (st *stream) marshal(m any) ([]byte, error) {
	b, err := marshalMsg(m)
	if err != nil {
		return nil, err
	}
	if max := st.c.srv.cfg.MaxSendMsgSize; len(b)-msgHeaderLen > max {
		return nil, status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", len(b)-msgHeaderLen, max)
	}
	return b, nil
}

// runStream runs a streaming handler on its own goroutine.
func (st *stream) runStream() {
	defer st.c.handlers.Done()
	c := st.c
	stop := context.AfterFunc(st.ctx, func() {
		c.wmu.Lock()
		c.wcond.Broadcast()
		c.wmu.Unlock()
	})
	defer stop()
	err := c.srv.runStream(st.m, &serverStream{st: st})
	st.finish(nil, status.Convert(err))
	c.flush()
}

// finish queues the call's last message (nil: none) and its status (nil:
// OK) and writes what the windows allow.
func (st *stream) finish(msg []byte, s *status.Status) {
	c := st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if st.done {
		return
	}
	trailers := okTrailers
	if s != nil && s.Code() != codes.OK {
		trailers = trailerBlock(s, false)
	}
	if !st.headersSent && msg == nil {
		if c.writeErr == nil {
			c.writeFailed(c.writeHeaderBlockLocked(st.id, trailerBlock(orOK(s), true), true))
		}
		st.headersSent = true
		st.ended()
		return
	}
	if !st.writeHeadersLocked() {
		return
	}
	if len(st.pending) == 0 {
		st.pending = msg // the reply is ours: no copy
	} else {
		st.pending = append(st.pending, msg...)
	}
	st.trailers = trailers
	c.pushLocked(st)
}

func orOK(s *status.Status) *status.Status {
	if s == nil {
		return status.New(codes.OK, "")
	}
	return s
}

// writeHeadersLocked sends the response headers once; false if the
// connection can no longer be written.
func (st *stream) writeHeadersLocked() bool {
	c := st.c
	if c.writeErr != nil {
		st.ended()
		return false
	}
	if !st.headersSent {
		st.headersSent = true
		c.writeFailed(c.writeHeaderBlockLocked(st.id, responseHeaders, false))
	}
	return c.writeErr == nil
}

// ended marks the call over; c.wmu is held.
func (st *stream) ended() {
	if st.done {
		return
	}
	st.done = true
	st.pending, st.trailers = nil, nil
	st.cancel()
	st.c.wcond.Broadcast()
	st.c.streamEnded(st)
}

// abort ends a call the client reset or the connection could not carry on.
func (st *stream) abort(err error) {
	st.c.wmu.Lock()
	st.ended()
	st.c.wmu.Unlock()
	st.rmu.Lock()
	if st.inErr == nil {
		st.inErr = err
	}
	st.rmu.Unlock()
	st.inClosed = true // abort runs on the reader, which owns it
	if st.inReady != nil {
		st.signal()
	}
}

// serverStream is the grpc.ServerStream a streaming handler gets.
type serverStream struct {
	st *stream
}

func (ss *serverStream) Context() context.Context { return ss.st.ctx }

// SetHeader, SendHeader and SetTrailer accept metadata and drop it: the
// services served here send none.
func (ss *serverStream) SetHeader(metadata.MD) error  { return nil }
func (ss *serverStream) SendHeader(metadata.MD) error { return nil }
func (ss *serverStream) SetTrailer(metadata.MD)       {}

// SendMsg writes m, waiting while the stream's previous message is still
// held back by flow control: one message per stream is queued at most.
func (ss *serverStream) SendMsg(m any) error {
	st := ss.st
	b, err := st.marshal(m)
	if err != nil {
		return err
	}
	c := st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		if st.done || st.ctx.Err() != nil {
			if err := st.ctx.Err(); err != nil {
				return status.FromContextError(err).Err()
			}
			return status.Error(codes.Canceled, "the call has ended")
		}
		if c.writeErr != nil {
			return status.Error(codes.Unavailable, "transport is closing")
		}
		if len(st.pending) == 0 {
			break
		}
		c.wcond.Wait()
	}
	if !st.writeHeadersLocked() {
		return status.Error(codes.Unavailable, "transport is closing")
	}
	st.pending = b
	c.pushLocked(st)
	c.flushLocked()
	return nil
}

type backlogKey struct{}

// Backlogged reports whether a streaming call served by this transport
// (ctx is its context) has a message that flow control still holds back,
// or can send nothing more: its next SendMsg would wait. known is false
// for a context of any other server. A sender that must not wait (one
// running on a connection's reader, which alone reads the client's window
// updates) checks it before each SendMsg.
func Backlogged(ctx context.Context) (backlogged, known bool) {
	st, ok := ctx.Value(backlogKey{}).(*stream)
	if !ok {
		return false, false
	}
	st.c.wmu.Lock()
	defer st.c.wmu.Unlock()
	return len(st.pending) > 0 || st.done || st.c.writeErr != nil, true
}

// RecvMsg reads the client's next message into m; io.EOF when the client
// has ended its input.
func (ss *serverStream) RecvMsg(m any) error {
	st := ss.st
	for {
		st.rmu.Lock()
		if len(st.inq) > 0 {
			msg := st.inq[0]
			st.inq[0] = nil
			st.inq = st.inq[1:]
			st.consumed += uint32(msgHeaderLen + len(msg))
			var grant uint32
			if st.consumed >= streamWindow/4 || (len(st.inq) == 0 && st.consumed >= 4<<10) {
				grant, st.consumed = st.consumed, 0
			}
			st.rmu.Unlock()
			if grant > 0 {
				st.c.grant(st.id, grant)
				st.c.flush()
			}
			return unmarshalMsg(msg, m)
		}
		inErr, inEnd := st.inErr, st.inEnd
		st.rmu.Unlock()
		if inErr != nil {
			return inErr
		}
		if inEnd {
			return io.EOF
		}
		select {
		case <-st.inReady:
		case <-st.ctx.Done():
			return status.FromContextError(st.ctx.Err()).Err()
		}
	}
}
