// Package opshttp serves what operators and probes read from every k8s1m
// process: /metrics (Prometheus text), /healthz (liveness), /readyz
// (readiness) and, only when asked, /debug/pprof. One package, so each binary
// answers a probe the same way and profiling is off unless an operator turns
// it on (a profile endpoint lets anyone who reaches the port burn CPU and read
// the command line).
package opshttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Config says what the endpoints report.
type Config struct {
	// Gatherer is what /metrics serves.
	Gatherer prometheus.Gatherer
	// Registerer, if set, counts /metrics' own failures
	// (promhttp_metric_handler_errors_total).
	Registerer prometheus.Registerer
	// Live answers /healthz: nil error is healthy. Nil: always healthy.
	Live func() error
	// Ready answers /readyz together with Live (a process that is not live
	// is not ready either). Nil: ready whenever live. Readiness.Check fits.
	Ready func() error
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
}

// Mount adds the endpoints to mux (GET only, except pprof, whose symbol
// endpoint takes POST). For a process that serves them beside other routes.
func Mount(mux *http.ServeMux, cfg Config) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		// One failing collector must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      cfg.Registerer,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, check(cfg.Live))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		err := check(cfg.Live)
		if err == nil {
			err = check(cfg.Ready)
		}
		answer(w, err)
	})
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
}

func check(f func() error) error {
	if f == nil {
		return nil
	}
	return f()
}

// answer writes "ok" or 503 with the reason, as plain text for humans and
// curl alike.
func answer(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, err.Error()+"\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// Server is the endpoints on a listener of their own.
type Server struct {
	mux  *http.ServeMux
	ln   net.Listener
	srv  *http.Server
	log  zerolog.Logger
	errc chan error
}

// Listen binds addr (port 0 picks a free one, see Addr) and mounts the
// endpoints; Start serves them. Binding first lets a caller fail before it
// starts anything else and learn the port before serving.
func Listen(addr string, cfg Config, log zerolog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s for /metrics and probes: %w", addr, err)
	}
	mux := http.NewServeMux()
	Mount(mux, cfg)
	if cfg.Pprof {
		log.Warn().Str("addr", ln.Addr().String()).Msg("serving /debug/pprof: anyone who reaches this port can profile the process")
	}
	return &Server{
		mux:  mux,
		ln:   ln,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		log:  log,
		errc: make(chan error, 1),
	}, nil
}

// Handle adds a route of the caller's (memetcd's etcd-style /health). Call it
// before Start.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start serves in the background. If serving fails (not by Shutdown or
// Close) the error is logged and sent on Err.
func (s *Server) Start() {
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		err = fmt.Errorf("serve %s: %w", s.Addr(), err)
		s.log.Error().Err(err).Msg("metrics and probe server stopped")
		s.errc <- err
	}()
	s.log.Info().Str("addr", s.Addr()).Msg("serving /metrics, /healthz, /readyz")
}

// Err receives at most one error: serving failed.
func (s *Server) Err() <-chan error { return s.errc }

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// and closes the listener (also when Start was never called).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	_ = s.ln.Close() // Shutdown closes only listeners Serve has seen
	return err
}

// Close stops at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	_ = s.ln.Close()
	return err
}
