// Package controlplane starts a real kube-apiserver on a real memetcd, with
// the PKI it needs, as one unit: the control plane that integration tests
// and measurements across the workspace run against.
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
	// APIServerBin and StoreBin are the kube-apiserver and memetcd binaries.
	APIServerBin, StoreBin string
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
	PKI   *pki.Files
	Store *store.Store
	API   *kubeapi.APIServer
}

// Start generates the PKI, starts memetcd and then kube-apiserver on it, and
// returns once the API server is ready. Both processes die with the caller.
// On failure whatever started is stopped.
func Start(ctx context.Context, cfg Config) (*ControlPlane, error) {
	if cfg.APIServerBin == "" || cfg.StoreBin == "" || cfg.Dir == "" {
		return nil, errors.New("control plane: APIServerBin, StoreBin and Dir are required")
	}
	files, err := pki.Generate(filepath.Join(cfg.Dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	s, err := store.Start(ctx, store.Config{Kind: store.Memetcd, Bin: cfg.StoreBin, RunDir: cfg.Dir, KillWithParent: true})
	if err != nil {
		return nil, fmt.Errorf("control plane: memetcd: %w", err)
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
	return &ControlPlane{PKI: files, Store: s, API: a}, nil
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
	cfg.StoreBin = bins.RequireBinary(t, "memetcd")
	cfg.APIServerBin = bins.RequireBinary(t, "kube-apiserver")
	cfg.Dir = t.TempDir()
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}
