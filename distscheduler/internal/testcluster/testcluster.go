// Package testcluster starts what distscheduler's integration tests and
// benchmarks run against: a real store (memetcd or etcd) and a real
// kube-apiserver on it, on loopback ports, through the workspace harness
// (harness/controlplane). A missing binary skips the test naming its make
// target, or fails it when K8S1M_REQUIRE_BINARIES=1.
package testcluster

import (
	"os"
	"testing"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/controlplane"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/proc"
	"github.com/k8s1m/k8s1m/harness/store"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running store + kube-apiserver pair.
type Cluster struct {
	// URL is the API server's https URL.
	URL string
	// Kubeconfig is the path of an admin kubeconfig (client certificate of
	// system:masters) for the cluster.
	Kubeconfig string
	// Config is a client config on Kubeconfig with QPS limits for test load.
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
	// Dir holds the cluster's files (logs, PKI, data).
	Dir string
}

// Store names which store backs the API server: env K8S1M_STORE ("memetcd"
// or "etcd"); by default memetcd when it is built, else etcd.
func Store() store.Kind {
	if s := os.Getenv("K8S1M_STORE"); s != "" {
		return store.Kind(s)
	}
	if _, err := bins.Path("memetcd"); err == nil {
		return store.Memetcd
	}
	return store.Etcd
}

// storeArgs keep the store out of the measurement's way: no WAL for memetcd,
// no fsync and room for large runs for etcd.
var storeArgs = map[store.Kind][]string{
	store.Memetcd: {"--wal-default", "none", "--log-level", "warn"},
	store.Etcd:    {"--unsafe-no-fsync", "--quota-backend-bytes", "8589934592"},
}

// Start runs the store and kube-apiserver until the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	kind := Store()
	cp := controlplane.ForTest(t, controlplane.Config{
		StoreKind:         kind,
		StoreArgs:         storeArgs[kind],
		AuthorizationMode: kubeapi.AuthzAlwaysAllow,
		APIServerArgs: []string{
			// No controller manager here: nothing creates default service
			// accounts or lifts the not-ready taint new nodes would get.
			"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
			"--enable-priority-and-fairness=false",
			"--max-requests-inflight=4000",
			"--max-mutating-requests-inflight=2000",
		},
	})
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.API.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 5000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{URL: cp.API.URL, Kubeconfig: cp.API.Kubeconfig, Config: cfg, Client: cs, Dir: cp.Dir}
}

// Binary returns the path of an upstream or workspace binary (bins.Path),
// skipping (or, with K8S1M_REQUIRE_BINARIES=1, failing) the test when it is
// not built.
func Binary(t testing.TB, name string) string {
	t.Helper()
	return bins.RequireBinary(t, name)
}

// CPUSeconds is the user+system CPU time pid has used so far.
func CPUSeconds(pid int) (float64, error) {
	u, err := proc.ReadUsage(pid)
	return u.CPUSeconds, err
}

// RSSBytes returns the resident set size of pid and its peak.
func RSSBytes(pid int) (rss, peak int64, err error) {
	u, err := proc.ReadUsage(pid)
	return u.RSSBytes, u.PeakRSSBytes, err
}
