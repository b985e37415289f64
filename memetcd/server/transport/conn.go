package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	errServerStopping = errors.New("server stopping")
	errClientGone     = errors.New("client closed the connection")
)

// conn is one client connection. Its reader goroutine (serve) owns the
// framer it reads with and every stream's receive side; everything written
// goes through wmu.
type conn struct {
	srv    *Server
	nc     net.Conn
	ctx    context.Context // ends when the connection does
	cancel context.CancelCauseFunc
	br     *bufio.Reader
	fr     *http2.Framer // reads; serve's alone

	// Written under wmu: the framer that writes into bw, the send windows
	// the client granted, the streams waiting for window.
	wmu          sync.Mutex
	wcond        *sync.Cond // on wmu: window granted, a stream ended, or the connection closed
	bw           *bufio.Writer
	fw           *http2.Framer
	sendWindow   int64  // connection-level send window
	peerWindow   int64  // the client's SETTINGS_INITIAL_WINDOW_SIZE for new streams
	peerMaxFrame uint32 // the client's SETTINGS_MAX_FRAME_SIZE
	blocked      []*stream
	writeErr     error // set once writing failed or the connection closed: nothing more is written
	// readerBusy: the reader is handling frames and flushes before it next
	// waits for input, so other writers may leave their bytes in bw for
	// that flush (one write for a reply and the watch event it caused).
	// Set by the reader alone; cleared only together with a flush, under wmu.
	readerBusy atomic.Bool

	smu       sync.Mutex
	streams   map[uint32]*stream
	maxID     uint32 // highest stream id the client opened
	goingAway bool   // GOAWAY sent: no new streams; close when the last one ends
	handlers  sync.WaitGroup

	recvUnacked uint32 // connection-level bytes received and not yet granted back; serve's alone
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &conn{srv: s, nc: nc, ctx: ctx, cancel: cancel, streams: make(map[uint32]*stream),
		sendWindow: 65535, peerWindow: 65535, peerMaxFrame: 16384}
	c.wcond = sync.NewCond(&c.wmu)
	return c
}

// serve runs the connection: handshake, then frames until the client or
// the server ends it.
func (c *conn) serve() {
	defer c.srv.connEnded(c)
	err := c.run()
	c.close(err)
	c.handlers.Wait()
	if err != nil && !errors.Is(err, errClientGone) && !errors.Is(err, errServerStopping) && !errors.Is(err, net.ErrClosed) {
		c.srv.cfg.Log.Debug().Err(err).Str("remote", c.nc.RemoteAddr().String()).Msg("connection ended")
	}
}

func (c *conn) run() error {
	if err := c.handshake(); err != nil {
		return err
	}
	for {
		if !c.frameBuffered() {
			c.idle()
		}
		f, err := c.fr.ReadFrame()
		c.readerBusy.Store(true)
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.resetStream(se.StreamID, se.Code)
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.writeGoAway(http2.ErrCode(ce))
				return fmt.Errorf("protocol error: %w", err)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return errClientGone
			}
			return fmt.Errorf("read frame: %w", err)
		}
		if err := c.onFrame(f); err != nil {
			return err
		}
	}
}

// handshake finishes TLS, reads the client's preface and sends this
// server's settings and connection window.
func (c *conn) handshake() error {
	cfg := c.srv.cfg
	_ = c.nc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	if cfg.TLS != nil {
		tc := tls.Server(c.nc, cfg.TLS)
		if err := tc.HandshakeContext(c.ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "h2" {
			return fmt.Errorf("tls: client negotiated %q, not h2", p)
		}
		c.nc = tc
	}
	c.br = bufio.NewReaderSize(c.nc, 32<<10)
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.br, preface); err != nil {
		return fmt.Errorf("read client preface: %w", err)
	}
	if string(preface) != http2.ClientPreface {
		return errors.New("not an HTTP/2 client: bad preface")
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	c.fr.SetReuseFrames()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeErr != nil {
		return c.writeErr // stopped during the handshake
	}
	c.bw = bufio.NewWriterSize(c.nc, 32<<10)
	c.fw = http2.NewFramer(c.bw, nil)
	err := c.fw.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: cfg.MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 1 << 20},
	)
	if err == nil {
		err = c.fw.WriteWindowUpdate(0, connWindow-65535)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}

func (c *conn) onFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			c.wmu.Lock()
			if c.writeErr == nil {
				c.writeFailed(c.fw.WritePing(true, f.Data))
			}
			c.wmu.Unlock()
		}
	case *http2.RSTStreamFrame:
		if st := c.stream(f.StreamID); st != nil {
			st.abort(status.Error(codes.Canceled, "the client cancelled the call"))
		}
	case *http2.GoAwayFrame:
		// The client opens no more streams; it closes the connection when
		// its calls are done, and the reader sees EOF then.
	}
	return nil
}

func (c *conn) stream(id uint32) *stream {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.streams[id]
}

