package nodes_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/makenodes/bulk"
	"github.com/k8s1m/k8s1m/makenodes/internal/testcluster"
	"github.com/k8s1m/k8s1m/makenodes/kube"
	"github.com/k8s1m/k8s1m/makenodes/nodes"
	"github.com/rs/zerolog"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// stores are the stores the end-to-end tests run on; each skips when its binary
// is missing (or fails under K8S1M_REQUIRE_BINARIES=1).
var stores = []store.Kind{store.Memetcd, store.Etcd}

func testConfig(t *testing.T, prefix string, count, perGroup int) nodes.Config {
	t.Helper()
	shape, err := nodes.DefaultShapeFlags().Parse()
	if err != nil {
		t.Fatal(err)
	}
	return nodes.Config{Prefix: prefix, Count: count, PerKwokGroup: perGroup, Shape: shape}
}

func newClients(t *testing.T, c *testcluster.Cluster, concurrency int) *kube.Clients {
	t.Helper()
	return newClientsWith(t, c, kube.Options{Concurrency: concurrency})
}

func newClientsWith(t *testing.T, c *testcluster.Cluster, opts kube.Options) *kube.Clients {
	t.Helper()
	clients, err := kube.NewClients(c.Rest, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(clients.Close)
	if opts.Transport != "" && clients.Transport != opts.Transport {
		t.Fatalf("transport %s, want %s (fallback: %s)", clients.Transport, opts.Transport, clients.Fallback)
	}
	return clients
}

// poll calls cond every interval until it returns true or timeout passes.
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

func readyNodes(ctx context.Context, c kubernetes.Interface) (ready, total int, err error) {
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, err
	}
	for _, n := range list.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready, len(list.Items), nil
}

func leaseRenewals(ctx context.Context, c kubernetes.Interface) (map[string]time.Time, error) {
	list, err := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, l := range list.Items {
		out[l.Name] = renewTime(l)
	}
	return out, nil
}

func renewTime(l coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

// TestNodesWithKwok is the proof: 5,000 nodes in groups of 1,000, one
// real kwok controller per group; all become Ready, their leases renew, a
// re-run creates nothing, delete removes them all.
func TestNodesWithKwok(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store, kube-apiserver and 5 kwok controllers")
	}
	const count, perGroup = 5000, 1000
	for _, kind := range stores {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			c := testcluster.Start(t, kind)
			cfg := testConfig(t, nodes.DefaultPrefix, count, perGroup)
			ctrls := c.StartKwok(t, cfg.Groups())
			if len(ctrls.Pids()) != 5 {
				t.Fatalf("%d controllers, want 5", len(ctrls.Pids()))
			}
			clients := newClients(t, c, 200)
			opts := nodes.Options{Bulk: bulk.Config{Concurrency: 200}}

			res, err := nodes.Create(ctx, zerolog.Nop(), clients, cfg, opts)
			if err != nil || res.Done != count {
				t.Fatalf("create: done %d of %d, err %v", res.Done, count, err)
			}
			t.Logf("%s: created %d nodes in %s (%.0f/s)", kind, res.Done, res.Elapsed.Round(time.Millisecond), res.PerSecond())

			poll(t, 6*time.Minute, "all nodes Ready", func() (bool, string) {
				ready, total, err := readyNodes(ctx, c.Client)
				return err == nil && ready == count, fmt.Sprintf("%d/%d ready, err %v", ready, total, err)
			})
			// Each group's nodes are managed by its own controller: a node of the
			// last group is Ready only if controller 4 runs.
			if n, err := c.Client.CoreV1().Nodes().Get(ctx, cfg.Name(count-1), metav1.GetOptions{}); err != nil || n.Labels[nodes.GroupLabel] != "4" {
				t.Fatalf("last node: %v, labels %v", err, n.Labels)
			}

			var first map[string]time.Time
			poll(t, 3*time.Minute, "a lease per node", func() (bool, string) {
				first, err = leaseRenewals(ctx, c.Client)
				return err == nil && len(first) == count, fmt.Sprintf("%d leases, err %v", len(first), err)
			})
			poll(t, 4*time.Minute, "every lease renewed", func() (bool, string) {
				now, err := leaseRenewals(ctx, c.Client)
				if err != nil {
					return false, err.Error()
				}
				stale := 0
				for name, t0 := range first {
					if !now[name].After(t0) {
						stale++
					}
				}
				return stale == 0, fmt.Sprintf("%d of %d leases not renewed yet", stale, count)
			})
			if err := ctrls.Exited(); err != nil {
				t.Fatal(err)
			}

			res, err = nodes.Create(ctx, zerolog.Nop(), clients, cfg, opts)
			if err != nil || res.Done != 0 || res.Already != count {
				t.Fatalf("re-run: done %d already %d, err %v; want 0 and %d", res.Done, res.Already, err, count)
			}

			res, err = nodes.Delete(ctx, zerolog.Nop(), clients, cfg.Prefix, opts)
			if err != nil || res.Done != count {
				t.Fatalf("delete: done %d, err %v", res.Done, err)
			}
			if _, total, err := readyNodes(ctx, c.Client); err != nil || total != 0 {
				t.Fatalf("after delete: %d nodes, err %v", total, err)
			}
		})
	}
}

// TestCreateSurvivesAPIServerRestart stops kube-apiserver in the middle of a
// run and starts it again: the run retries until it is back and finishes with
// every node created and no errors.
func TestCreateSurvivesAPIServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store and kube-apiserver twice")
	}
	for _, transport := range []string{kube.TransportH2Bulk, kube.TransportClientGo} {
		t.Run(transport, func(t *testing.T) { testCreateSurvivesAPIServerRestart(t, transport) })
	}
}

func testCreateSurvivesAPIServerRestart(t *testing.T, transport string) {
	ctx := context.Background()
	kind := store.Etcd // the reference store; memetcd when etcd is not built
	if !testcluster.Have(string(store.Etcd)) {
		kind = store.Memetcd
	}
	c := testcluster.Start(t, kind)
	const count = 3000
	cfg := testConfig(t, "restart-", count, 1000)
	clients := newClientsWith(t, c, kube.Options{Concurrency: 50, Transport: transport})
	// A QPS cap makes the run last long enough to restart the apiserver in it.
	opts := nodes.Options{Bulk: bulk.Config{Concurrency: 50, QPS: 200}}

	type outcome struct {
		res bulk.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := nodes.Create(ctx, zerolog.Nop(), clients, cfg, opts)
		done <- outcome{res, err}
	}()
	var seen atomic.Int64
	poll(t, time.Minute, "some nodes created", func() (bool, string) {
		l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			seen.Store(int64(len(l.Items)))
		}
		return seen.Load() >= 300, fmt.Sprintf("%d nodes", seen.Load())
	})
	c.StopAPIServer(t)
	c.StartAPIServer(t)
	out := <-done
	if out.err != nil || out.res.Failed != 0 || out.res.Done+out.res.Already != count {
		t.Fatalf("run across restart: done %d already %d failed %d, err %v", out.res.Done, out.res.Already, out.res.Failed, out.err)
	}
	if out.res.Retries == 0 {
		t.Fatalf("no retries: the apiserver restart was not seen by the run")
	}
	l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != count {
		t.Fatalf("after restart: %d nodes, err %v", len(l.Items), err)
	}
	t.Logf("%s: %d nodes across an apiserver restart, %d retries", kind, count, out.res.Retries)
}
