// Package memetcdtest starts an in-process memetcd (store + gRPC server) on a
// loopback port for tests in this module and others, and finds the upstream
// binaries (kube-apiserver, etcd, etcdctl) tests compare against.
package memetcdtest

import (
	"net"
	"os"
	"path/filepath"
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

// Binary returns the path of an upstream binary in $K8S1M_BIN (default: the
// repository's bin/). When it is missing the test is skipped with the make
// target that builds it, or fails if K8S1M_REQUIRE_BINARIES=1 (CI).
func Binary(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("K8S1M_BIN")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		msg := "binary " + p + " missing: run `make bin/" + name + "` at the repository root"
		if os.Getenv("K8S1M_REQUIRE_BINARIES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// repoRoot walks up from the working directory to the directory holding go.work.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "..", "..")
		}
	}
}