// onHeaders opens a call, or ends a client stream's input (trailers).
func (c *conn) onHeaders(f *http2.MetaHeadersFrame) {
	id := f.StreamID
	if st := c.stream(id); st != nil {
		if f.StreamEnded() {
			st.endInput()
		}
		return
	}
	c.smu.Lock()
	if id%2 == 0 || id <= c.maxID {
		c.smu.Unlock()
		c.resetStream(id, http2.ErrCodeStreamClosed)
		return
	}
	c.maxID = id
	refused := c.goingAway || uint32(len(c.streams)) >= c.srv.cfg.MaxConcurrentStreams
	c.smu.Unlock()
	if refused {
		c.resetStream(id, http2.ErrCodeRefusedStream)
		return
	}
	st, err := c.newStream(f)
	if err != nil {
		c.writeTrailersOnly(id, status.Convert(err))
		return
	}
	c.smu.Lock()
	c.streams[id] = st
	c.smu.Unlock()
	if st.m.stream != nil {
		c.handlers.Add(1)
		go st.runStream()
	}
	if f.StreamEnded() {
		st.endInput()
	}
}

// newStream reads a call's request headers.
func (c *conn) newStream(f *http2.MetaHeadersFrame) (*stream, error) {
	if f.Truncated {
		return nil, status.Error(codes.Internal, "request headers too large")
	}
	if m := f.PseudoValue("method"); m != "POST" {
		return nil, status.Errorf(codes.Internal, "method %q: gRPC calls are POSTs", m)
	}
	path := f.PseudoValue("path")
	var timeout time.Duration
	md := metadata.MD{}
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "content-type":
			if !strings.HasPrefix(hf.Value, "application/grpc") {
				return nil, status.Errorf(codes.Internal, "content-type %q is not gRPC", hf.Value)
			}
		case "grpc-encoding":
			if hf.Value != "identity" {
				return nil, status.Errorf(codes.Unimplemented, "grpc: compressed messages (%s) are not supported by this server", hf.Value)
			}
		case "grpc-timeout":
			d, err := parseTimeout(hf.Value)
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
			timeout = d
		case "te", "grpc-accept-encoding", "connection":
		default:
			if strings.HasSuffix(hf.Name, "-bin") {
				v, err := decodeBinaryHeader(hf.Value)
				if err != nil {
					return nil, status.Errorf(codes.Internal, "header %s: %v", hf.Name, err)
				}
				md[hf.Name] = append(md[hf.Name], v)
				continue
			}
			md[hf.Name] = append(md[hf.Name], hf.Value)
		}
	}
	m := c.srv.methods[path]
	if m == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", path)
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if m.stream == nil && c.srv.cfg.InlineUnary {
		cc := newCallCtx(c.ctx, timeout)
		ctx, cancel = cc, cc.release
	} else {
		ctx, cancel = context.WithCancel(c.ctx)
		if timeout > 0 {
			var cancelT context.CancelFunc
			ctx, cancelT = context.WithTimeout(ctx, timeout)
			prev := cancel
			cancel = func() { cancelT(); prev() }
		}
	}
	ctx = metadata.NewIncomingContext(ctx, md)
	st := &stream{c: c, id: f.StreamID, m: m, cancel: cancel}
	if m.stream != nil {
		ctx = context.WithValue(ctx, backlogKey{}, st)
	}
	st.ctx = ctx
	c.wmu.Lock()
	st.sendWindow = c.peerWindow
	c.wmu.Unlock()
	if m.stream != nil {
		st.inReady = make(chan struct{}, 1)
	}
	return st, nil
}

// onData takes a frame of request bytes.
func (c *conn) onData(f *http2.DataFrame) error {
	n := f.Header().Length
	c.recvUnacked += n
	if c.recvUnacked >= connWindow/4 {
		c.grant(0, c.recvUnacked)
		c.recvUnacked = 0
	}
	st := c.stream(f.StreamID)
	if st == nil {
		c.smu.Lock()
		idle := f.StreamID > c.maxID
		c.smu.Unlock()
		if idle {
			c.writeGoAway(http2.ErrCodeProtocol)
			return fmt.Errorf("data on stream %d, never opened", f.StreamID)
		}
		return nil // a call that ended or was reset: drop its bytes
	}
	st.onData(f.Data(), n)
	if f.StreamEnded() {
		st.endInput()
	}
	return nil
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerWindow
			c.peerWindow = int64(s.Val)
			c.smu.Lock()
			for _, st := range c.streams {
				st.sendWindow += delta
			}
			c.smu.Unlock()
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.writeErr == nil {
		c.writeFailed(c.fw.WriteSettingsAck())
	}
	c.pushBlockedLocked()
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > 1<<31-1 {
			c.writeGoAwayLocked(http2.ErrCodeFlowControl)
			return errors.New("connection send window overflow")
		}
	} else if st := c.stream(f.StreamID); st != nil {
		st.sendWindow += int64(f.Increment)
	}
	c.pushBlockedLocked()
	return nil
}

// grant returns flow-control credit to the client.
func (c *conn) grant(id, n uint32) {
	c.wmu.Lock()
	if c.writeErr == nil {
		c.writeFailed(c.fw.WriteWindowUpdate(id, n))
	}
	c.wmu.Unlock()
}

