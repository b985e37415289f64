package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
)

// TestNodeHandover moves three nodes of member a to member b through the
// real shard controller on a real kube-apiserver, with b's end of the
// handover (shard.Adopter) fed by real informers of b's shard, as a member
// runs them. Each node reaches b marked and held back before b's informer
// stores it; b relabels the live pods bound to it, including one "bound"
// by a after the move (a late Binding), leaves finished pods alone, and
// ends each handover only once every pod is in what stands for its cache
// (here b's pod informer behind a gate the test opens). A pod "bound" by a
// after the handover ended is handed on by a's end (shard.Releaser, fed
// by a's informers).
func TestNodeHandover(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := testLogger()

	nodes := make([]string, 3)
	for i := range nodes {
		n := workload.Node(i)
		n.Labels[shard.Label] = "a"
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n.Name
	}
	// node 0 runs two pods of a; node 1 one finished pod of a; node 2 none.
	boundPod := func(name, node string) *v1.Pod {
		p := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{shard.Label: "a"}},
			Spec:       v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
		}
		p, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	boundPod("p0", nodes[0])
	boundPod("p1", nodes[0])
	done := boundPod("finished", nodes[1])
	done.Status.Phase = v1.PodSucceeded
	if _, err := c.Client.CoreV1().Pods("default").UpdateStatus(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Member b's side: informers of its shard, the node informer showing
	// every Node to the Adopter first, as app's shardInformerFactory does.
	metrics := shard.NewAdoptMetrics(prometheus.NewRegistry())
	adopter, err := shard.NewAdopter(shard.AdopterConfig{Member: "b", Metrics: metrics, Log: log, Settle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = shard.Label + "=b" }))
	nodeInf := factory.Core().V1().Nodes().Informer()
	if err := nodeInf.SetTransform(func(o any) (any, error) {
		if n, ok := o.(*v1.Node); ok {
			adopter.Observe(n)
		}
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	var (
		mu            sync.Mutex
		heldWhenSeen  = map[string]bool{}
		podInf        = factory.Core().V1().Pods().Informer()
		cacheOpen     atomic.Bool
		handedOverTo  = map[string]string{}
		handoverNotes = map[string]string{}
	)
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		n := o.(*v1.Node)
		mu.Lock()
		defer mu.Unlock()
		heldWhenSeen[n.Name] = adopter.Pending(n.Name)
		handedOverTo[n.Name] = n.Labels[shard.Label]
		handoverNotes[n.Name] = n.Annotations[shard.HandoffAnnotation]
	}}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	holds := func(p *v1.Pod) bool {
		_, ok, err := podInf.GetIndexer().GetByKey(p.Namespace + "/" + p.Name)
		return cacheOpen.Load() && ok && err == nil
	}
	meta, err := metadata.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	go adopter.Run(ctx, meta, holds)

	// Member a's side: its informers, and the Releaser on its pods.
	aMetrics := shard.NewAdoptMetrics(prometheus.NewRegistry())
	aFactory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = shard.Label + "=a" }))
	aNodes := aFactory.Core().V1().Nodes().Informer()
	aOwns := func(node string) bool {
		_, ok, err := aNodes.GetIndexer().GetByKey(node)
		return ok && err == nil
	}
	releaser, err := shard.NewReleaser(shard.ReleaserConfig{Member: "a", Owns: aOwns, Metrics: aMetrics, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	observeA := func(o any) {
		if p, ok := o.(*v1.Pod); ok {
			releaser.Observe(p)
		}
	}
	if _, err := aFactory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: observeA, UpdateFunc: func(_, o any) { observeA(o) },
	}); err != nil {
		t.Fatal(err)
	}
	aFactory.Start(ctx.Done())
	aFactory.WaitForCacheSync(ctx.Done())
	go releaser.Run(ctx, meta)

	// The leader: every node belongs to b now.
	ctl, err := shard.NewController(shard.ControllerConfig{
		Client: meta, Pods: c.Client.CoreV1(), Members: func() []string { return []string{"b"} },
		Interval: 200 * time.Millisecond, Metrics: shard.NewMetrics(prometheus.NewRegistry()), Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ctl.Run(ctx) }()

	poll(t, time.Minute, 100*time.Millisecond, "b's informer holds the three nodes", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(heldWhenSeen) == len(nodes), nil
	})
	mu.Lock()
	for _, n := range nodes {
		if !heldWhenSeen[n] || handedOverTo[n] != "b" || handoverNotes[n] != "a" {
			t.Errorf("node %s reached b's informer labelled %q, marked from %q, held back %v: want b, a, true",
				n, handedOverTo[n], handoverNotes[n], heldWhenSeen[n])
		}
	}
	mu.Unlock()

	// A Binding a posted just before it saw node 0 go.
	boundPod("late", nodes[0])

	podLabel := func(name string) string {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "error: " + err.Error()
		}
		return p.Labels[shard.Label]
	}
	marked := func(node string) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, ok := n.Annotations[shard.HandoffAnnotation]
		return ok, nil
	}
	poll(t, time.Minute, 100*time.Millisecond, "node 0's live pods relabelled for b, nodes 1 and 2 adopted", func() (bool, error) {
		for _, p := range []string{"p0", "p1", "late"} {
			if l := podLabel(p); l != "b" {
				return false, fmt.Errorf("pod %s labelled %q", p, l)
			}
		}
		for _, n := range nodes[1:] {
			if adopter.Pending(n) {
				return false, fmt.Errorf("node %s still held back", n)
			}
		}
		return true, nil
	})
	// b's cache has not shown it the pods yet: node 0 stays held and marked.
	time.Sleep(500 * time.Millisecond)
	if m, err := marked(nodes[0]); err != nil || !m || !adopter.Pending(nodes[0]) {
		t.Fatalf("node 0 marked %v (%v), held back %v, before b counted its pods: want marked and held", m, err, adopter.Pending(nodes[0]))
	}
	cacheOpen.Store(true)
	poll(t, time.Minute, 100*time.Millisecond, "node 0 adopted", func() (bool, error) {
		return !adopter.Pending(nodes[0]), nil
	})
	for _, n := range nodes {
		if m, err := marked(n); err != nil || m {
			t.Errorf("node %s still marked (%v) after its handover", n, err)
		}
	}
	if l := podLabel("finished"); l != "a" {
		t.Errorf("the finished pod was relabelled %q; finished pods take no room and are left alone", l)
	}

	// A Binding of a's that landed after b adopted node 0: a hands it on.
	released := testutil.ToFloat64(aMetrics.Released())
	boundPod("straggler", nodes[0])
	poll(t, time.Minute, 100*time.Millisecond, "the straggler handed on to b", func() (bool, error) {
		l := podLabel("straggler")
		return l == "b", fmt.Errorf("labelled %q", l)
	})
	// (a may also have handed on a pod of the first part, which b was
	// adopting at the same time: both give it b's label.)
	if got := testutil.ToFloat64(aMetrics.Released()); got < released+1 {
		t.Errorf("a's released pods went from %v to %v, want at least one more", released, got)
	}
	if l := podLabel("finished"); l != "a" {
		t.Errorf("a handed on its finished pod (now %q); finished pods are left alone", l)
	}

	// The Adopter's writes rely on a failed JSON-patch test being Invalid.
	patch, _ := json.Marshal([]map[string]any{{"op": "test", "path": "/metadata/labels/k8s1m.io~1dist-scheduler-shard", "value": "zz"}})
	_, err = c.Client.CoreV1().Nodes().Patch(ctx, nodes[0], types.JSONPatchType, patch, metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("a failed JSON-patch test returned %v, want an Invalid (422) error", err)
	}
}
