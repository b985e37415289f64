package tracker

import (
	"context"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/localcluster/internal/testapi"
	"github.com/k8s1m/k8s1m/localcluster/workload"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// bind binds pod to node the way a scheduler does (the binding subresource).
func bind(ctx context.Context, c kubernetes.Interface, ns, pod, node string) error {
	return c.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTracker plays scheduler and kwok against a real apiserver: it creates
// nodes and pods with the workload package, marks nodes Ready, binds some pods,
// and checks what the tracker saw.
func TestTracker(t *testing.T) {
	c := testapi.Start(t)
	ctx := t.Context()
	const ns, nodes, pods, bound = "lc", 4, 10, 7
	cfg := workload.Config{Nodes: nodes, Pods: pods, Workers: 3, PerKwokGroup: 2, Namespace: ns, SchedulerName: "none"}
	if err := workload.PrepareNamespace(ctx, c, ns); err != nil {
		t.Fatal(err)
	}
	tr := New()
	if err := tr.Start(ctx, c, ns, workload.PodLabel+"="+workload.PodLabelValue, workload.NodeLabel+"=true"); err != nil {
		t.Fatal(err)
	}
	if err := workload.CreateNodes(ctx, c, cfg, nil); err != nil {
		t.Fatal(err)
	}
	// Ready on half the nodes, as kwok would set it.
	for i := range nodes / 2 {
		n, err := c.CoreV1().Nodes().Get(ctx, workload.NodeName(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "nodes Ready", func() bool { return tr.Counts().NodesReady == nodes/2 })

	if err := workload.CreatePods(ctx, c, cfg, tr.Sent, nil); err != nil {
		t.Fatal(err)
	}
	for i := range bound {
		if err := bind(ctx, c, ns, workload.PodName(i), workload.NodeName(i%nodes)); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "pods bound", func() bool { return tr.Counts().PodsBound == bound })
	// A second binding of a bound pod is refused by the apiserver; the tracker
	// must still show one binding for it.
	if err := bind(ctx, c, ns, workload.PodName(0), workload.NodeName(3)); err == nil {
		t.Error("apiserver accepted a second binding")
	}

	got := tr.Counts()
	if got.PodsSent != pods || got.PodsBound != bound {
		t.Errorf("counts = %+v, want %d sent, %d bound", got, pods, bound)
	}
	res := tr.Result()
	if len(res.Latencies) != bound || len(res.BoundAt) != bound {
		t.Errorf("result has %d latencies, %d binds; want %d", len(res.Latencies), len(res.BoundAt), bound)
	}
	if len(res.Unbound) != pods-bound || res.Unbound[0] != workload.PodName(bound) {
		t.Errorf("unbound = %v", res.Unbound)
	}
	if len(res.Rebinds) != 0 {
		t.Errorf("rebinds = %v", res.Rebinds)
	}
	if res.PerNode[workload.NodeName(0)] != 2 {
		t.Errorf("per node = %v, want 2 on node 0", res.PerNode)
	}
	for i, l := range res.Latencies {
		if l <= 0 || (i > 0 && l < res.Latencies[i-1]) {
			t.Errorf("latencies not positive and sorted: %v", res.Latencies)
			break
		}
	}
	// The kwok-group labels follow PerKwokGroup.
	for i, want := range []string{"0", "0", "1", "1"} {
		n, err := c.CoreV1().Nodes().Get(ctx, workload.NodeName(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g := n.Labels[workload.KwokGroupLabel]; g != want {
			t.Errorf("node %d kwok-group = %q, want %q", i, g, want)
		}
	}
}
