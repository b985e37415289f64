package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// shardedScenario is the test body, for any tree: join(name) is the tree
// constructor of member name.
func shardedScenario(t *testing.T, join func(name string) treeFunc) {
	const (
		numNodes = 2000
		numPods  = 600
		ns       = "default"
	)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := testLogger()

	if err := workload.CreateNodes(ctx, c.Client, 0, numNodes, 32); err != nil {
		t.Fatal(err)
	}
	cfgPath := schedulerConfig(t, c.Kubeconfig)
	members := map[string]*member{}
	names := []string{"m0", "m1", "m2"}
	for _, n := range names {
		members[n] = startMember(t, join(n), n, cfgPath, log)
	}

	poll(t, 3*time.Minute, 500*time.Millisecond, "shards balanced over 3 members", func() (bool, error) {
		counts, err := shardCounts(ctx, c.Client)
		return err == nil && shard.Even(counts, names, numNodes), err
	})
	first := leaseHolder(ctx, c.Client)
	if !slices.Contains(names, first) {
		t.Fatalf("lease holder %q is not a member", first)
	}

	// A pod nothing fits: it must stay pending with PodScheduled=False.
	unfit := workload.Unfittable(ns, "unfittable", schedulerName)
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, unfit, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	create := func(from, to int) {
		t.Helper()
		err := workload.Parallel(ctx, to-from, 16, func(ctx context.Context, i int) error {
			_, err := c.Client.CoreV1().Pods(ns).Create(ctx, workload.Pod(ns, from+i, schedulerName, false), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	create(0, numPods/2)

	// Kill the leader mid-run: a survivor must take the Lease and rebalance
	// the dead member's nodes over the two that are left.
	members[first].stop()
	survivors := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == first })
	create(numPods/2, numPods)
	poll(t, time.Minute, 250*time.Millisecond, "a new leader", func() (bool, error) {
		h := leaseHolder(ctx, c.Client)
		return slices.Contains(survivors, h), fmt.Errorf("holder %q", h)
	})
	poll(t, 3*time.Minute, 500*time.Millisecond, "shards rebalanced over the survivors", func() (bool, error) {
		counts, err := shardCounts(ctx, c.Client)
		return err == nil && shard.Even(counts, survivors, numNodes), fmt.Errorf("%v %v", counts, err)
	})

	var pods []v1.Pod
	poll(t, 5*time.Minute, time.Second, "all workload pods bound", func() (bool, error) {
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods = slices.DeleteFunc(l.Items, func(p v1.Pod) bool { return p.Name == unfit.Name })
		bound := 0
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == numPods, fmt.Errorf("%d/%d bound", bound, numPods)
	})
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range workload.Check(pods, nodes.Items) {
		t.Errorf("placement: %s", p)
	}
	// Pods reach their member through its shard label: the winner's Binding
	// put it there, and the leader moved it with the dead member's nodes.
	poll(t, time.Minute, time.Second, "every bound pod labelled with its node's shard", func() (bool, error) {
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		bad := shardLabelsAgree(l.Items, nodes.Items)
		return len(bad) == 0, fmt.Errorf("%d pods disagree, e.g. %v", len(bad), bad[:min(3, len(bad))])
	})
	// Each move was a handover (shard.Adopter): the survivors adopted the
	// nodes they received and ended every handover, so no node keeps its
	// mark.
	poll(t, time.Minute, time.Second, "every node handover ended", func() (bool, error) {
		l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		marked := 0
		for _, n := range l.Items {
			if _, ok := n.Annotations[shard.HandoffAnnotation]; ok {
				marked++
			}
		}
		return marked == 0, fmt.Errorf("%d nodes still marked", marked)
	})
	var adopted float64
	for _, n := range survivors {
		adopted += members[n].counter("distscheduler_shard_handoff_adopted_nodes_total", "", "")
	}
	if adopted == 0 {
		t.Error("no survivor adopted a node handed over to it")
	}
	t.Logf("survivors adopted %.0f handed-over nodes", adopted)

	// Bound exactly once: never two Scheduled events for one pod. (The API
	// server refuses a second binding anyway; this catches a second winner
	// trying.) Events of the killed member may be lost at its shutdown, so
	// missing events are reported, not failed.
	var withEvent int
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", "Scheduled").String()})
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, e := range evs.Items {
			per[e.InvolvedObject.Name] += max(int(e.Count), 1)
		}
		for name, n := range per {
			if n > 1 {
				t.Fatalf("pod %s has %d Scheduled events", name, n)
			}
		}
		withEvent = len(per)
		if withEvent >= numPods || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("%d/%d pods have exactly one Scheduled event, none has two", withEvent, numPods)

	got, err := c.Client.CoreV1().Pods(ns).Get(ctx, unfit.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" {
		t.Fatalf("unfittable pod bound to %s", got.Spec.NodeName)
	}
	poll(t, time.Minute, 500*time.Millisecond, "PodScheduled=False on the unfittable pod", func() (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, unfit.Name, metav1.GetOptions{})
		return err == nil && podScheduledFalse(p), err
	})

	// A node that fits appears: the leader shards it, its member's queue
	// retries the pod on the node event, and it is bound there.
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, workload.BigNode("big-node"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, 500*time.Millisecond, "unfittable pod bound after a fitting node appeared", func() (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, unfit.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != "big-node" {
			t.Fatalf("unfittable pod bound to %s", p.Spec.NodeName)
		}
		return p.Spec.NodeName == "big-node", nil
	})
}
