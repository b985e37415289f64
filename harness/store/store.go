// Package store starts the key-value store a kube-apiserver runs on: the real
// etcd (bin/etcd, single member) or memetcd (bin/memetcd), each as its own
// process on loopback ports, and waits until it answers its health check.
package store

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

// Kind names a store implementation.
type Kind string

// Store kinds.
const (
	Etcd    Kind = "etcd"
	Memetcd Kind = "memetcd"
)

// ParseKind accepts "etcd" or "memetcd".
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Etcd, Memetcd:
		return k, nil
	}
	return "", fmt.Errorf("store %q: want %q or %q", s, Etcd, Memetcd)
}

// Config says which store to start and where.
type Config struct {
	Kind Kind
	// Bin is the binary path (bins.Path("etcd") or bins.Path("memetcd")).
	Bin string
	// RunDir holds the log, PID file and data directory.
	RunDir string
	// Name is the process name in RunDir; the kind when empty.
	Name string
	// ClientPort serves etcd gRPC; MetricsPort serves /metrics and the health
	// check; PeerPort is etcd's peer port. Zero picks a free port.
	ClientPort, MetricsPort, PeerPort int
	// ExtraArgs are appended to the generated flags (later flags win in both
	// binaries), e.g. memetcd's --wal-default or etcd's --quota-backend-bytes.
	ExtraArgs []string
	Env       []string
	// KillWithParent: see proc.Spec.
	KillWithParent bool
	// ReadyTimeout bounds the wait for the health check; 60s when zero.
	ReadyTimeout time.Duration
}

// Store is a started, healthy store.
type Store struct {
	Kind Kind
	Proc *proc.Process
	// Endpoint is the client URL for --etcd-servers (http://127.0.0.1:port).
	Endpoint string
	// MetricsURL is the Prometheus endpoint (http://127.0.0.1:port/metrics).
	MetricsURL string
	// DataDir holds the store's files (etcd data, memetcd WAL).
	DataDir string
}

// Start starts the store and waits until it is healthy. On failure the process
// is stopped and the error shows its log tail.
func Start(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Name == "" {
		cfg.Name = string(cfg.Kind)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	ports, err := pickPorts(cfg.ClientPort, cfg.MetricsPort, cfg.PeerPort)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	client, metrics, peer := ports[0], ports[1], ports[2]
	s := &Store{
		Kind:       cfg.Kind,
		Endpoint:   fmt.Sprintf("http://127.0.0.1:%d", client),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics),
		DataDir:    filepath.Join(cfg.RunDir, cfg.Name+"-data"),
	}
	var args []string
	var health string
	switch cfg.Kind {
	case Etcd:
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
		args = []string{
			"--name", cfg.Name,
			"--data-dir", s.DataDir,
			"--listen-client-urls", s.Endpoint,
			"--advertise-client-urls", s.Endpoint,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", cfg.Name + "=" + peerURL,
			"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", metrics),
			"--log-level", "warn",
		}
		health = fmt.Sprintf("http://127.0.0.1:%d/health", metrics)
	case Memetcd:
		args = []string{
			"--listen-address", "127.0.0.1",
			"--port", fmt.Sprint(client),
			"--metrics-port", fmt.Sprint(metrics),
			"--wal-dir", s.DataDir,
		}
		health = fmt.Sprintf("http://127.0.0.1:%d/healthz", metrics)
	default:
		return nil, fmt.Errorf("start %s: unknown store kind %q", cfg.Name, cfg.Kind)
	}
	p, err := proc.Start(proc.Spec{
		Name:           cfg.Name,
		Path:           cfg.Bin,
		Args:           append(args, cfg.ExtraArgs...),
		Env:            cfg.Env,
		RunDir:         cfg.RunDir,
		KillWithParent: cfg.KillWithParent,
	})
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, proc.HTTPProbe(health, nil), cfg.ReadyTimeout); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	s.Proc = p
	return s, nil
}

// Stop stops the store (SIGTERM, then SIGKILL after grace); its files stay.
func (s *Store) Stop(grace time.Duration) error { return s.Proc.Stop(grace) }

// pickPorts returns the wanted ports, checking that fixed ones are free (so
// the error names the port rather than a bind failure in a log) and picking
// free ones for zeros.
func pickPorts(want ...int) ([]int, error) {
	free, err := proc.FreePorts(len(want))
	if err != nil {
		return nil, err
	}
	out := make([]int, len(want))
	for i, p := range want {
		if p == 0 {
			out[i] = free[i]
			continue
		}
		if err := proc.CheckPortFree(p); err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
