// Package memetcdtest starts an in-process memetcd (store + gRPC server) on a
// loopback port for this module's tests, and the real etcd they compare
// against (through the workspace harness, which also finds the binaries).
package memetcdtest

import (
	"net"
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
	srv := server.New(st, opts.Server, reg)
	g := srv.GRPCServer()
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
