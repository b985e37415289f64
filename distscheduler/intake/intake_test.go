package intake

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/testcluster"
	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/solo"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestDecisionOutcomes runs the intake against a real kube-apiserver on
// the test store, with the one-member tree as its root. The test plays the
// member and never binds. A won pod must be submitted again when the winner
// gives it back (SchedulerError) or leaves the tree, and not while the
// winner is alive and silent; a pod nobody can place is marked
// Unschedulable in the members' words.
func TestDecisionOutcomes(t *testing.T) {
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "intake"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// run starts an intake for one scheduler name; every item reaching the
	// member is answered with bid and handed to the test on items.
	win := tree.Bid{Node: "n1", Score: 1}
	run := func(t *testing.T, sched string, alive *atomic.Bool, bid tree.Bid) (items chan tree.Item, m *Metrics) {
		root := solo.New("member-0")
		items = make(chan tree.Item, 16)
		root.OnItem(func(it tree.Item) {
			items <- it
			root.Report(it, bid, func(tree.Verdict) {})
		})
		m = NewMetrics(nil)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := Run(rctx, Config{
				Client: c.Client, SchedulerNames: []string{sched}, Root: root,
				Members: func() []string {
					if alive.Load() {
						return root.Members()
					}
					return nil
				},
				Deadline: time.Second, InFlight: 4, Recheck: 10 * time.Minute,
				Metrics: m, Log: zerolog.Nop(),
			})
			if err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() { stop(); <-done })
		return items, m
	}
	next := func(t *testing.T, items chan tree.Item, what string) tree.Item {
		t.Helper()
		select {
		case it := <-items:
			return it
		case <-ctx.Done():
			t.Fatalf("no item %s: %v", what, ctx.Err())
			return tree.Item{}
		}
	}
	// won waits until the intake has applied n winning decisions.
	won := func(t *testing.T, m *Metrics, n float64) {
		t.Helper()
		for testutil.ToFloat64(m.decisions.WithLabelValues("winner")) < n {
			select {
			case <-ctx.Done():
				t.Fatalf("intake never applied decision %v", n)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	t.Run("given back", func(t *testing.T) {
		alive := liveWinner()
		items, m := run(t, "sched-given-back", alive, win)
		pod := createPod(t, ctx, c.Client, "given-back", "sched-given-back")
		first := next(t, items, "for the new pod")
		if first.Key != podpath.Key(pod) {
			t.Fatalf("item key %q, want %q", first.Key, podpath.Key(pod))
		}
		won(t, m, 1)
		// A live winner that says nothing: no second item.
		select {
		case it := <-items:
			t.Fatalf("pod submitted again while its winner is alive and silent: %s", it.Key)
		case <-time.After(2 * time.Second):
		}
		if err := podpath.MarkNotScheduled(ctx, c.Client, pod, v1.PodReasonSchedulerError, "test: binding failed"); err != nil {
			t.Fatal(err)
		}
		if it := next(t, items, "after the winner gave the pod back"); it.Key != first.Key {
			t.Fatalf("resubmitted %q, want %q", it.Key, first.Key)
		}
		resubmittedOnce(t, m, "given_back")
	})

	t.Run("winner left", func(t *testing.T) {
		alive := liveWinner()
		items, m := run(t, "sched-winner-left", alive, win)
		pod := createPod(t, ctx, c.Client, "winner-left", "sched-winner-left")
		first := next(t, items, "for the new pod")
		won(t, m, 1)
		alive.Store(false)
		if it := next(t, items, "after the winner left"); it.Key != first.Key || it.Key != podpath.Key(pod) {
			t.Fatalf("resubmitted %q, want %q", it.Key, first.Key)
		}
		resubmittedOnce(t, m, "winner_left")
	})

	// Nobody fits: the pod is marked Unschedulable with the member's own
	// words, as the tree's decision carried them.
	t.Run("nobody fits", func(t *testing.T) {
		alive := liveWinner()
		const reason = "0/2 nodes are available: 2 Insufficient cpu."
		items, _ := run(t, "sched-nobody-fits", alive, tree.Bid{Reason: reason})
		pod := createPod(t, ctx, c.Client, "nobody-fits", "sched-nobody-fits")
		next(t, items, "for the new pod")
		want := "no member can place the pod (1 reported, 0 did not answer in time): " + reason
		for {
			p, err := c.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == v1.PodScheduled && cond.Reason == v1.PodReasonUnschedulable {
					if cond.Status != v1.ConditionFalse || cond.Message != want {
						t.Fatalf("condition %+v, want False with message %q", cond, want)
					}
					return
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("pod never marked unschedulable: %v", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// liveWinner is the test member's liveness, true until the test says.
func liveWinner() *atomic.Bool {
	a := &atomic.Bool{}
	a.Store(true)
	return a
}

func resubmittedOnce(t *testing.T, m *Metrics, reason string) {
	t.Helper()
	if n := testutil.ToFloat64(m.resubmitted.WithLabelValues(reason)); n != 1 {
		t.Fatalf("%s resubmissions %v, want 1", reason, n)
	}
}

func createPod(t *testing.T, ctx context.Context, client kubernetes.Interface, name, sched string) *v1.Pod {
	t.Helper()
	p, err := client.CoreV1().Pods("intake").Create(ctx, &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.PodSpec{SchedulerName: sched, Containers: []v1.Container{{Name: "c", Image: "registry.example.org/pause:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// silentRoot is a tree root that takes items and never decides them: a
// tree fault (before 3bf5773 the one-member tree lost the decision of an
// item its member dropped) that no real tree here can be made to commit on
// purpose, hence this stand-in.
type silentRoot struct {
	tree.Hooks
	mu    sync.Mutex
	next  uint64
	items chan tree.Item
}

func (r *silentRoot) Submit(_ time.Duration, items ...tree.Item) ([]uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]uint64, len(items))
	for i, it := range items {
		r.next++
		ids[i] = r.next
		r.items <- it
	}
	return ids, nil
}

// An item the tree never decides must not hold its in-flight place, or
// its pod stay pending, for ever: Recheck after its submission its place is
// freed and the pod submitted again.
func TestUndecidedItemIsSubmittedAgain(t *testing.T) {
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "intake"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	root := &silentRoot{items: make(chan tree.Item, 16)}
	m := NewMetrics(nil)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := Run(rctx, Config{
			Client: c.Client, SchedulerNames: []string{"sched-silent"}, Root: root,
			Deadline: 100 * time.Millisecond, InFlight: 1, Recheck: 2 * time.Second,
			Metrics: m, Log: zerolog.Nop(),
		})
		if err != nil {
			t.Error(err)
		}
	}()
	defer func() { stop(); <-done }()
	next := func(what string) tree.Item {
		t.Helper()
		select {
		case it := <-root.items:
			return it
		case <-ctx.Done():
			t.Fatalf("no item %s: %v", what, ctx.Err())
			return tree.Item{}
		}
	}

	pod := createPod(t, ctx, c.Client, "silent", "sched-silent")
	for _, what := range []string{"for the new pod", "after its first item went undecided"} {
		if it := next(what); it.Key != podpath.Key(pod) {
			t.Fatalf("item %q %s, want %q", it.Key, what, podpath.Key(pod))
		}
	}
	if n := testutil.ToFloat64(m.inFlight); n != 1 {
		t.Fatalf("items in flight %v after the resubmission, want 1 (the undecided one's place freed)", n)
	}
	if n := testutil.ToFloat64(m.resubmitted.WithLabelValues("no_decision")); n < 1 {
		t.Fatalf("no_decision resubmissions %v, want at least 1", n)
	}
}
