package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/store"
)

// controlPlane is a real kube-apiserver on memetcd, started by the first test
// that needs it and shared by the others (starting one costs tens of seconds
// on a small machine); TestMain stops it.
type controlPlane struct {
	store *store.Store
	api   *kubeapi.APIServer
	pki   *pki.Files
	tls   *tls.Config
	dir   string
}

var shared struct {
	once sync.Once
	cp   *controlPlane
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cp := shared.cp; cp != nil {
		_ = cp.api.Stop(10 * time.Second)
		_ = cp.store.Stop(10 * time.Second)
		_ = os.RemoveAll(cp.dir)
	}
	os.Exit(code)
}

// startControlPlane returns the shared control plane, starting it on first use.
func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	apiBin := bins.RequireBinary(t, "kube-apiserver")
	memetcdBin := bins.RequireBinary(t, "memetcd")
	shared.once.Do(func() {
		shared.cp, shared.err = newControlPlane(apiBin, memetcdBin)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cp
}

func newControlPlane(apiBin, memetcdBin string) (*controlPlane, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "k8s1m-terraform-check-")
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{dir: dir}
	if cp.pki, err = pki.Generate(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	if cp.store, err = store.Start(ctx, store.Config{Kind: store.Memetcd, Bin: memetcdBin, RunDir: dir, KillWithParent: true}); err != nil {
		return nil, fmt.Errorf("memetcd: %w", err)
	}
	// IPv6 services, as the deployment's cluster has (control-plane's service_cidr).
	cp.api, err = kubeapi.Start(ctx, kubeapi.Config{Bin: apiBin, RunDir: dir, PKI: cp.pki,
		EtcdServers: []string{cp.store.Endpoint}, ServiceClusterIPRange: "fd00:20::/112", KillWithParent: true})
	if err != nil {
		_ = cp.store.Stop(10 * time.Second)
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	if cp.tls, err = cp.pki.AdminTLSConfig(); err != nil {
		return nil, err
	}
	return cp, nil
}