// resetStream ends a stream with RST_STREAM.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	if st := c.stream(id); st != nil {
		st.abort(status.Errorf(codes.Internal, "stream reset: %v", code))
	}
	c.wmu.Lock()
	if c.writeErr == nil {
		c.writeFailed(c.fw.WriteRSTStream(id, code))
	}
	c.wmu.Unlock()
}

// writeTrailersOnly answers a call that never started with its status.
func (c *conn) writeTrailersOnly(id uint32, st *status.Status) {
	c.wmu.Lock()
	if c.writeErr == nil {
		c.writeFailed(c.writeHeaderBlockLocked(id, trailerBlock(st, true), true))
	}
	c.wmu.Unlock()
}

// goAway tells the client to open no more streams; the connection closes
// when its last call ends.
func (c *conn) goAway() {
	c.smu.Lock()
	if c.goingAway {
		c.smu.Unlock()
		return
	}
	c.goingAway = true
	idle := len(c.streams) == 0
	c.smu.Unlock()
	c.wmu.Lock()
	handshaking := c.fw == nil
	c.wmu.Unlock()
	if handshaking {
		c.close(errServerStopping)
		return
	}
	c.writeGoAway(http2.ErrCodeNo) // flushed
	if idle {
		c.close(errServerStopping)
	}
}

func (c *conn) writeGoAway(code http2.ErrCode) {
	c.wmu.Lock()
	c.writeGoAwayLocked(code)
	c.wmu.Unlock()
}

func (c *conn) writeGoAwayLocked(code http2.ErrCode) {
	if c.writeErr != nil || c.fw == nil {
		return
	}
	c.smu.Lock()
	last := c.maxID
	c.smu.Unlock()
	c.writeFailed(c.fw.WriteGoAway(last, code, nil))
	c.writeFailed(c.bw.Flush())
}

// streamEnded forgets a finished call; a connection going away closes
// after its last. wmu may be held; smu is not.
func (c *conn) streamEnded(st *stream) {
	c.smu.Lock()
	delete(c.streams, st.id)
	last := c.goingAway && len(c.streams) == 0
	c.smu.Unlock()
	if last {
		// Called with wmu held, so the flush and close run apart.
		go func() {
			c.wmu.Lock()
			if c.writeErr == nil {
				c.writeFailed(c.bw.Flush())
			}
			c.wmu.Unlock()
			c.close(errServerStopping)
		}()
	}
}

// frameBuffered says the next frame is whole in the read buffer, so
// reading it will not wait for the client. A HEADERS frame whose header
// block goes on in CONTINUATION frames counts as not whole.
func (c *conn) frameBuffered() bool {
	if c.br.Buffered() < frameHeaderLen {
		return false
	}
	h, err := c.br.Peek(frameHeaderLen)
	if err != nil {
		return false
	}
	length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	if http2.FrameType(h[3]) == http2.FrameHeaders && http2.Flags(h[4])&http2.FlagHeadersEndHeaders == 0 {
		return false
	}
	return c.br.Buffered() >= frameHeaderLen+length
}

// frameHeaderLen is an HTTP/2 frame header's size.
const frameHeaderLen = 9

// idle is the reader about to wait for input: it writes out what it and
// others left in the buffer, and from now on others flush their own.
func (c *conn) idle() {
	c.wmu.Lock()
	c.readerBusy.Store(false)
	if c.writeErr == nil && c.bw != nil && c.bw.Buffered() > 0 {
		c.writeFailed(c.bw.Flush())
	}
	c.wmu.Unlock()
}

// flushLocked writes the buffer out unless the reader is handling input
// and will flush before it waits (see readerBusy). c.wmu is held.
func (c *conn) flushLocked() {
	if c.writeErr == nil && !c.readerBusy.Load() && c.bw.Buffered() > 0 {
		c.writeFailed(c.bw.Flush())
	}
}

// flush writes out what the buffer holds, unless the reader will (flushLocked).
func (c *conn) flush() {
	c.wmu.Lock()
	if c.bw != nil {
		c.flushLocked()
	}
	c.wmu.Unlock()
}

// writeFailed records the first write error; wmu is held. Writes after it
// are dropped and the connection closes.
func (c *conn) writeFailed(err error) {
	if err == nil || c.writeErr != nil {
		return
	}
	c.writeErr = err
	c.wcond.Broadcast()
	go c.close(fmt.Errorf("write: %w", err))
}

// close ends the connection: the socket closes, every call's context is
// cancelled and blocked senders return. Safe to call more than once.
func (c *conn) close(cause error) {
	c.cancel(cause)
	c.wmu.Lock()
	if c.writeErr == nil {
		c.writeErr = cause
	}
	c.wcond.Broadcast()
	c.wmu.Unlock()
	c.nc.Close()
}

// decodeBinaryHeader decodes a "-bin" metadata value (base64, padded or not).
func decodeBinaryHeader(v string) (string, error) {
	enc := base64.RawStdEncoding
	if len(v)%4 == 0 {
		enc = base64.StdEncoding
	}
	b, err := enc.DecodeString(v)
	return string(b), err
}
