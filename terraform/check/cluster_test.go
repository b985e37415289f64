package check

import (
	"context"
	"crypto/tls"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/controlplane"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/store"
)

// controlPlane is a real kube-apiserver on memetcd, started by the first test
// that needs it and shared by the others (starting one costs tens of seconds
// on a small machine); TestMain stops it.
type controlPlane struct {
	cp    *controlplane.ControlPlane
	store *store.Store
	api   *kubeapi.APIServer
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
		_ = cp.cp.Stop()
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
	// IPv6 services, as the deployment's cluster has (control-plane's service_cidr).
	cp, err := controlplane.Start(ctx, controlplane.Config{APIServerBin: apiBin, StoreBin: memetcdBin, Dir: dir,
		ServiceClusterIPRange: "fd00:20::/112"})
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cp.PKI.AdminTLSConfig()
	if err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return &controlPlane{cp: cp, store: cp.Store, api: cp.API, tls: tlsCfg, dir: cp.Dir}, nil
}
