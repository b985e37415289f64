package h2bulk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// What this client advertises. Responses to creates are a few KiB, so
// generous receive windows mean the server never waits for a WINDOW_UPDATE.
const (
	streamRecvWindow = 1 << 20
	connRecvWindow   = 16 << 20
	maxHeaderBytes   = 1 << 20
	bufSize          = 64 << 10
	// lastStreamID is the highest client stream id: 2^31-1.
	lastStreamID = math.MaxInt32
	// pingAfter: with requests in flight and nothing read this long, ask the
	// server for a PING; with nothing read for pingAfter*2, give up on it.
	pingAfter = 15 * time.Second
)

// conn is one HTTP/2 connection. Lock order: conn.mu only; it is never held
// while writing to or reading from the network.
type conn struct {
	cfg *Config
	nc  *tls.Conn
	bw  *bufio.Writer
	fr  *http2.Framer // writes: writer goroutine only; reads: reader goroutine only

	// Writer goroutine only.
	henc   *hpack.Encoder
	hbuf   bytes.Buffer
	header [][2]string // Config.Header's fields at dial time
	plan   []step      // reused per batch
	ctrlW  []ctrl      // reused per batch

	// Reader goroutine only.
	hdec     *hpack.Decoder
	hdr      respHeader // the header block being decoded
	hdrID    uint32     // its stream
	hdrEnd   bool       // its HEADERS frame ended the stream
	recvConn int32      // conn-level bytes received and not yet given back

	wake   chan struct{} // cap 1: the writer has something to do
	ready  chan struct{} // closed on the server's first SETTINGS
	closed chan struct{} // closed by close
	read   atomic.Bool   // a frame was read since the reaper last looked

	mu          sync.Mutex // guards everything below
	err         error      // why the connection closed; nil while open
	gotSettings bool
	goAway      bool
	streams     map[uint32]*stream // started and not finished
	queue       []*stream          // waiting for a stream id
	sending     []*stream          // started, body not all sent
	ctrl        []ctrl             // frames for the writer to send first
	nextID      uint32
	maxStreams  uint32 // the server's SETTINGS_MAX_CONCURRENT_STREAMS
	sendConn    int64  // connection send window
	initWindow  int64  // the server's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame    uint32 // the server's SETTINGS_MAX_FRAME_SIZE
	tableSize   uint32 // the server's SETTINGS_HEADER_TABLE_SIZE
	pingOut     bool   // a health PING is unanswered
	idleTicks   int    // reaper ticks with streams in flight and nothing read
}

// stream is one request from Do to its response.
type stream struct {
	req      *Request
	id       uint32 // 0 until the writer starts it
	sent     int    // body bytes planned for sending
	window   int64  // send window
	recv     int32  // bytes received and not yet given back (stream window)
	deadline time.Time
	resp     Response
	finished bool       // under conn.mu
	done     chan error // cap 1; receives exactly once
}

// respHeader is what a response's header block says.
type respHeader struct {
	status      int
	contentType string
	retryAfter  string
}

// ctrl is a control frame for the writer.
type ctrl struct {
	kind   http2.FrameType
	stream uint32
	val    uint32 // window increment or error code
	ping   [8]byte
	ack    bool
}

// step is one planned piece of a batch: a stream's HEADERS, or a slice of its
// body.
type step struct {
	s        *stream
	headers  bool
	from, to int
}

