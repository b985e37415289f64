package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/server/transport"
	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Version is the etcd API version memetcd reports in Maintenance.Status.
// kube-apiserver reads it to decide whether RequestWatchProgress is safe
// (>= 3.5.13), so it names the etcd release whose API this implements.
const Version = "3.7.3"

// Identity of the single member; etcd derives these from its cluster config,
// clients only need them to be stable and non-zero.
const (
	ClusterID = 0x6d656d6574636431 // "memetcd1"
	MemberID  = 0x6d656d6574636432 // "memetcd2"
)

// Config configures a Server.
type Config struct {
	// Name is the member name MemberList reports.
	Name string
	// ClientURLs are the URLs MemberList reports clients can reach this member at.
	ClientURLs []string
	// MaxRequestBytes bounds a request like etcd's --max-request-bytes
	// (default 1.5 MiB). gRPC accepts a little more so the oversize request
	// gets etcd's ErrGRPCRequestTooLarge rather than a transport error.
	MaxRequestBytes int
	// ProgressNotifyInterval is how often watches created with progress_notify
	// get a progress report when idle (etcd's default: 10 minutes).
	ProgressNotifyInterval time.Duration
	// WatchBatchEvents and WatchBatchBytes bound one watch response.
	WatchBatchEvents int
	WatchBatchBytes  int
	// MaxWatchersPerStream bounds the watchers one Watch stream holds; a
	// create past it is refused (canceled, with a reason) as etcd refuses a
	// bad create. Default DefaultMaxWatchersPerStream.
	MaxWatchersPerStream int
	// MaxConcurrentStreams is etcd's --max-concurrent-streams: the HTTP/2
	// streams (calls, watch streams) one client connection may have open;
	// more wait at the client. Default DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// MaxResponseBytes bounds one response message (a Range reply above
	// all): a larger one fails with gRPC's ResourceExhausted "trying to send
	// message larger than max", the error an etcd client gets past its
	// receive limit. Paginated reads (kube-apiserver's) stay below it.
	// Default DefaultMaxResponseBytes.
	MaxResponseBytes int
	// QuotaBackendBytes is etcd's --quota-backend-bytes: the live key and
	// value bytes the store may hold. A write that would pass it raises
	// the NOSPACE alarm; while raised, writes that add data fail with
	// "etcdserver: mvcc: database space exceeded" (deletes, reads and
	// compaction still work) until Maintenance.Alarm disarms it. Negative:
	// no quota. Default DefaultQuotaBackendBytes.
	QuotaBackendBytes int64
	// WritesWaitForDisk says some WAL prefix is in fsync mode: a write,
	// and the events it makes, wait for an fdatasync. LeanServer then runs
	// neither calls nor watch deliveries on the goroutine that read the
	// request (the connection's other calls would wait behind the disk).
	WritesWaitForDisk bool
	Log               zerolog.Logger
}

// Defaults of the limits. etcd's --max-concurrent-streams default is
// unlimited and etcd has no per-stream watcher or response size limit; these
// bound what one client can make the server hold while staying far above
// what kube-apiserver uses (a few hundred watchers on a stream, pages of at
// most 10,000 objects).
const (
	DefaultMaxWatchersPerStream = 10000
	DefaultMaxConcurrentStreams = 10000
	DefaultMaxResponseBytes     = 512 << 20
	// DefaultQuotaBackendBytes is etcd's largest recommended quota (8 GiB).
	DefaultQuotaBackendBytes = 8 << 30
)

// DefaultMaxRequestBytes is etcd's default --max-request-bytes.
const DefaultMaxRequestBytes = 1572864

