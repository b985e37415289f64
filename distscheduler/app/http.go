package app

import (
	"errors"
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

// serveHTTP starts the member's HTTP endpoints on addr (package cli/opshttp).
// /metrics serves upstream's scheduler metrics (its global registry) and
// distscheduler's.
// /debug/pprof is served only with pprof (--enable-pprof): it is
// unauthenticated.
func serveHTTP(addr string, reg *prometheus.Registry, ready *readiness, pprof bool, log zerolog.Logger) (*opshttp.Server, error) {
	srv, err := opshttp.Listen(addr, opshttp.Config{
		Gatherer: prometheus.Gatherers{legacyregistry.DefaultGatherer, reg},
		Ready:    ready.check,
		Pprof:    pprof,
	}, log)
	if err != nil {
		return nil, err
	}
	srv.Start()
	return srv, nil
}
