package pods_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/makenodes/bulk"
	"github.com/k8s1m/k8s1m/makenodes/internal/testcluster"
	"github.com/k8s1m/k8s1m/makenodes/kube"
	"github.com/k8s1m/k8s1m/makenodes/nodes"
	"github.com/k8s1m/k8s1m/makenodes/pods"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s (%s)", what, timeout, status)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func podConfig(count int) pods.Config {
	return pods.Config{
		Prefix: pods.DefaultPrefix, Namespace: pods.DefaultNamespace, Count: count,
		CPU: resource.MustParse("100m"), Memory: resource.MustParse("128Mi"), Image: pods.DefaultImage,
	}
}

// TestPodsScheduledAndRunning: pods makenodes creates are bound by the real
// kube-scheduler to kwok nodes and marked Running by the real kwok controller;
// a re-run creates nothing; delete removes them.
func TestPodsScheduledAndRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store, kube-apiserver, kube-scheduler and kwok")
	}
	ctx := context.Background()
	c := testcluster.StartPreferred(t)
	c.StartKwok(t, 2)
	c.StartScheduler(t)
	clients, err := kube.NewClients(c.Rest, kube.Options{Concurrency: 100})
	if err != nil {
		t.Fatal(err)
	}
	opts := bulk.Config{Concurrency: 100}

	shape, _ := nodes.DefaultShapeFlags().Parse()
	ncfg := nodes.Config{Prefix: nodes.DefaultPrefix, Count: 40, PerKwokGroup: 20, Shape: shape}
	if _, err := nodes.Create(ctx, zerolog.Nop(), clients, ncfg, nodes.Options{Bulk: opts}); err != nil {
		t.Fatal(err)
	}

	const count = 500
	cfg := podConfig(count)
	res, err := pods.Create(ctx, zerolog.Nop(), clients, cfg, pods.Options{Bulk: opts})
	if err != nil || res.Done != count {
		t.Fatalf("create pods: done %d, err %v", res.Done, err)
	}
	poll(t, 3*time.Minute, "all pods bound and Running", func() (bool, string) {
		list, err := c.Client.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		bound, running := 0, 0
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return bound == count && running == count, fmt.Sprintf("%d pods, %d bound, %d running", len(list.Items), bound, running)
	})
	// Both controllers' nodes got pods: the scheduler spreads them.
	p, err := c.Client.CoreV1().Pods(cfg.Namespace).Get(ctx, cfg.Name(0), metav1.GetOptions{})
	if err != nil || p.Status.PodIP == "" {
		t.Fatalf("pod 0: %v, pod IP %q (kwok assigns one)", err, p.Status.PodIP)
	}

	res, err = pods.Create(ctx, zerolog.Nop(), clients, cfg, pods.Options{Bulk: opts})
	if err != nil || res.Done != 0 || res.Already != count {
		t.Fatalf("re-run: done %d already %d, err %v", res.Done, res.Already, err)
	}
	res, err = pods.Delete(ctx, zerolog.Nop(), clients, cfg.Namespace, cfg.Prefix, pods.Options{Bulk: opts})
	if err != nil || res.Done != count {
		t.Fatalf("delete: done %d, err %v", res.Done, err)
	}
	poll(t, time.Minute, "pods gone", func() (bool, string) {
		list, err := c.Client.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, fmt.Sprintf("%d left, err %v", len(list.Items), err)
	})
}

// TestDeployments: --deployments spreads the count over Deployments. There is
// no controller manager here, so only the Deployment objects are checked.
func TestDeployments(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store and kube-apiserver")
	}
	ctx := context.Background()
	c := testcluster.StartPreferred(t)
	clients, err := kube.NewClients(c.Rest, kube.Options{Concurrency: 10})
	if err != nil {
		t.Fatal(err)
	}
	cfg := podConfig(10)
	cfg.Prefix, cfg.Deployments = "web-", 3
	for run := range 2 { // the second run finds everything in place
		res, err := pods.Create(ctx, zerolog.Nop(), clients, cfg, pods.Options{})
		if err != nil || res.Done+res.Already != 3 || (run == 1 && res.Done != 0) {
			t.Fatalf("run %d: done %d already %d, err %v", run, res.Done, res.Already, err)
		}
	}
	list, err := c.Client.AppsV1().Deployments(cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replicas := int32(0)
	for _, d := range list.Items {
		replicas += *d.Spec.Replicas
	}
	if len(list.Items) != 3 || replicas != 10 {
		t.Fatalf("%d deployments with %d replicas, want 3 with 10", len(list.Items), replicas)
	}
	res, err := pods.Delete(ctx, zerolog.Nop(), clients, cfg.Namespace, cfg.Prefix, pods.Options{})
	if err != nil || res.Done != 3 {
		t.Fatalf("delete: done %d, err %v", res.Done, err)
	}
}
