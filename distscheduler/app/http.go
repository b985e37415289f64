package app

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/k8s1m/k8s1m/cli/opshttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"k8s.io/component-base/metrics/legacyregistry"
)

// readiness turns true once the member schedules (or relays). Its zero
// value is not ready.
type readiness struct{ ok atomic.Bool }

func (r *readiness) set() { r.ok.Store(true) }

var errNotReady = errors.New("not ready: caches syncing or tree not joined")

func (r *readiness) check() error {
	if !r.ok.Load() {
		return errNotReady
	}
	return nil
}

// serveOps serves the member's /metrics, /healthz, /readyz and, with
// --enable-pprof (it is unauthenticated), /debug/pprof on cfg.HTTPAddr
// (package cli/opshttp) until ctx ends; nothing without an address.
// /metrics serves upstream's scheduler metrics (its global registry) and
// distscheduler's.
func serveOps(ctx context.Context, wg *sync.WaitGroup, cfg Config, reg *prometheus.Registry, ready *readiness, log zerolog.Logger) error {
	if cfg.HTTPAddr == "" {
		return nil
	}
	srv, err := opshttp.Listen(cfg.HTTPAddr, opshttp.Config{
		Gatherer: prometheus.Gatherers{legacyregistry.DefaultGatherer, reg},
		Ready:    ready.check,
		Pprof:    cfg.EnablePprof,
	}, log)
	if err != nil {
		return err
	}
	srv.Start()
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}
