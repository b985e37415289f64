// Package testcluster starts what makenodes' integration tests and benchmarks
// run against: a store (real etcd or memetcd), a real kube-apiserver on it, and
// on request kube-scheduler and kwok controllers — all real binaries from bin/,
// started through the workspace harness. A missing binary skips the test naming
// its make target (or fails it when K8S1M_REQUIRE_BINARIES=1).
package testcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/proc"
	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/makenodes/kwok"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running store + kube-apiserver.
type Cluster struct {
	Dir        string
	Store      *store.Store
	API        *kubeapi.APIServer
	Kubeconfig string
	Rest       *rest.Config
	Client     kubernetes.Interface

	apiBin string
	pki    *pki.Files
	port   int
}

// Start starts a store of kind and a kube-apiserver on it, stopped at cleanup.
func Start(t testing.TB, kind store.Kind) *Cluster {
	t.Helper()
	storeBin := bins.RequireBinary(t, string(kind))
	apiBin := bins.RequireBinary(t, "kube-apiserver")
	dir := t.TempDir()
	files, err := pki.Generate(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Start(context.Background(), store.Config{Kind: kind, Bin: storeBin, RunDir: dir, KillWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(10 * time.Second) })
	c := &Cluster{Dir: dir, Store: s, apiBin: apiBin, pki: files}
	c.StartAPIServer(t)
	t.Cleanup(func() { c.StopAPIServer(t) })

	if c.Rest, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	c.Rest.QPS, c.Rest.Burst = 1000, 1000 // test helpers poll and list; client-go's 5/s is far too slow
	if c.Client, err = kubernetes.NewForConfig(c.Rest); err != nil {
		t.Fatal(err)
	}
	return c
}

// StartAPIServer starts kube-apiserver (again, on the same port after
// StopAPIServer, so clients holding the kubeconfig reconnect).
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	a, err := kubeapi.Start(context.Background(), kubeapi.Config{
		Bin:               c.apiBin,
		RunDir:            c.Dir,
		PKI:               c.pki,
		EtcdServers:       []string{c.Store.Endpoint},
		SecurePort:        c.port,
		AuthorizationMode: kubeapi.AuthzAlwaysAllow,
		// Room for makenodes' concurrency; the defaults (400/200) would make it
		// measure the apiserver's 429s rather than its throughput.
		ExtraArgs:      []string{"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000"},
		KillWithParent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.API, c.Kubeconfig = a, a.Kubeconfig
	if c.port == 0 {
		if _, err := fmt.Sscanf(a.URL, "https://127.0.0.1:%d", &c.port); err != nil {
			t.Fatal(err)
		}
	}
}

// StopAPIServer stops kube-apiserver; the store keeps running.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	if err := c.API.Stop(10 * time.Second); err != nil {
		t.Error(err)
	}
}

// StartScheduler runs kube-scheduler against the cluster until cleanup.
func (c *Cluster) StartScheduler(t testing.TB) *proc.Process {
	t.Helper()
	bin := bins.RequireBinary(t, "kube-scheduler")
	p, err := proc.Start(proc.Spec{
		Name: "kube-scheduler",
		Path: bin,
		Args: []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--authentication-kubeconfig=" + c.Kubeconfig,
			"--authorization-kubeconfig=" + c.Kubeconfig,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=0",
		},
		RunDir:         c.Dir,
		KillWithParent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	return p
}

// StartKwok runs one kwok controller per group until cleanup.
func (c *Cluster) StartKwok(t testing.TB, groups int) *kwok.Controllers {
	t.Helper()
	bin := bins.RequireBinary(t, "kwok")
	ctrls, err := kwok.Start(context.Background(), kwok.Config{
		Binary:     bin,
		Kubeconfig: c.Kubeconfig,
		Groups:     groups,
		Dir:        filepath.Join(c.Dir, "kwok"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrls.Stop)
	return ctrls
}

// StartPreferred starts a cluster on memetcd when its binary is built, and on
// etcd otherwise.
func StartPreferred(t testing.TB) *Cluster {
	t.Helper()
	kind := store.Memetcd
	if !Have(string(kind)) {
		kind = store.Etcd
	}
	return Start(t, kind)
}

// Have reports whether binary name is built, for tests that prefer one store
// but can use another.
func Have(name string) bool {
	_, err := bins.Path(name)
	return err == nil
}

// Metrics returns kube-apiserver's /metrics text.
func (c *Cluster) Metrics(ctx context.Context) (string, error) {
	b, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("apiserver metrics: %w", err)
	}
	return string(b), nil
}
