package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/server"
	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// App is a memetcd process with its listeners bound.
type App struct {
	cfg        Config
	log        zerolog.Logger
	store      *store.Store
	server     *server.Server
	grpc       *grpc.Server
	http       *http.Server
	clientLis  net.Listener
	metricsLis net.Listener
	dur        *durability
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

	var opts []grpc.ServerOption
	scheme := "http"
	if cfg.CertFile != "" {
		tc, err := serverTLS(cfg)
		if err != nil {
			st.Close()
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
		scheme = "https"
	} else {
		log.Warn().Msg("no --cert-file: serving plain-text gRPC")
	}
	a.clientLis, err = net.Listen("tcp", net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on client port: %w", err)
	}
	a.metricsLis, err = net.Listen("tcp", net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.MetricsPort)))
	if err != nil {
		a.clientLis.Close()
		st.Close()
		return nil, fmt.Errorf("listen on metrics port: %w", err)
	}
	a.server = server.New(st, server.Config{
		ClientURLs:      []string{scheme + "://" + a.clientLis.Addr().String()},
		MaxRequestBytes: cfg.MaxRequestBytes,
		Log:             log,
	}, reg)
	a.grpc = a.server.GRPCServer(opts...)
	a.http = &http.Server{Handler: a.httpHandler(reg), ReadHeaderTimeout: 10 * time.Second}
	return a, nil
}

// ClientAddr is the bound gRPC address.
func (a *App) ClientAddr() string { return a.clientLis.Addr().String() }

// MetricsAddr is the bound metrics/health address.
func (a *App) MetricsAddr() string { return a.metricsLis.Addr().String() }

// Store is the store being served (tests and embedding).
func (a *App) Store() *store.Store { return a.store }

// Run serves until ctx ends, then stops accepting requests, lets in-flight
// ones finish (up to ShutdownTimeout) and closes the store and the WAL.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("grpc server: %w", a.grpc.Serve(a.clientLis)) }()
	go func() {
		if err := a.http.Serve(a.metricsLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics server: %w", err)
		}
	}()
	a.log.Info().Str("client_addr", a.ClientAddr()).Str("metrics_addr", a.MetricsAddr()).
		Int64("rev", a.store.Rev()).Msg("memetcd serving")
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.log.Info().Msg("shutting down")
	a.server.BeginShutdown()
	stopped := make(chan struct{})
	go func() { a.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(a.cfg.ShutdownTimeout):
		a.log.Warn().Dur("timeout", a.cfg.ShutdownTimeout).Msg("in-flight requests did not finish: closing connections")
		a.grpc.Stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.http.Shutdown(shutdownCtx)
	a.store.Close()
	if err := a.dur.close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close wal: %w", err))
	}
	a.log.Info().Int64("rev", a.store.Rev()).Msg("stopped")
	return runErr
}

func (a *App) httpHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.store.Stats().ReadOnly {
			http.Error(w, "store is read-only after a journal failure", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	// etcd's /health answer, for probes written against etcd.
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if a.store.Stats().ReadOnly {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"health":"false","reason":"store is read-only after a journal failure"}`)
			return
		}
		fmt.Fprint(w, `{"health":"true","reason":""}`)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
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