// grpcOverheadBytes is the slack etcd allows above MaxRequestBytes at the gRPC layer.
const grpcOverheadBytes = 512 * 1024

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "memetcd"
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.ProgressNotifyInterval <= 0 {
		c.ProgressNotifyInterval = 10 * time.Minute
	}
	if c.WatchBatchEvents <= 0 {
		c.WatchBatchEvents = 1000
	}
	if c.WatchBatchBytes <= 0 {
		c.WatchBatchBytes = 4 << 20
	}
	if c.MaxWatchersPerStream <= 0 {
		c.MaxWatchersPerStream = DefaultMaxWatchersPerStream
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
}

// Server implements etcd's gRPC services on a store.
type Server struct {
	pb.UnimplementedKVServer
	pb.UnimplementedWatchServer
	pb.UnimplementedLeaseServer
	pb.UnimplementedMaintenanceServer
	pb.UnimplementedClusterServer
	pb.UnimplementedAuthServer

	cfg      Config
	store    *store.Store
	metrics  *metrics
	health   *health.Server
	stopping atomic.Bool
	stopc    chan struct{} // closed when shutdown begins: ends watch and keep-alive streams
	hub      *watchHub
	nospace  atomic.Bool // the NOSPACE alarm is raised (see quota.go)
}

// New returns a Server for st. Its metrics are registered on reg.
func New(st *store.Store, cfg Config, reg prometheus.Registerer) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, store: st, metrics: newMetrics(reg), health: health.NewServer(), stopc: make(chan struct{}), hub: newWatchHub(st)}
	s.metrics.quota.Set(float64(max(cfg.QuotaBackendBytes, 0)))
	return s
}

// GRPCServer builds a grpc.Server with every service registered, request
// metrics and etcd's keep-alive policy. extra options (TLS credentials) are
// appended.
func (s *Server) GRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxRequestBytes + grpcOverheadBytes),
		grpc.MaxSendMsgSize(s.cfg.MaxResponseBytes),
		grpc.MaxConcurrentStreams(s.cfg.MaxConcurrentStreams),
		// Clients (kube-apiserver: every 30s) ping idle connections; etcd
		// permits pings every 5s, so must we or they get GOAWAY.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.metrics.grpc.Unary(), s.unaryStopping),
		grpc.ChainStreamInterceptor(s.metrics.grpc.Stream(), s.streamStopping),
	}
	g := grpc.NewServer(append(opts, extra...)...)
	s.register(g)
	return g
}

// LeanServer builds the same services on memetcd's own transport
// (server/transport). Unless WritesWaitForDisk, a unary call is handled on
// its connection's reader, with no goroutine hand-off, and a write's watch
// events are sent on the writer's goroutine right after it (the transport
// tells when a send would wait, and the send loop carries on then) instead
// of waking each stream's send loop. Call it before serving; tc nil serves
// plain text.
func (s *Server) LeanServer(tc *tls.Config) *transport.Server {
	inline := !s.cfg.WritesWaitForDisk
	s.hub.inline = inline
	t := transport.New(transport.Config{
		MaxRecvMsgSize:       s.cfg.MaxRequestBytes + grpcOverheadBytes,
		MaxSendMsgSize:       s.cfg.MaxResponseBytes,
		MaxConcurrentStreams: s.cfg.MaxConcurrentStreams,
		Unary:                []grpc.UnaryServerInterceptor{s.metrics.grpc.Unary(), s.unaryStopping},
		Stream:               []grpc.StreamServerInterceptor{s.metrics.grpc.Stream(), s.streamStopping},
		TLS:                  tc,
		InlineUnary:          inline,
		Log:                  s.cfg.Log,
	})
	s.register(t)
	return t
}

// registrar is a gRPC server services register on: grpc.Server or
// transport.Server.
type registrar interface {
	grpc.ServiceRegistrar
	GetServiceInfo() map[string]grpc.ServiceInfo
}

