// Package h2bulk is a lean HTTP/2 client for one job: many small, independent
// requests in flight to one server (makenodes' creates and deletes to
// kube-apiserver). Go's HTTP/2 transport spends a goroutine, two flushed TLS
// writes and several allocations per request; here each connection has one
// writer goroutine that packs the HEADERS and DATA frames of every request
// waiting at that moment into one buffered write, and one reader goroutine
// that hands each response to its caller by stream id. Only what such a client
// needs is kept: no push, no trailers, no request bodies that are not already
// in memory, no response bodies for successful replies (they are drained and
// counted for flow control only).
//
// Connections honour the server's SETTINGS (concurrent streams, initial window,
// frame and header table sizes), both directions' flow control, PING, RST_STREAM
// and GOAWAY. A request the server never processed (queued when a connection
// closed, refused, or above a GOAWAY's last stream) is sent again on a new
// connection; one cut off after it was sent fails with an error whose
// Retryable method says the caller may send it again.
package h2bulk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Config says where and how to connect.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Authority is the :authority of every request (usually Addr).
	Authority string
	// TLS is the client TLS configuration (CA, client certificate, server
	// name); h2bulk adds ALPN "h2" to a clone of it.
	TLS *tls.Config
	// Dial opens the TCP connection; nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Header returns the header fields sent with every request (lower-case
	// names: user-agent, accept, authorization, ...). It is called once per
	// new connection, so a token read from a file is re-read on reconnects.
	Header func() ([][2]string, error)
	// Conns is how many connections requests are spread over (slot % Conns).
	Conns int
	// Timeout bounds each request from Do to its response; 0: 30 s.
	Timeout time.Duration
	// MaxErrorBody caps how much of an unsuccessful reply's body is kept;
	// 0: 1 MiB.
	MaxErrorBody int
}

// Request is one call. Body is sent as is, not copied: it must not change
// until Do returns, nor ever after Do returned an error (a cancelled or timed
// out request's body may still be in the batch being written).
type Request struct {
	Method      string
	Path        string // with the query, if any
	ContentType string // sent only with a body
	Body        []byte
}

// Response is what the server answered. Body is kept only for statuses
// outside 200-299 (up to Config.MaxErrorBody bytes).
type Response struct {
	Status      int
	ContentType string
	RetryAfter  string
	Body        []byte
}

// Client sends requests over Config.Conns connections, dialled on first use
// and again whenever one is lost or told to go away.
type Client struct {
	cfg   Config
	slots []slot
}

// slot is one of the client's connections.
type slot struct {
	mu sync.Mutex // guards cn and serialises dialling its replacement
	cn *conn
}

// New returns a client; it dials nothing until the first request.
func New(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("h2bulk: no server address")
	}
	if cfg.TLS == nil {
		return nil, errors.New("h2bulk: TLS configuration required (HTTP/2 over TLS only)")
	}
	if cfg.Authority == "" {
		cfg.Authority = cfg.Addr
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxErrorBody <= 0 {
		cfg.MaxErrorBody = 1 << 20
	}
	if cfg.Header == nil {
		cfg.Header = func() ([][2]string, error) { return nil, nil }
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	tc := cfg.TLS.Clone()
	tc.NextProtos = []string{"h2"}
	if tc.ServerName == "" && !tc.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("h2bulk: server address %q: %w", cfg.Addr, err)
		}
		tc.ServerName = host
	}
	cfg.TLS = tc
	return &Client{cfg: cfg, slots: make([]slot, cfg.Conns)}, nil
}

// maxUnprocessedRetries bounds how often one request is moved to a new
// connection because the old one never processed it.
const maxUnprocessedRetries = 5

// Do sends req on connection slot%Conns and waits for the response, ctx's end
// or the request timeout.
func (c *Client) Do(ctx context.Context, slot int, req *Request) (Response, error) {
	var err error
	for range maxUnprocessedRetries {
		var cn *conn
		if cn, err = c.conn(ctx, slot); err != nil {
			return Response{}, err
		}
		var resp Response
		resp, err = cn.roundTrip(ctx, req)
		if !errors.Is(err, errUnprocessed) {
			return resp, err
		}
	}
	return Response{}, &ConnError{Err: err}
}

// Warm dials every connection and waits for the server's SETTINGS on each.
func (c *Client) Warm(ctx context.Context) error {
	for i := range c.slots {
		cn, err := c.conn(ctx, i)
		if err != nil {
			return err
		}
		select {
		case <-cn.ready:
		case <-cn.closed:
			return &ConnError{Err: cn.closeErr()}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close closes every connection; requests in flight fail.
func (c *Client) Close() error {
	for i := range c.slots {
		s := &c.slots[i]
		s.mu.Lock()
		if s.cn != nil {
			s.cn.close(errClientClosed)
			s.cn = nil
		}
		s.mu.Unlock()
	}
	return nil
}

// conn returns slot's connection, dialling a new one if it has none that
// takes new streams.
func (c *Client) conn(ctx context.Context, i int) (*conn, error) {
	s := &c.slots[i%len(c.slots)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cn != nil && s.cn.takesNewStreams() {
		return s.cn, nil
	}
	cn, err := dial(ctx, &c.cfg)
	if err != nil {
		return nil, err
	}
	s.cn = cn
	return cn, nil
}