func dial(ctx context.Context, cfg *Config) (*conn, error) {
	header, err := cfg.Header()
	if err != nil {
		return nil, fmt.Errorf("h2bulk: request headers: %w", err)
	}
	raw, err := cfg.Dial(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("h2bulk: dial %s: %w", cfg.Addr, err)
	}
	nc := tls.Client(raw, cfg.TLS)
	if err := nc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("h2bulk: TLS handshake with %s: %w", cfg.Addr, err)
	}
	if p := nc.ConnectionState().NegotiatedProtocol; p != "h2" {
		nc.Close()
		return nil, fmt.Errorf("h2bulk: %s does not speak HTTP/2 (ALPN %q)", cfg.Addr, p)
	}
	c := &conn{
		cfg:        cfg,
		nc:         nc,
		bw:         bufio.NewWriterSize(nc, bufSize),
		header:     header,
		wake:       make(chan struct{}, 1),
		ready:      make(chan struct{}),
		closed:     make(chan struct{}),
		streams:    map[uint32]*stream{},
		nextID:     1,
		maxStreams: 100, // replaced by the server's SETTINGS before the first stream starts
		sendConn:   65535,
		initWindow: 65535,
		maxFrame:   16384,
		tableSize:  4096,
	}
	c.fr = http2.NewFramer(c.bw, bufio.NewReaderSize(nc, bufSize))
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.hdec = hpack.NewDecoder(4096, c.onHeaderField)
	c.hdec.SetMaxStringLength(maxHeaderBytes)

	if err := c.start(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("h2bulk: start HTTP/2 with %s: %w", cfg.Addr, err)
	}
	go c.writeLoop()
	go c.readLoop()
	go c.reap()
	return c, nil
}

// start sends the preface, our SETTINGS and the connection window in one
// write.
func (c *conn) start() error {
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamRecvWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxHeaderBytes},
	)
	if err != nil {
		return err
	}
	if err := c.fr.WriteWindowUpdate(0, connRecvWindow-65535); err != nil {
		return err
	}
	return c.bw.Flush()
}

// takesNewStreams reports whether new requests should go to c.
func (c *conn) takesNewStreams() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.goAway && c.nextID < lastStreamID-2*uint32(len(c.queue)+1)
}

func (c *conn) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// kick wakes the writer.
func (c *conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// roundTrip queues req and waits for its response.
func (c *conn) roundTrip(ctx context.Context, req *Request) (Response, error) {
	s := &stream{req: req, deadline: time.Now().Add(c.cfg.Timeout), done: make(chan error, 1)}
	c.mu.Lock()
	if c.err != nil || c.goAway {
		c.mu.Unlock()
		return Response{}, errUnprocessed
	}
	c.queue = append(c.queue, s)
	c.mu.Unlock()
	c.kick()
	select {
	case err := <-s.done:
		return s.resp, err
	case <-ctx.Done():
		c.mu.Lock()
		c.cancelLocked(s, http2.ErrCodeCancel, ctx.Err())
		c.mu.Unlock()
		return s.resp, <-s.done
	}
}

// cancelLocked ends s with err, resetting its stream if it started.
func (c *conn) cancelLocked(s *stream, code http2.ErrCode, err error) {
	if s.finished {
		return
	}
	if s.id != 0 && c.err == nil {
		c.ctrl = append(c.ctrl, ctrl{kind: http2.FrameRSTStream, stream: s.id, val: uint32(code)})
		c.kick()
	}
	c.finishLocked(s, err)
}

// finishLocked ends s: its caller gets err (nil: s.resp is the response).
func (c *conn) finishLocked(s *stream, err error) {
	if s.finished {
		return
	}
	s.finished = true
	if s.id != 0 {
		delete(c.streams, s.id)
		if err == nil && s.sent < len(s.req.Body) && c.err == nil {
			// The server answered before taking the whole body: stop the
			// stream rather than leave it half open.
			c.ctrl = append(c.ctrl, ctrl{kind: http2.FrameRSTStream, stream: s.id, val: uint32(http2.ErrCodeNo)})
			c.kick()
		}
		if len(c.queue) > 0 {
			c.kick() // a stream slot is free for a waiting request
		}
	}
	s.done <- err
}

// close ends the connection: requests never sent go elsewhere, those in
// flight fail with a ConnError.
func (c *conn) close(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	for _, s := range c.queue {
		c.finishLocked(s, errUnprocessed)
	}
	c.queue = nil
	for _, s := range c.streams {
		c.finishLocked(s, &ConnError{Err: err})
	}
	c.sending = nil
	c.mu.Unlock()
	close(c.closed)
	c.nc.Close()
}

// reap times out requests, checks the connection is alive, and closes a
// connection that went away once its last stream is done.
func (c *conn) reap() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	pingTicks := int(pingAfter / time.Second)
	for {
		select {
		case <-c.closed:
			return
		case now := <-t.C:
			read := c.read.Swap(false)
			c.mu.Lock()
			for _, s := range c.streams {
				if now.After(s.deadline) {
					c.cancelLocked(s, http2.ErrCodeCancel, timeoutError{})
				}
			}
			kept := c.queue[:0]
			for _, s := range c.queue {
				if now.After(s.deadline) {
					c.finishLocked(s, timeoutError{})
				} else if !s.finished {
					kept = append(kept, s)
				}
			}
			clear(c.queue[len(kept):])
			c.queue = kept
			busy := len(c.streams) > 0
			switch {
			case read || !busy:
				c.idleTicks = 0
			default:
				c.idleTicks++
			}
			var dead error
			switch {
			case c.idleTicks >= 2*pingTicks:
				dead = fmt.Errorf("nothing read from the server for %v", 2*pingAfter)
			case c.idleTicks >= pingTicks && !c.pingOut:
				c.pingOut = true
				c.ctrl = append(c.ctrl, ctrl{kind: http2.FramePing, ping: [8]byte{'h', '2', 'b', 'u', 'l', 'k'}})
				c.kick()
			case c.goAway && !busy && len(c.queue) == 0:
				dead = errors.New("server sent GOAWAY")
			}
			c.mu.Unlock()
			if dead != nil {
				c.close(dead)
			}
		}
	}
}

