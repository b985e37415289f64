// Package controlplane starts a real kube-apiserver on a real store (memetcd
// by default, or etcd), with the PKI it needs, as one unit: the control plane
// that integration tests and measurements across the workspace run against.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/store"
)

// stopGrace is how long each process gets to exit on SIGTERM.
const stopGrace = 10 * time.Second

// Config says which binaries to run and how to run the API server.
type Config struct {
	// APIServerBin and StoreBin are the kube-apiserver and store binaries.
	APIServerBin, StoreBin string
	// StoreKind is the store to run: store.Memetcd when empty.
	StoreKind store.Kind
	// StoreArgs are added to the store's flags (store.Config.ExtraArgs), e.g.
	// memetcd's --wal-default or etcd's --unsafe-no-fsync.
	StoreArgs []string
	// Dir holds the PKI (Dir/pki), both processes' logs and the store's data.
	Dir string
	// AuthorizationMode, ServiceClusterIPRange and APIServerArgs are passed
	// to kubeapi.Config (AuthorizationMode, ServiceClusterIPRange, ExtraArgs).
	AuthorizationMode     string
	ServiceClusterIPRange string
	APIServerArgs         []string
}

// ControlPlane is a started store and a ready kube-apiserver on it.
type ControlPlane struct {
	// Dir is Config.Dir: the PKI, both processes' logs and the store's data.
	Dir   string
	PKI   *pki.Files
	Store *store.Store
	API   *kubeapi.APIServer
}

// Start generates the PKI, starts the store and then kube-apiserver on it, and
// returns once the API server is ready. Both processes die with the caller.
// On failure whatever started is stopped.
func Start(ctx context.Context, cfg Config) (*ControlPlane, error) {
	if cfg.APIServerBin == "" || cfg.StoreBin == "" || cfg.Dir == "" {
		return nil, errors.New("control plane: APIServerBin, StoreBin and Dir are required")
	}
	if cfg.StoreKind == "" {
		cfg.StoreKind = store.Memetcd
	}
	files, err := pki.Generate(filepath.Join(cfg.Dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	s, err := store.Start(ctx, store.Config{Kind: cfg.StoreKind, Bin: cfg.StoreBin, RunDir: cfg.Dir,
		ExtraArgs: cfg.StoreArgs, KillWithParent: true})
	if err != nil {
		return nil, fmt.Errorf("control plane: %s: %w", cfg.StoreKind, err)
	}
	a, err := kubeapi.Start(ctx, kubeapi.Config{
		Bin: cfg.APIServerBin, RunDir: cfg.Dir, PKI: files, EtcdServers: []string{s.Endpoint},
		AuthorizationMode: cfg.AuthorizationMode, ServiceClusterIPRange: cfg.ServiceClusterIPRange,
		ExtraArgs: cfg.APIServerArgs, KillWithParent: true,
	})
	if err != nil {
		_ = s.Stop(stopGrace)
		return nil, fmt.Errorf("control plane: kube-apiserver: %w", err)
	}
	return &ControlPlane{Dir: cfg.Dir, PKI: files, Store: s, API: a}, nil
}

// Stop stops the API server, then the store.
func (c *ControlPlane) Stop() error {
	return errors.Join(c.API.Stop(stopGrace), c.Store.Stop(stopGrace))
}

// ForTest starts a control plane for t in a temporary directory, with the
// binaries bins finds (t is skipped, or fails under K8S1M_REQUIRE_BINARIES=1,
// when one is not built), and stops it when t ends. cfg's binaries and Dir
// are filled in.
func ForTest(t testing.TB, cfg Config) *ControlPlane {
	t.Helper()
	if cfg.StoreKind == "" {
		cfg.StoreKind = store.Memetcd
	}
	cfg.StoreBin = bins.RequireBinary(t, string(cfg.StoreKind))
	cfg.APIServerBin = bins.RequireBinary(t, "kube-apiserver")
	cfg.Dir = t.TempDir()
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}
