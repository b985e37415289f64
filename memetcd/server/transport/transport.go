// Package transport serves gRPC services over HTTP/2 with few goroutine
// hand-offs per call, for a store whose handlers take microseconds.
//
// grpc-go's server hands every call from the connection's reader to a new
// goroutine and every reply to a writer goroutine ("loopy"); under
// kube-apiserver's load, where each request arrives alone, those wake-ups
// cost memetcd more CPU than the request itself. Here a connection's reader
// runs a unary handler itself (Config.InlineUnary) and writes the reply
// through a buffer it flushes once no more input is waiting: a request costs
// one read, one write and no hand-off. Streaming calls (Watch, lease
// keep-alives) run on a goroutine of their own, as in grpc-go, and write
// their messages directly.
//
// It serves what etcd's clients use of gRPC: unary and streaming calls,
// deadlines (grpc-timeout), metadata, status with details, TLS with ALPN or
// HTTP/2 with prior knowledge, flow control both ways, keep-alive pings and
// graceful shutdown. It does not do compression (a compressed request fails
// with Unimplemented), server-side keep-alive pings or channelz. Services
// are registered as on a grpc.Server (it is a grpc.ServiceRegistrar), so
// the generated Register functions work unchanged.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
)

// Config configures a Server.
type Config struct {
	// MaxRecvMsgSize bounds one request message; a larger one fails with
	// ResourceExhausted. Default 4 MiB (grpc-go's).
	MaxRecvMsgSize int
	// MaxSendMsgSize bounds one response message; a larger one fails with
	// ResourceExhausted. Default 2 GiB - 1.
	MaxSendMsgSize int
	// MaxConcurrentStreams bounds the calls one connection may have open;
	// more are refused (the client retries them). Default 1,000.
	MaxConcurrentStreams uint32
	// Unary and Stream intercept every call, the first outermost.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// TLS, when set, serves TLS with ALPN "h2"; nil serves plain-text
	// HTTP/2 with prior knowledge (what gRPC clients speak without TLS).
	TLS *tls.Config
	// InlineUnary runs unary handlers on the connection's reader: set it
	// only when no handler blocks for long (waits for a disk, say), since
	// the connection's next requests wait for it.
	InlineUnary bool
	// HandshakeTimeout bounds the TLS handshake and the client's preface.
	// Default 10 s.
	HandshakeTimeout time.Duration
	Log              zerolog.Logger
}

// Flow-control windows this server grants: per stream and per connection.
// A connection holds at most connWindow bytes of requests not yet handled.
const (
	streamWindow = 1 << 20
	connWindow   = 16 << 20
)

func (c *Config) setDefaults() {
	if c.MaxRecvMsgSize <= 0 {
		c.MaxRecvMsgSize = 4 << 20
	}
	if c.MaxSendMsgSize <= 0 {
		c.MaxSendMsgSize = 1<<31 - 1
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = 1000
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
}

// ErrServerStopped is returned by Serve after Stop or GracefulStop.
var ErrServerStopped = errors.New("transport: server stopped")

// method is one registered RPC.
type method struct {
	impl   any
	unary  grpc.MethodHandler
	stream grpc.StreamHandler
	info   grpc.StreamServerInfo // FullMethod and the stream kinds
}

// Server serves registered gRPC services; register them all before Serve.
type Server struct {
	cfg     Config
	unary   grpc.UnaryServerInterceptor // Config.Unary chained; nil if none
	methods map[string]*method          // "/package.Service/Method"
	info    map[string]grpc.ServiceInfo

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	stopped   bool
	connsDone sync.WaitGroup // every connection's goroutines
	drained   *sync.Cond     // on mu: a connection ended
}

// New returns a Server with no services.
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:       cfg,
		unary:     chainUnary(cfg.Unary),
		methods:   make(map[string]*method),
		info:      make(map[string]grpc.ServiceInfo),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.drained = sync.NewCond(&s.mu)
	return s
}

