package h2bulk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newServer starts handler on Go's HTTP/2 TLS server on loopback and returns
// a client Config for it.
func newServer(t *testing.T, h2 *http.HTTP2Config, handler http.HandlerFunc) (*httptest.Server, Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, clientConfig(srv.Certificate(), srv.Listener.Addr().String())
}

func clientConfig(cert *x509.Certificate, addr string) Config {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return Config{
		Addr:   addr,
		TLS:    &tls.Config{RootCAs: pool, ServerName: "example.com"},
		Header: func() ([][2]string, error) { return [][2]string{{"user-agent", "h2bulk-test"}}, nil },
	}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// Requests and replies of every size cross intact: bodies larger than the
// server's stream and connection windows (request flow control), replies
// larger than ours (WINDOW_UPDATEs we send), unsuccessful replies with their
// body and headers, requests without a body.
func TestRoundTrip(t *testing.T) {
	_, cfg := newServer(t, &http.HTTP2Config{MaxReceiveBufferPerStream: 16 << 10, MaxReceiveBufferPerConnection: 64 << 10},
		func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("server read: %v", err)
			}
			code, _ := strconv.Atoi(r.URL.Query().Get("code"))
			size, _ := strconv.Atoi(r.URL.Query().Get("reply"))
			w.Header().Set("Content-Type", "application/test")
			w.Header().Set("X-Method", r.Method)
			if r.URL.Query().Get("retry") != "" {
				w.Header().Set("Retry-After", "7")
			}
			w.WriteHeader(code)
			if r.Header.Get("User-Agent") != "h2bulk-test" || r.Header.Get("Content-Type") != r.URL.Query().Get("ct") {
				_, _ = fmt.Fprintf(w, "bad headers %v", r.Header)
				return
			}
			if !bytes.Equal(body, pattern(len(body))) || strconv.Itoa(len(body)) != r.URL.Query().Get("n") {
				_, _ = fmt.Fprintf(w, "bad body of %d bytes", len(body))
				return
			}
			_, _ = w.Write(pattern(size))
		})
	c := newClient(t, cfg)
	for _, tc := range []struct {
		name            string
		method          string
		body, reply     int
		code            int
		retry           bool
		wantBody        bool
		wantContentType string
	}{
		{name: "create", method: "POST", body: 900, reply: 1200, code: 201},
		{name: "delete without body", method: "DELETE", reply: 300, code: 200},
		{name: "body beyond the server's windows", method: "POST", body: 300 << 10, reply: 10, code: 201},
		{name: "reply beyond our stream window", method: "POST", body: 10, reply: 3 << 20, code: 200},
		{name: "conflict keeps the body", method: "POST", body: 500, reply: 700, code: 409, wantBody: true},
		{name: "throttled with retry-after", method: "POST", body: 1, reply: 64, code: 429, retry: true, wantBody: true},
		{name: "empty reply", method: "DELETE", code: 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := ""
			if tc.body > 0 {
				ct = "application/vnd.kubernetes.protobuf"
			}
			path := fmt.Sprintf("/x?code=%d&reply=%d&n=%d&ct=%s", tc.code, tc.reply, tc.body, ct)
			if tc.retry {
				path += "&retry=1"
			}
			resp, err := c.Do(context.Background(), 0, &Request{Method: tc.method, Path: path, ContentType: ct, Body: pattern(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.code || resp.ContentType != "application/test" {
				t.Errorf("status %d content-type %q, want %d application/test", resp.Status, resp.ContentType, tc.code)
			}
			if tc.retry != (resp.RetryAfter == "7") {
				t.Errorf("Retry-After %q", resp.RetryAfter)
			}
			switch {
			case tc.wantBody && !bytes.Equal(resp.Body, pattern(tc.reply)):
				t.Errorf("error body %q, want the %d bytes sent", resp.Body[:min(len(resp.Body), 80)], tc.reply)
			case !tc.wantBody && resp.Body != nil:
				t.Errorf("successful reply kept a body of %d bytes", len(resp.Body))
			}
		})
	}
}

// Many requests at once never exceed the server's MAX_CONCURRENT_STREAMS and
// all complete.
func TestConcurrentStreamsLimit(t *testing.T) {
	var inFlight, peak atomic.Int32
	_, cfg := newServer(t, &http.HTTP2Config{MaxConcurrentStreams: 3}, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(time.Millisecond) // hold the stream so requests overlap
		w.WriteHeader(http.StatusCreated)
	})
	cfg.Conns = 2
	c := newClient(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			resp, err := c.Do(context.Background(), i, &Request{Method: "POST", Path: "/", Body: []byte("x")})
			if err == nil && resp.Status != http.StatusCreated {
				err = fmt.Errorf("status %d", resp.Status)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p > 6 {
		t.Errorf("%d requests in flight at once on 2 connections of 3 streams", p)
	}
}

// A cancelled request resets its stream (the handler sees it), returns the
// context's error, and the connection goes on serving.
func TestCancel(t *testing.T) {
	started := make(chan struct{})
	reset := make(chan struct{})
	_, cfg := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(started)
			<-r.Context().Done()
			close(reset)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c := newClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	if _, err := c.Do(ctx, 0, &Request{Method: "GET", Path: "/block"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want context.Canceled", err)
	}
	<-reset
	if resp, err := c.Do(context.Background(), 0, &Request{Method: "GET", Path: "/"}); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("after the cancel: %v %d", err, resp.Status)
	}
}

// A request outliving Config.Timeout fails with a timeout error.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	_, cfg := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	cfg.Timeout = 500 * time.Millisecond
	c := newClient(t, cfg)
	_, err := c.Do(context.Background(), 0, &Request{Method: "GET", Path: "/"})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout error", err)
	}
}

