package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/k8s1m/k8s1m/cli/opshttp"
	"github.com/k8s1m/k8s1m/memetcd/server"
	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// App is a memetcd process with its listeners bound.
type App struct {
	cfg       Config
	log       zerolog.Logger
	store     *store.Store
	server    *server.Server
	rpc       rpcServer
	ops       *opshttp.Server
	clientLis net.Listener
	dur       *durability
}

// rpcServer serves the client port: grpc.Server or the lean transport.
type rpcServer interface {
	Serve(net.Listener) error
	GracefulStop()
	Stop()
}

// Run starts memetcd and blocks until ctx is cancelled, then shuts down.
func Run(ctx context.Context, log zerolog.Logger, cfg Config) error {
	a, err := New(log, cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New builds the store (replaying the WAL) and binds both ports; Run serves.
// A port of 0 picks a free one (see ClientAddr, MetricsAddr).
func New(log zerolog.Logger, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dur, err := openDurability(cfg, log, reg)
	if err != nil {
		return nil, fmt.Errorf("open wal: %w", err)
	}
	st := store.New(store.Config{Journal: dur.journal, Log: log, Metrics: store.NewMetrics(reg)})
	store.RegisterGauges(reg, st)
	if err := dur.replay(st); err != nil {
		st.Close()
		return nil, fmt.Errorf("replay wal: %w", err)
	}
	a := &App{cfg: cfg, log: log, store: st, dur: dur}

	var tc *tls.Config
	scheme := "http"
	if cfg.CertFile != "" {
		tc, err = serverTLS(cfg)
		if err != nil {
			st.Close()
			return nil, err
		}
		scheme = "https"
	} else {
		log.Warn().Msg("no --cert-file: serving plain-text gRPC")
	}
	a.clientLis, err = net.Listen("tcp", net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on client port: %w", err)
	}
	a.ops, err = opshttp.Listen(net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.MetricsPort)), opshttp.Config{
		Gatherer:   reg,
		Registerer: reg,
		Live:       a.writable,
		Pprof:      cfg.EnablePprof,
	}, log)
	if err != nil {
		a.clientLis.Close()
		st.Close()
		return nil, fmt.Errorf("metrics port: %w", err)
	}
	a.ops.Handle("GET /health", http.HandlerFunc(a.etcdHealth))
	a.server = server.New(st, server.Config{
		ClientURLs:           []string{scheme + "://" + a.clientLis.Addr().String()},
		MaxRequestBytes:      cfg.MaxRequestBytes,
		MaxConcurrentStreams: cfg.MaxConcurrentStreams,
		MaxWatchersPerStream: cfg.MaxWatchersPerStream,
		MaxResponseBytes:     cfg.MaxResponseBytes,
		QuotaBackendBytes:    cfg.QuotaBackendBytes,
		WritesWaitForDisk:    dur.waitsForDisk,
		Log:                  log,
	}, reg)
	switch cfg.Transport {
	case TransportLean:
		a.rpc = a.server.LeanServer(tc)
		log.Info().Bool("inline", !dur.waitsForDisk).Msg("client port served by the lean transport")
	default:
		var opts []grpc.ServerOption
		if tc != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
		}
		a.rpc = a.server.GRPCServer(opts...)
	}
	return a, nil
}

// ClientAddr is the bound gRPC address.
func (a *App) ClientAddr() string { return a.clientLis.Addr().String() }

// MetricsAddr is the bound metrics/health address.
func (a *App) MetricsAddr() string { return a.ops.Addr() }

// Store is the store being served (tests and embedding).
func (a *App) Store() *store.Store { return a.store }

// Run serves until ctx ends, then stops accepting requests, lets in-flight
// ones finish (up to ShutdownTimeout) and closes the store and the WAL.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("grpc server: %w", a.rpc.Serve(a.clientLis)) }()
	a.ops.Start()
	a.log.Info().Str("client_addr", a.ClientAddr()).Str("metrics_addr", a.MetricsAddr()).
		Int64("rev", a.store.Rev()).Msg("memetcd serving")
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case err := <-a.ops.Err():
		runErr = fmt.Errorf("metrics server: %w", err)
	}
	a.log.Info().Msg("shutting down")
	a.server.BeginShutdown()
	stopped := make(chan struct{})
	go func() { a.rpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(a.cfg.ShutdownTimeout):
		a.log.Warn().Dur("timeout", a.cfg.ShutdownTimeout).Msg("in-flight requests did not finish: closing connections")
		a.rpc.Stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.ops.Shutdown(shutdownCtx)
	a.store.Close()
	if err := a.dur.close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close wal: %w", err))
	}
	a.log.Info().Int64("rev", a.store.Rev()).Msg("stopped")
	return runErr
}

// errReadOnly is why the store stops being live: after a journal failure
// it refuses writes rather than acknowledge what the disk did not take.
var errReadOnly = errors.New("store is read-only after a journal failure")

// writable is /healthz: the store takes writes.
func (a *App) writable() error {
	if a.store.Stats().ReadOnly {
		return errReadOnly
	}
	return nil
}

// etcdHealth is etcd's /health answer, for probes written against etcd.
func (a *App) etcdHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := a.writable(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"health":"false","reason":%q}`, err.Error())
		return
	}
	fmt.Fprint(w, `{"health":"true","reason":""}`)
}

func serverTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load --cert-file/--key-file: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	if cfg.TrustedCAFile != "" {
		pem, err := os.ReadFile(cfg.TrustedCAFile)
		if err != nil {
			return nil, fmt.Errorf("read --trusted-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--trusted-ca-file %s: no certificates found", cfg.TrustedCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if cfg.ClientCertAuth {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}