// RegisterService registers a service's methods, as grpc.Server does. It
// panics on a duplicate service or an implementation of the wrong type,
// again as grpc.Server does: both are programming errors.
func (s *Server) RegisterService(sd *grpc.ServiceDesc, impl any) {
	if _, dup := s.info[sd.ServiceName]; dup {
		panic(fmt.Sprintf("transport: service %s registered twice", sd.ServiceName))
	}
	info := grpc.ServiceInfo{Metadata: sd.Metadata}
	for _, md := range sd.Methods {
		full := "/" + sd.ServiceName + "/" + md.MethodName
		s.methods[full] = &method{impl: impl, unary: md.Handler, info: grpc.StreamServerInfo{FullMethod: full}}
		info.Methods = append(info.Methods, grpc.MethodInfo{Name: md.MethodName})
	}
	for _, sd2 := range sd.Streams {
		full := "/" + sd.ServiceName + "/" + sd2.StreamName
		s.methods[full] = &method{impl: impl, stream: sd2.Handler, info: grpc.StreamServerInfo{
			FullMethod: full, IsClientStream: sd2.ClientStreams, IsServerStream: sd2.ServerStreams}}
		info.Methods = append(info.Methods, grpc.MethodInfo{Name: sd2.StreamName, IsClientStream: sd2.ClientStreams, IsServerStream: sd2.ServerStreams})
	}
	s.info[sd.ServiceName] = info
}

// GetServiceInfo reports the registered services, as grpc.Server does.
func (s *Server) GetServiceInfo() map[string]grpc.ServiceInfo { return s.info }

// Serve accepts connections on l until Stop or GracefulStop, then returns
// nil (as grpc.Server.Serve does); called after a stop, it closes l and
// returns ErrServerStopped. Each connection is served on goroutines of its
// own.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		l.Close()
		return ErrServerStopped
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if stopped {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.cfg.Log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
				time.Sleep(delay)
				continue
			}
			s.mu.Lock()
			delete(s.listeners, l)
			s.mu.Unlock()
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.connsDone.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// connEnded forgets a connection whose goroutines have all returned.
func (s *Server) connEnded(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.drained.Broadcast()
	s.mu.Unlock()
	s.connsDone.Done()
}

// closeListeners stops accepting; the caller holds mu.
func (s *Server) closeListenersLocked() {
	s.stopped = true
	for l := range s.listeners {
		l.Close()
	}
	clear(s.listeners)
}

// GracefulStop stops accepting connections, tells every client to go away
// (GOAWAY) and waits for the calls in flight to end; connections close as
// their last call ends. Long-lived streams keep it waiting: end them first
// (memetcd's BeginShutdown does) or call Stop.
func (s *Server) GracefulStop() {
	s.mu.Lock()
	s.closeListenersLocked()
	for c := range s.conns {
		c.goAway()
	}
	for len(s.conns) > 0 {
		s.drained.Wait()
	}
	s.mu.Unlock()
	s.connsDone.Wait()
}

// Stop closes the listeners and every connection at once; calls in flight
// see their context cancelled and their sends fail.
func (s *Server) Stop() {
	s.mu.Lock()
	s.closeListenersLocked()
	for c := range s.conns {
		c.close(errServerStopping)
	}
	s.mu.Unlock()
	s.connsDone.Wait()
}

// chainUnary makes one interceptor of several, the first outermost.
func chainUnary(is []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	switch len(is) {
	case 0:
		return nil
	case 1:
		return is[0]
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return is[0](ctx, req, info, chainedUnaryHandler(is[1:], info, h))
	}
}

func chainedUnaryHandler(is []grpc.UnaryServerInterceptor, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) grpc.UnaryHandler {
	if len(is) == 0 {
		return h
	}
	return func(ctx context.Context, req any) (any, error) {
		return is[0](ctx, req, info, chainedUnaryHandler(is[1:], info, h))
	}
}

// runStream runs a streaming handler under the stream interceptors.
func (s *Server) runStream(m *method, ss grpc.ServerStream) error {
	return streamChain(s.cfg.Stream, m, ss)
}

func streamChain(is []grpc.StreamServerInterceptor, m *method, ss grpc.ServerStream) error {
	if len(is) == 0 {
		return m.stream(m.impl, ss)
	}
	return is[0](m.impl, ss, &m.info, func(_ any, ss grpc.ServerStream) error {
		return streamChain(is[1:], m, ss)
	})
}