// readLoop reads every frame the server sends until the connection fails.
func (c *conn) readLoop() {
	err := c.readFrames()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	c.close(fmt.Errorf("read: %w", err))
}

func (c *conn) readFrames() error {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		c.read.Store(true)
		switch f := f.(type) {
		case *http2.DataFrame:
			err = c.onData(f)
		case *http2.HeadersFrame:
			err = c.onHeaders(f.StreamID, f.HeaderBlockFragment(), f.HeadersEnded(), f.StreamEnded())
		case *http2.ContinuationFrame:
			err = c.onHeaders(f.StreamID, f.HeaderBlockFragment(), f.HeadersEnded(), false)
		case *http2.SettingsFrame:
			err = c.onSettings(f)
		case *http2.WindowUpdateFrame:
			err = c.onWindowUpdate(f)
		case *http2.PingFrame:
			c.mu.Lock()
			if f.IsAck() {
				c.pingOut = false
			} else {
				c.ctrl = append(c.ctrl, ctrl{kind: http2.FramePing, ping: f.Data, ack: true})
				c.kick()
			}
			c.mu.Unlock()
		case *http2.RSTStreamFrame:
			c.onReset(f)
		case *http2.GoAwayFrame:
			c.onGoAway(f)
		case *http2.PushPromiseFrame:
			return errors.New("server pushed although push is disabled")
		}
		if err != nil {
			return err
		}
	}
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = s.Val
		case http2.SettingInitialWindowSize:
			if s.Val > math.MaxInt32 {
				return errors.New("server's initial window size exceeds 2^31-1")
			}
			delta := int64(s.Val) - c.initWindow
			c.initWindow = int64(s.Val)
			for _, st := range c.streams {
				st.window += delta
			}
		case http2.SettingMaxFrameSize:
			if s.Val < 1<<14 || s.Val > 1<<24-1 {
				return fmt.Errorf("server's max frame size %d out of range", s.Val)
			}
			c.maxFrame = s.Val
		case http2.SettingHeaderTableSize:
			c.tableSize = s.Val
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.ctrl = append(c.ctrl, ctrl{kind: http2.FrameSettings, ack: true})
	if !c.gotSettings {
		c.gotSettings = true
		close(c.ready)
	}
	c.kick()
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if c.sendConn+inc > math.MaxInt32 {
			return errors.New("server's connection window overflows 2^31-1")
		}
		c.sendConn += inc
	} else if s := c.streams[f.StreamID]; s != nil {
		if s.window+inc > math.MaxInt32 {
			c.cancelLocked(s, http2.ErrCodeFlowControl, &StreamError{StreamID: s.id, Code: http2.ErrCodeFlowControl})
			return nil
		}
		s.window += inc
	}
	if len(c.sending) > 0 {
		c.kick()
	}
	return nil
}

