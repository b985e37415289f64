// Package relayd runs a relay-only member as a process: the member itself, a
// join loop over the seeds, /metrics, /healthz and /readyz (ready once joined)
// over HTTP, and a graceful leave
// when the context ends (SIGTERM), so peers re-route at once instead of waiting
// for failure detection.
package relayd

import (
	"context"
	"errors"
	"time"

	"github.com/k8s1m/k8s1m/cli/opshttp"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
)

// Config is one relay process.
type Config struct {
	// Relay is the member's configuration (Role is forced to relay-only).
	Relay relay.Config
	// Seeds are "host:port" entries (a DNS name joins every address behind it).
	// Empty: the member starts a cluster of its own.
	Seeds []string
	// JoinRetry is the pause between join attempts while no seed answers.
	JoinRetry time.Duration
	// MetricsAddr serves /metrics, /healthz and /readyz (ready once joined);
	// empty disables it.
	MetricsAddr string
	// EnablePprof also serves /debug/pprof there.
	EnablePprof bool
	// LeaveTimeout bounds the graceful leave on shutdown.
	LeaveTimeout time.Duration
	// Ready, if set, is called with the HTTP listener's address once serving
	// (tests use it to find a port chosen by the kernel).
	Ready func(metricsAddr string)
}

// Run runs the member until ctx ends, then leaves the cluster gracefully.
func Run(ctx context.Context, log zerolog.Logger, cfg Config) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rc := cfg.Relay
	rc.Role = relay.RoleRelayOnly
	rc.Logger = log
	rc.Registerer = reg
	r, err := relay.New(rc)
	if err != nil {
		return err
	}
	joined := opshttp.NewReadiness("not joined yet")
	if len(cfg.Seeds) == 0 {
		joined.Set()
	}

	var srv *opshttp.Server
	var httpErr <-chan error // nil without a server: never receives
	if cfg.MetricsAddr != "" {
		srv, err = opshttp.Listen(cfg.MetricsAddr, opshttp.Config{Gatherer: reg, Registerer: reg, Ready: joined.Check, Pprof: cfg.EnablePprof}, log)
		if err != nil {
			_ = r.Shutdown()
			return err
		}
		srv.Start()
		httpErr = srv.Err()
		if cfg.Ready != nil {
			cfg.Ready(srv.Addr())
		}
	}

	if len(cfg.Seeds) > 0 {
		go joinLoop(ctx, log, r, cfg.Seeds, cfg.JoinRetry, joined)
	}

	select {
	case <-ctx.Done():
	case err := <-httpErr:
		log.Error().Err(err).Msg("metrics server failed")
	}
	log.Info().Msg("leaving the cluster")
	leaveCtx, cancel := context.WithTimeout(context.Background(), cfg.LeaveTimeout)
	defer cancel()
	errs := []error{r.Leave(leaveCtx)}
	if srv != nil {
		errs = append(errs, srv.Shutdown(leaveCtx))
	}
	return errors.Join(errs...)
}

// joinLoop joins the seeds, retrying: members of a new cluster start in any
// order, and a seed's DNS name may not resolve until its pods exist.
func joinLoop(ctx context.Context, log zerolog.Logger, r *relay.Relay, seeds []string, retry time.Duration, joined *opshttp.Readiness) {
	if retry <= 0 {
		retry = 2 * time.Second
	}
	for {
		n, err := r.Join(ctx, seeds...)
		if err == nil {
			joined.Set()
			log.Info().Int("contacted", n).Int("members", len(r.Members())).Msg("joined the cluster")
			return
		}
		log.Warn().Err(err).Dur("retry", retry).Msg("join failed")
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// LoadGossipKeys reads a gossip key file.
//
// Deprecated: use relay.LoadGossipKeys; this stays for callers built against
// relay v0.1.
func LoadGossipKeys(path string) ([][]byte, error) { return relay.LoadGossipKeys(path) }
