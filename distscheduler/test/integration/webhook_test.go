package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWebhookIntake runs two relay-joined members that both serve the pod
// admission webhook on loopback: the Lease holder registers a
// ValidatingWebhookConfiguration pointing at itself, the real kube-apiserver
// calls it for every new dist-scheduler pod, and the leader submits those
// pods before its watch sees them; every pod is bound once. The leader's
// MutatingWebhookConfiguration gives each node created afterwards its shard
// label, so the shard controller writes nothing for them. With every member
// stopped, pods are still created (failurePolicy Ignore).
func TestWebhookIntake(t *testing.T) {
	const (
		numNodes = 500 // 10 gpu nodes: room for the ~34 gpu pods of 200
		numPods  = 200
		// moreNodes are created once the node webhook is registered.
		moreNodes = 100
		ns        = "default"
	)
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	log := testLogger()
	if err := workload.CreateNodes(ctx, c.Client, 0, numNodes, 32); err != nil {
		t.Fatal(err)
	}
	cfgPath := schedulerConfig(t, c.Kubeconfig)
	join := relayTrees()
	withWebhook := func(cfg *app.Config) {
		cfg.WebhookAddr = "127.0.0.1:0"
		cfg.WatchPods = false
	}
	members := map[string]*member{}
	for _, n := range []string{"w0", "w1"} {
		members[n] = startMember(t, join(n), n, cfgPath, log, withWebhook)
	}

	var leader *member
	poll(t, time.Minute, 250*time.Millisecond, "a leader with its webhook registered", func() (bool, error) {
		leader = members[leaseHolder(ctx, c.Client)]
		if leader == nil {
			return false, fmt.Errorf("no lease holder yet")
		}
		wh, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, leaseName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		w := wh.Webhooks[0]
		ok := w.ClientConfig.URL != nil && strings.HasPrefix(*w.ClientConfig.URL, "https://127.0.0.1:") &&
			len(w.ClientConfig.CABundle) > 0 && w.FailurePolicy != nil && string(*w.FailurePolicy) == "Ignore"
		return ok, fmt.Errorf("configuration %+v", w.ClientConfig)
	})
	poll(t, 2*time.Minute, 500*time.Millisecond, "shards balanced", func() (bool, error) {
		counts, err := shardCounts(ctx, c.Client)
		return err == nil && shard.Even(counts, []string{"w0", "w1"}, numNodes), fmt.Errorf("%v %v", counts, err)
	})

	// Nodes created now get their shard label from the node webhook as they
	// are created: no second write, shards still even.
	moved := leader.counter("distscheduler_shard_moves_total", "", "")
	if err := workload.CreateNodes(ctx, c.Client, numNodes, numNodes+moreNodes, 32); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, 500*time.Millisecond, "new nodes sharded", func() (bool, error) {
		counts, err := shardCounts(ctx, c.Client)
		return err == nil && shard.Even(counts, []string{"w0", "w1"}, numNodes+moreNodes), fmt.Errorf("%v %v", counts, err)
	})
	assigned := leader.counter("distscheduler_shard_webhook_assigned_nodes_total", "", "")
	movedAfter := leader.counter("distscheduler_shard_moves_total", "", "")
	t.Logf("leader %s: %v nodes labelled at creation, %v label patches", leader.name, assigned, movedAfter-moved)
	if assigned < moreNodes || movedAfter != moved {
		t.Errorf("node webhook labelled %v of %d new nodes; the controller patched %v", assigned, moreNodes, movedAfter-moved)
	}

	err := workload.Parallel(ctx, numPods, 16, func(ctx context.Context, i int) error {
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, workload.Pod(ns, i, schedulerName, false), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, time.Second, "all pods bound", func() (bool, error) {
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var unbound []string
		for _, p := range l.Items {
			if p.Spec.NodeName == "" {
				unbound = append(unbound, p.Name+"/"+string(p.UID))
			}
		}
		return len(unbound) == 0, fmt.Errorf("%d/%d bound; unbound: %v", numPods-len(unbound), numPods, unbound)
	})
	reviewed := leader.counter("distscheduler_webhook_reviews_total", "result", "offered")
	offered := leader.counter("distscheduler_intake_webhook_offers_total", "result", "new")
	known := leader.counter("distscheduler_intake_webhook_offers_total", "result", "known")
	t.Logf("leader %s: %v reviews offered, %v pods new to the intake, %v already known from the watch", leader.name, reviewed, offered, known)
	if reviewed < numPods {
		t.Errorf("the webhook offered %v pods, want every one of %d", reviewed, numPods)
	}
	if offered == 0 {
		t.Errorf("no pod reached the intake through the webhook first")
	}
	if offered+known < numPods {
		t.Errorf("intake saw %v offers, want %d", offered+known, numPods)
	}

	// failurePolicy Ignore: with no member serving, creation still works.
	for _, m := range members {
		m.stop()
	}
	p := workload.Pod(ns, numPods, schedulerName, false)
	start := time.Now()
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("pod creation with the webhook down: %v", err)
	}
	t.Logf("pod created with the webhook down in %v", time.Since(start))
}