func (c *conn) onReset(f *http2.RSTStreamFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[f.StreamID]
	if s == nil {
		return
	}
	if f.ErrCode == http2.ErrCodeRefusedStream {
		// The server promises it did not process a refused stream.
		c.finishLocked(s, errUnprocessed)
		return
	}
	c.finishLocked(s, &StreamError{StreamID: f.StreamID, Code: f.ErrCode})
}

func (c *conn) onGoAway(f *http2.GoAwayFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.goAway = true
	// Streams above the last one the server will process were not
	// processed; neither were those still queued here.
	for id, s := range c.streams {
		if id > f.LastStreamID {
			c.finishLocked(s, errUnprocessed)
		}
	}
	for _, s := range c.queue {
		c.finishLocked(s, errUnprocessed)
	}
	c.queue = nil
}

// onHeaders decodes one HEADERS or CONTINUATION fragment. The block is always
// decoded (HPACK state is per connection) even if its stream is gone.
func (c *conn) onHeaders(id uint32, frag []byte, ended, streamEnded bool) error {
	if c.hdrID == 0 {
		c.hdrID, c.hdrEnd, c.hdr = id, streamEnded, respHeader{}
	}
	if _, err := c.hdec.Write(frag); err != nil {
		return fmt.Errorf("decode response headers: %w", err)
	}
	if !ended {
		return nil
	}
	if err := c.hdec.Close(); err != nil {
		return fmt.Errorf("decode response headers: %w", err)
	}
	h, end := c.hdr, c.hdrEnd
	c.hdrID = 0
	if h.status >= 100 && h.status < 200 {
		return nil // informational; the real response follows
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil {
		return nil
	}
	if s.resp.Status == 0 {
		if h.status == 0 {
			c.cancelLocked(s, http2.ErrCodeProtocol, fmt.Errorf("h2bulk: stream %d: response without :status", id))
			return nil
		}
		s.resp.Status, s.resp.ContentType, s.resp.RetryAfter = h.status, h.contentType, h.retryAfter
	}
	if end {
		c.finishLocked(s, nil)
	}
	return nil
}

func (c *conn) onHeaderField(f hpack.HeaderField) {
	switch f.Name {
	case ":status":
		c.hdr.status, _ = strconv.Atoi(f.Value)
	case "content-type":
		c.hdr.contentType = f.Value
	case "retry-after":
		c.hdr.retryAfter = f.Value
	}
}

// onData takes a response body piece: kept for unsuccessful replies,
// dropped otherwise; either way its bytes are given back to the server's
// send windows once half a window has arrived.
func (c *conn) onData(f *http2.DataFrame) error {
	n := int32(f.Length) // with padding: flow control counts the whole payload
	c.recvConn += n
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recvConn >= connRecvWindow/2 {
		c.ctrl = append(c.ctrl, ctrl{kind: http2.FrameWindowUpdate, val: uint32(c.recvConn)})
		c.recvConn = 0
		c.kick()
	}
	s := c.streams[f.StreamID]
	if s == nil {
		return nil
	}
	if s.resp.Status == 0 {
		c.cancelLocked(s, http2.ErrCodeProtocol, fmt.Errorf("h2bulk: stream %d: body before headers", s.id))
		return nil
	}
	if s.resp.Status < 200 || s.resp.Status > 299 {
		d := f.Data()
		if room := c.cfg.MaxErrorBody - len(s.resp.Body); room > 0 {
			s.resp.Body = append(s.resp.Body, d[:min(len(d), room)]...)
		}
	}
	if f.StreamEnded() {
		c.finishLocked(s, nil)
		return nil
	}
	s.recv += n
	if s.recv >= streamRecvWindow/2 {
		c.ctrl = append(c.ctrl, ctrl{kind: http2.FrameWindowUpdate, stream: s.id, val: uint32(s.recv)})
		s.recv = 0
		c.kick()
	}
	return nil
}
