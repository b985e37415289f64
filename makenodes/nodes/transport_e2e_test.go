package nodes_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/makenodes/bulk"
	"github.com/k8s1m/k8s1m/makenodes/internal/testcluster"
	"github.com/k8s1m/k8s1m/makenodes/kube"
	"github.com/k8s1m/k8s1m/makenodes/nodes"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTransportsAgree creates and deletes thousands of nodes through the h2bulk
// transport against a real kube-apiserver and checks the apiserver stored
// exactly what the client-go transport makes it store: every node exists, each
// equals its client-go-created twin but for name and server-set fields, and
// deletes remove them all.
func TestTransportsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store and kube-apiserver")
	}
	ctx := context.Background()
	c := testcluster.StartPreferred(t)
	const leanCount, goCount = 3000, 300
	runs := []struct {
		transport string
		prefix    string
		count     int
	}{
		{kube.TransportH2Bulk, "lean-", leanCount},
		{kube.TransportClientGo, "cg-", goCount},
	}
	for _, r := range runs {
		clients, err := kube.NewClients(c.Rest, kube.Options{Concurrency: 500, Transport: r.transport})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(clients.Close)
		if clients.Transport != r.transport {
			t.Fatalf("transport %s, want %s (fallback: %s)", clients.Transport, r.transport, clients.Fallback)
		}
		res, err := nodes.Create(ctx, zerolog.Nop(), clients, testConfig(t, r.prefix, r.count, 1000), nodes.Options{Bulk: bulk.Config{Concurrency: 500}})
		if err != nil || res.Done != int64(r.count) || res.Failed != 0 {
			t.Fatalf("%s create: done %d of %d, failed %d, err %v", r.transport, res.Done, r.count, res.Failed, err)
		}
		t.Logf("%s: %d nodes in %v (%.0f/s)", r.transport, res.Done, res.Elapsed, res.PerSecond())
	}

	list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*corev1.Node{}
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	if len(byName) != leanCount+goCount {
		t.Fatalf("%d nodes, want %d", len(byName), leanCount+goCount)
	}
	for i := range leanCount {
		lean := byName[fmt.Sprintf("lean-%d", i)]
		if lean == nil {
			t.Fatalf("node lean-%d missing", i)
		}
		if i >= goCount {
			continue
		}
		twin := byName[fmt.Sprintf("cg-%d", i)]
		if a, b := sameShape(lean, "lean-"), sameShape(twin, "cg-"); !equality.Semantic.DeepEqual(a, b) {
			t.Fatalf("node %d differs by transport:\nh2bulk:    %+v\nclient-go: %+v", i, a, b)
		}
	}

	for _, r := range runs {
		clients, err := kube.NewClients(c.Rest, kube.Options{Concurrency: 500, Transport: r.transport})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(clients.Close)
		res, err := nodes.Delete(ctx, zerolog.Nop(), clients, r.prefix, nodes.Options{Bulk: bulk.Config{Concurrency: 500}})
		if err != nil || res.Done != int64(r.count) {
			t.Fatalf("%s delete: done %d of %d, err %v", r.transport, res.Done, r.count, err)
		}
	}
	if list, err = c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("after delete: %d nodes, err %v", len(list.Items), err)
	}
}

// sameShape is n without what differs between two creates of the same node
// shape: the name prefix and the fields the apiserver sets.
func sameShape(n *corev1.Node, prefix string) *corev1.Node {
	n = n.DeepCopy()
	n.Name = strings.TrimPrefix(n.Name, prefix)
	n.UID, n.ResourceVersion, n.CreationTimestamp = "", "", metav1.Time{}
	n.ManagedFields = nil
	for k, v := range n.Labels {
		n.Labels[k] = strings.TrimPrefix(v, prefix)
	}
	return n
}
