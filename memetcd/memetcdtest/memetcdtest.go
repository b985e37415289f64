// Package memetcdtest starts an in-process memetcd (store + gRPC server) on a
// loopback port for this module's tests, and the real etcd they compare
// against (through the workspace harness, which also finds the binaries).
package memetcdtest

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/server"
	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Options tweak the in-process server; the zero value is fine.
type Options struct {
	Store  store.Config
	Server server.Config
	// Transport serves the port: "lean" (server/transport, memetcd's
	// default) or "grpc" (grpc-go). Empty: $MEMETCD_TRANSPORT, else
	// "lean", so one suite runs on either.
	Transport string
}

// rpcServer is what serves the port: grpc.Server or transport.Server.
type rpcServer interface {
	Serve(net.Listener) error
	GracefulStop()
	Stop()
}

// Instance is a running in-process memetcd.
type Instance struct {
	Endpoint string // host:port
	Store    *store.Store
	Server   *server.Server
	Registry *prometheus.Registry
}

// Start runs memetcd on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	reg := prometheus.NewRegistry()
	if opts.Store.Metrics == nil {
		opts.Store.Metrics = store.NewMetrics(reg)
	}
	opts.Store.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	st := store.New(opts.Store)
	store.RegisterGauges(reg, st)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	opts.Server.ClientURLs = []string{"http://" + lis.Addr().String()}
	opts.Server.Log = opts.Store.Log
	transport := opts.Transport
	if transport == "" {
		transport = os.Getenv("MEMETCD_TRANSPORT")
	}
	srv := server.New(st, opts.Server, reg)
	var g rpcServer
	switch transport {
	case "grpc":
		g = srv.GRPCServer()
	case "", "lean":
		g = srv.LeanServer(nil)
	default:
		t.Fatalf("memetcdtest: transport %q: want grpc or lean", transport)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() {
		srv.BeginShutdown()
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			g.Stop()
		}
		st.Close()
	})
	return &Instance{Endpoint: lis.Addr().String(), Store: st, Server: srv, Registry: reg}
}
