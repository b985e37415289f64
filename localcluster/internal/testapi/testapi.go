// Package testapi gives localcluster's package tests a real kube-apiserver
// on a real store (memetcd), started through the harness, and a client for it.
package testapi

import (
	"testing"

	"github.com/k8s1m/k8s1m/harness/controlplane"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Start starts memetcd and kube-apiserver for t (skipping or failing per
// bins.RequireBinary when they are not built) and returns an admin client
// with no client-side rate limit.
func Start(t *testing.T) kubernetes.Interface {
	t.Helper()
	cp := controlplane.ForTest(t, controlplane.Config{})
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.API.Kubeconfig)
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