func (s *Server) register(r registrar) {
	pb.RegisterKVServer(r, s)
	pb.RegisterWatchServer(r, s)
	pb.RegisterLeaseServer(r, s)
	pb.RegisterMaintenanceServer(r, s)
	pb.RegisterClusterServer(r, s)
	pb.RegisterAuthServer(r, s)
	healthpb.RegisterHealthServer(r, s.health)
	s.metrics.grpc.Register(r)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

// BeginShutdown makes new requests fail with etcd's "server stopped" error,
// ends watch and keep-alive streams and reports NOT_SERVING on the health
// service, so clients move on while in-flight unary requests finish.
func (s *Server) BeginShutdown() {
	if s.stopping.CompareAndSwap(false, true) {
		s.health.Shutdown()
		close(s.stopc)
	}
}

func (s *Server) unaryStopping(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if s.stopping.Load() {
		return nil, rpctypes.ErrGRPCStopped
	}
	resp, err := h(ctx, req)
	return resp, explainUnimplemented(info.FullMethod, err)
}

func (s *Server) streamStopping(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if s.stopping.Load() {
		return rpctypes.ErrGRPCStopped
	}
	return explainUnimplemented(info.FullMethod, h(srv, ss))
}

// explainUnimplemented replaces the generated "method X not implemented" of
// the RPCs memetcd leaves out with a message that says why, so an operator
// does not take it for a version mismatch.
func explainUnimplemented(method string, err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unimplemented || !strings.HasSuffix(st.Message(), " not implemented") {
		return err
	}
	return status.Errorf(codes.Unimplemented, "memetcd: %s is outside the etcd API subset memetcd implements (single member, in memory, no auth; see memetcd/README.md)", method)
}

// header returns the response header every etcd response carries.
func (s *Server) header(rev int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: ClusterID, MemberId: MemberID, Revision: rev, RaftTerm: 1}
}

// toGRPC maps store errors to etcd's gRPC errors.
func toGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, store.ErrCompacted):
		return rpctypes.ErrGRPCCompacted
	case errors.Is(err, store.ErrFutureRev):
		return rpctypes.ErrGRPCFutureRev
	case errors.Is(err, store.ErrLeaseNotFound):
		return rpctypes.ErrGRPCLeaseNotFound
	case errors.Is(err, store.ErrLeaseExists):
		return rpctypes.ErrGRPCLeaseExist
	case errors.Is(err, store.ErrLeaseTTL):
		return rpctypes.ErrGRPCLeaseTTLTooLarge
	case errors.Is(err, store.ErrKeyNotFound):
		return rpctypes.ErrGRPCKeyNotFound
	case errors.Is(err, store.ErrClosed):
		return rpctypes.ErrGRPCStopped
	case errors.Is(err, store.ErrReadOnly):
		return status.Error(codes.Unavailable, "memetcd: "+err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// wait blocks until the journal has made a write as durable as its prefix
// requires. A failure is reported to the client as Unavailable with the cause,
// never as success: the store has gone read-only by then.
func (s *Server) wait(ctx context.Context, w store.Waiter) error {
	if err := w.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		s.cfg.Log.Error().Err(err).Msg("write not made durable")
		return status.Error(codes.Unavailable, fmt.Sprintf("memetcd: write not made durable: %v", err))
	}
	return nil
}

// durable blocks until the state at rev that a reply is about to reveal is
// as durable as its WAL mode promises. The store applies a change in memory
// before its fsync, so without this a read, a failed compare, a delete of
// nothing or a watch event could show a client a write that a crash then
// loses. Free when nothing is pending.
func (s *Server) durable(ctx context.Context, rev int64) error {
	if err := s.store.Durable(rev).Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return status.Error(codes.Unavailable, fmt.Sprintf("memetcd: state not made durable: %v", err))
	}
	return nil
}

// reply waits for a write's own durability, then for the state its reply
// reveals (rev): a Txn's compares or a buffered write may have seen an
// fsync-mode change that is still on its way to disk.
func (s *Server) reply(ctx context.Context, w store.Waiter, rev int64) error {
	if err := s.wait(ctx, w); err != nil {
		return err
	}
	return s.durable(ctx, rev)
}
