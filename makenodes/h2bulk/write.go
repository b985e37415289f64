package h2bulk

import (
	"fmt"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// writeLoop is the connection's only writer. Each time it wakes it takes
// everything that can be sent at that moment — control frames, new streams up
// to the server's limit, body bytes the flow-control windows allow — and
// sends it in one flushed write. While it writes, more requests queue up and
// go into the next batch, so under load one write carries many requests.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.closed:
			return
		}
		tableSize, frameSize, ok := c.planBatch()
		if !ok {
			return
		}
		if len(c.ctrlW) == 0 && len(c.plan) == 0 {
			continue
		}
		if err := c.writeBatch(tableSize, frameSize); err != nil {
			c.close(fmt.Errorf("write: %w", err))
			return
		}
	}
}

// planBatch decides, under the lock, what this batch sends: it gives new
// streams their ids and takes body bytes out of the send windows.
func (c *conn) planBatch() (tableSize, frameSize uint32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, 0, false
	}
	c.ctrlW = append(c.ctrlW[:0], c.ctrl...)
	clear(c.ctrl)
	c.ctrl = c.ctrl[:0]
	c.plan = c.plan[:0]
	if c.gotSettings {
		started := 0
		for _, s := range c.queue {
			if s.finished {
				started++
				continue
			}
			if c.goAway || uint32(len(c.streams)) >= c.maxStreams {
				break
			}
			if c.nextID > lastStreamID {
				// Out of stream ids: this connection takes no more.
				c.goAway = true
				break
			}
			started++
			s.id = c.nextID
			c.nextID += 2
			s.window = c.initWindow
			c.streams[s.id] = s
			c.plan = append(c.plan, step{s: s, headers: true})
			if len(s.req.Body) > 0 {
				c.sending = append(c.sending, s)
			}
		}
		n := copy(c.queue, c.queue[started:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
	}
	kept := c.sending[:0]
	for _, s := range c.sending {
		if s.finished {
			continue
		}
		if n := min(int64(len(s.req.Body)-s.sent), s.window, c.sendConn); n > 0 {
			c.plan = append(c.plan, step{s: s, from: s.sent, to: s.sent + int(n)})
			s.sent += int(n)
			s.window -= n
			c.sendConn -= n
		}
		if s.sent < len(s.req.Body) {
			kept = append(kept, s)
		}
	}
	clear(c.sending[len(kept):])
	c.sending = kept
	return c.tableSize, c.maxFrame, true
}

// writeBatch encodes the planned frames and flushes them in one write.
func (c *conn) writeBatch(tableSize, frameSize uint32) error {
	fr := c.fr
	for _, k := range c.ctrlW {
		var err error
		switch k.kind {
		case http2.FrameSettings:
			err = fr.WriteSettingsAck()
		case http2.FramePing:
			err = fr.WritePing(k.ack, k.ping)
		case http2.FrameWindowUpdate:
			err = fr.WriteWindowUpdate(k.stream, k.val)
		case http2.FrameRSTStream:
			err = fr.WriteRSTStream(k.stream, http2.ErrCode(k.val))
		}
		if err != nil {
			return err
		}
	}
	c.henc.SetMaxDynamicTableSizeLimit(tableSize)
	for _, p := range c.plan {
		s := p.s
		if p.headers {
			if err := c.writeHeaders(s, frameSize); err != nil {
				return err
			}
			continue
		}
		for from := p.from; from < p.to; {
			to := min(p.to, from+int(frameSize))
			if err := fr.WriteData(s.id, to == len(s.req.Body), s.req.Body[from:to]); err != nil {
				return err
			}
			from = to
		}
	}
	return c.bw.Flush()
}

// writeHeaders sends a request's header block, in CONTINUATION frames if it
// exceeds one frame.
func (c *conn) writeHeaders(s *stream, frameSize uint32) error {
	r := s.req
	c.hbuf.Reset()
	e := c.henc
	field := func(name, value string) { _ = e.WriteField(hpack.HeaderField{Name: name, Value: value}) }
	field(":method", r.Method)
	field(":scheme", "https")
	field(":authority", c.cfg.Authority)
	field(":path", r.Path)
	for _, h := range c.header {
		field(h[0], h[1])
	}
	if len(r.Body) > 0 {
		if r.ContentType != "" {
			field("content-type", r.ContentType)
		}
		field("content-length", strconv.Itoa(len(r.Body)))
	}
	block := c.hbuf.Bytes()
	endStream := len(r.Body) == 0
	first := block[:min(len(block), int(frameSize))]
	rest := block[len(first):]
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      s.id,
		BlockFragment: first,
		EndStream:     endStream,
		EndHeaders:    len(rest) == 0,
	})
	for err == nil && len(rest) > 0 {
		frag := rest[:min(len(rest), int(frameSize))]
		rest = rest[len(frag):]
		err = c.fr.WriteContinuation(s.id, len(rest) == 0, frag)
	}
	return err
}
