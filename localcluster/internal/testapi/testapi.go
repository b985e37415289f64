// Package testapi gives localcluster's package tests a real kube-apiserver
// on a real store (memetcd), started through the harness, and a client for it.
package testapi

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/store"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Start starts memetcd and kube-apiserver for t (skipping or failing per
// bins.RequireBinary when they are not built) and returns an admin client.
func Start(t *testing.T) kubernetes.Interface {
	t.Helper()
	storeBin := bins.RequireBinary(t, "memetcd")
	apiBin := bins.RequireBinary(t, "kube-apiserver")
	dir := t.TempDir()
	files, err := pki.Generate(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Start(t.Context(), store.Config{Kind: store.Memetcd, Bin: storeBin, RunDir: dir, KillWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(10 * time.Second) })
	a, err := kubeapi.Start(t.Context(), kubeapi.Config{Bin: apiBin, RunDir: dir, PKI: files,
		EtcdServers: []string{s.Endpoint}, KillWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(10 * time.Second) })
	cfg, err := clientcmd.BuildConfigFromFlags("", a.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
