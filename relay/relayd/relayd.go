// Package relayd runs a relay-only member as a process: the member itself, a
// join loop over the seeds, /healthz and /metrics over HTTP, and a graceful leave
// when the context ends (SIGTERM), so peers re-route at once instead of waiting
// for failure detection.
package relayd

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	// MetricsAddr serves /metrics and /healthz; empty disables it.
	MetricsAddr string
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
	var joined atomic.Bool
	if len(cfg.Seeds) == 0 {
		joined.Store(true)
	}

	var srv *http.Server
	httpErr := make(chan error, 1)
	if cfg.MetricsAddr != "" {
		lis, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = r.Shutdown()
			return fmt.Errorf("listen metrics %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			if !joined.Load() {
				http.Error(w, "not joined yet", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "ok %d members\n", len(r.Members()))
		})
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { httpErr <- srv.Serve(lis) }()
		if cfg.Ready != nil {
			cfg.Ready(lis.Addr().String())
		}
		log.Info().Str("addr", lis.Addr().String()).Msg("serving /metrics and /healthz")
	}

	if len(cfg.Seeds) > 0 {
		go joinLoop(ctx, log, r, cfg.Seeds, cfg.JoinRetry, &joined)
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
func joinLoop(ctx context.Context, log zerolog.Logger, r *relay.Relay, seeds []string, retry time.Duration, joined *atomic.Bool) {
	if retry <= 0 {
		retry = 2 * time.Second
	}
	for {
		n, err := r.Join(ctx, seeds...)
		if err == nil {
			joined.Store(true)
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

// LoadGossipKeys reads base64 gossip keys, one per line (blank lines and lines
// starting with # are skipped). The first key encrypts; all decrypt.
func LoadGossipKeys(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gossip key file: %w", err)
	}
	defer f.Close()
	var keys [][]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("gossip key file %s line %d: %w", path, line, err)
		}
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("gossip key file %s line %d: key is %d bytes, want 16, 24 or 32", path, line, n)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gossip key file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip key file %s holds no key", path)
	}
	return keys, nil
}