// A handler that aborts makes the server reset the stream: a retryable
// StreamError.
func TestServerReset(t *testing.T) {
	_, cfg := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	c := newClient(t, cfg)
	_, err := c.Do(context.Background(), 0, &Request{Method: "POST", Path: "/", Body: []byte("x")})
	var se *StreamError
	if !errors.As(err, &se) || !se.Retryable() {
		t.Fatalf("got %v, want a retryable StreamError", err)
	}
}

// handoffListener lets one server after another accept from one listener,
// so a client reconnects to the same address after a graceful shutdown.
type handoffListener struct {
	net.Listener
	conns chan net.Conn
}

type serverListener struct {
	*handoffListener
	done chan struct{}
	once sync.Once
}

func (l *serverListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *serverListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

// A graceful server shutdown (GOAWAY) in the middle of a burst: requests the
// old server accepted complete there, the rest are sent again on a new
// connection to the next server, and every request succeeds exactly once.
func TestGoAway(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil) // for its certificate
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl := &handoffListener{Listener: ln, conns: make(chan net.Conn)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hl.conns <- c
		}
	}()
	t.Cleanup(func() { ln.Close() })

	var (
		mu     sync.Mutex
		served = map[string]string{}
	)
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	serve := func(name string, block bool) *http.Server {
		s := &http.Server{
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if block {
					entered <- struct{}{}
					<-release
				}
				mu.Lock()
				if prev, ok := served[string(body)]; ok {
					t.Errorf("request %s served twice (%s, %s)", body, prev, name)
				}
				served[string(body)] = name
				mu.Unlock()
				w.WriteHeader(http.StatusCreated)
			}),
		}
		s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 5}
		go func() { _ = s.ServeTLS(&serverListener{handoffListener: hl, done: make(chan struct{})}, "", "") }()
		return s
	}
	first := serve("first", true)
	cfg := clientConfig(srv.Certificate(), ln.Addr().String())
	c := newClient(t, cfg)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := c.Do(context.Background(), 0, &Request{Method: "POST", Path: "/", Body: []byte(strconv.Itoa(i))})
			if err == nil && resp.Status != http.StatusCreated {
				err = fmt.Errorf("status %d", resp.Status)
			}
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
			}
		})
	}
	for range 5 {
		<-entered
	}
	conns := openConns(c) // before Shutdown: the client replaces a connection once it reads GOAWAY
	shut := make(chan error, 1)
	go func() { shut <- first.Shutdown(context.Background()) }()
	second := serve("second", false)
	t.Cleanup(func() { second.Close() })
	// Release the first server's handlers only once the client has read its
	// GOAWAY: released earlier, a finished stream frees a slot and the client
	// may start a sixth request there before Shutdown has sent the GOAWAY.
	waitGoAway(t, conns)
	close(release)
	wg.Wait()
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	count := map[string]int{}
	for _, name := range served {
		count[name]++
	}
	if len(served) != n || count["first"] != 5 {
		t.Errorf("served %d of %d requests, %d by the first server (want 5: its stream limit)", len(served), n, count["first"])
	}
}

// openConns returns c's connections as they are now.
func openConns(c *Client) []*conn {
	var conns []*conn
	for i := range c.slots {
		sl := &c.slots[i]
		sl.mu.Lock()
		if sl.cn != nil {
			conns = append(conns, sl.cn)
		}
		sl.mu.Unlock()
	}
	return conns
}

// waitGoAway waits (at most 30 s) until every one of conns has read a
// GOAWAY frame.
func waitGoAway(t *testing.T, conns []*conn) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, cn := range conns {
		for {
			cn.mu.Lock()
			seen := cn.goAway
			cn.mu.Unlock()
			if seen {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the client never read the server's GOAWAY")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Connections cut under requests in flight: those fail with a retryable
// ConnError, and the next request dials again.
func TestConnectionLost(t *testing.T) {
	entered := make(chan struct{}, 10)
	srv, cfg := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c := newClient(t, cfg)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Do(context.Background(), 0, &Request{Method: "GET", Path: "/block"})
			errs <- err
		}()
	}
	for range 3 {
		<-entered
	}
	srv.CloseClientConnections()
	for range 3 {
		err := <-errs
		var ce *ConnError
		if !errors.As(err, &ce) || !ce.Retryable() {
			t.Errorf("request on the lost connection: %v, want a retryable ConnError", err)
		}
	}
	if resp, err := c.Do(context.Background(), 0, &Request{Method: "GET", Path: "/"}); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("after reconnecting: %v %d", err, resp.Status)
	}
}
