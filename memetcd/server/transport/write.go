package transport

import "golang.org/x/net/http2"

// pushLocked writes as much of st's pending bytes as the windows allow,
// then its trailers; a stream the windows hold back waits in c.blocked
// for the client's next WINDOW_UPDATE. c.wmu is held.
func (c *conn) pushLocked(st *stream) {
	for len(st.pending) > 0 {
		if c.writeErr != nil {
			st.ended()
			return
		}
		n := min(int64(len(st.pending)), int64(c.peerMaxFrame), c.sendWindow, st.sendWindow)
		if n <= 0 {
			if !st.isBlocked {
				st.isBlocked = true
				c.blocked = append(c.blocked, st)
			}
			return
		}
		c.writeFailed(c.fw.WriteData(st.id, false, st.pending[:n]))
		c.sendWindow -= n
		st.sendWindow -= n
		st.pending = st.pending[n:]
	}
	st.pending = nil
	c.wcond.Broadcast() // a sender waiting for st's previous message
	if st.trailers != nil {
		if c.writeErr == nil {
			c.writeFailed(c.writeHeaderBlockLocked(st.id, st.trailers, true))
		}
		st.ended()
	}
}

// pushBlockedLocked retries the streams flow control held back, in the
// order they blocked. c.wmu is held.
func (c *conn) pushBlockedLocked() {
	list := c.blocked
	c.blocked = nil
	for i, st := range list {
		list[i] = nil
		st.isBlocked = false
		if !st.done {
			c.pushLocked(st)
		}
	}
}

// writeHeaderBlockLocked writes a header block as HEADERS and, past the
// client's frame size, CONTINUATION frames. c.wmu is held.
func (c *conn) writeHeaderBlockLocked(id uint32, block []byte, endStream bool) error {
	max := int(c.peerMaxFrame)
	first := block
	if len(first) > max {
		first = first[:max]
	}
	rest := block[len(first):]
	if err := c.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(rest) == 0}); err != nil {
		return err
	}
	for len(rest) > 0 {
		chunk := rest
		if len(chunk) > max {
			chunk = chunk[:max]
		}
		rest = rest[len(chunk):]
		if err := c.fw.WriteContinuation(id, len(rest) == 0, chunk); err != nil {
			return err
		}
	}
	return nil
}
