package cycle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/k8s1m/k8s1m/distscheduler/selector"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	internalcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/noderesources"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
)

func TestMain(m *testing.M) {
	// The framework records into upstream's scheduler metrics, which the
	// scheduler registers at start; here nothing else does.
	metrics.Register()
	m.Run()
}

// heldTree is a tree.Member whose verdicts the test gives: it stands in for
// the relay only to control when verdicts arrive (tree/relaytree is tested
// against real relay members on loopback).
type heldTree struct {
	mu      sync.Mutex
	reports map[string]tree.Bid
	dones   map[string]func(tree.Verdict)
	got     chan string
}

func newHeldTree() *heldTree {
	return &heldTree{reports: map[string]tree.Bid{}, dones: map[string]func(tree.Verdict){}, got: make(chan string, 16)}
}

func (h *heldTree) Self() string           { return "m0" }
func (h *heldTree) Members() []string      { return []string{"m0", "m1"} }
func (h *heldTree) MemberCount() int       { return 2 }
func (h *heldTree) OnItem(func(tree.Item)) {}
func (h *heldTree) Report(it tree.Item, b tree.Bid, done func(tree.Verdict)) {
	h.mu.Lock()
	h.reports[it.Key], h.dones[it.Key] = b, done
	h.mu.Unlock()
	h.got <- it.Key
}

func (h *heldTree) bid(t *testing.T, key string) tree.Bid {
	t.Helper()
	select {
	case k := <-h.got:
		if k != key {
			t.Fatalf("report for %s, want %s", k, key)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no report for %s", key)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reports[key]
}

// next returns the next report, whichever pod it is for.
func (h *heldTree) next(t *testing.T) (string, tree.Bid) {
	t.Helper()
	select {
	case k := <-h.got:
		h.mu.Lock()
		defer h.mu.Unlock()
		return k, h.reports[k]
	case <-time.After(30 * time.Second):
		t.Fatal("no report")
		return "", tree.Bid{}
	}
}

func (h *heldTree) verdict(key string, v tree.Verdict) {
	h.mu.Lock()
	done := h.dones[key]
	h.mu.Unlock()
	done(v)
}

// member is a Cycle over two 1-CPU nodes with upstream's NodeResourcesFit,
// a fake clientset recording Bindings (the API server's side is covered by
// test/integration), and upstream's scheduler cache.
type member struct {
	cyc      *Cycle
	tree     *heldTree
	cache    internalcache.Cache
	mu       sync.Mutex
	bindings []*v1.Binding
	// notStored is how many Bindings to answer NotFound first (a pod the
	// API server has not stored yet).
	notStored int
	// bindErr, when set, answers every Binding.
	bindErr error
	// bindGate, when set, holds every Binding until it is closed;
	// bindsStarted counts the Bindings posted.
	bindGate     chan struct{}
	bindsStarted atomic.Int64
	// givenBack are the SchedulerError status patches, by pod name.
	givenBack []string
	// lost and adopting name nodes the member has lost to another member,
	// and nodes handed over to it whose pods it has not counted yet.
	lost, adopting map[string]bool
	lanes          int
}

func newMember(t *testing.T) *member { return newMemberWithLanes(t, 1) }

// newMemberWithLanes is newMember with that many scheduling loops; mods
// change its Config.
func newMemberWithLanes(t *testing.T, lanes int, mods ...func(*Config)) *member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m := &member{tree: newHeldTree(), cache: internalcache.New(ctx, nil, false, false), lanes: lanes,
		lost: map[string]bool{}, adopting: map[string]bool{}}
	for i := range 2 {
		m.cache.AddNode(klog.Background(), &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n" + strconv.Itoa(i)},
			Status: v1.NodeStatus{Allocatable: v1.ResourceList{
				v1.ResourceCPU: resource.MustParse("1"), v1.ResourcePods: resource.MustParse("10"),
			}},
		})
	}
	cs := fake.NewClientset()
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		m.bindsStarted.Add(1)
		m.mu.Lock()
		gate := m.bindGate
		m.mu.Unlock()
		if gate != nil {
			<-gate
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.bindErr != nil {
			return true, nil, m.bindErr
		}
		if m.notStored > 0 {
			m.notStored--
			return true, nil, apierrors.NewNotFound(v1.Resource("pods"), a.(k8stesting.CreateAction).GetObject().(*v1.Binding).Name)
		}
		m.bindings = append(m.bindings, a.(k8stesting.CreateAction).GetObject().(*v1.Binding))
		return true, nil, nil
	})
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchAction)
		if pa.GetSubresource() == "status" && strings.Contains(string(pa.GetPatch()), v1.PodReasonSchedulerError) {
			m.mu.Lock()
			m.givenBack = append(m.givenBack, pa.GetName())
			m.mu.Unlock()
		}
		return true, &v1.Pod{}, nil
	})
	ls := make([]Lane, m.lanes)
	for i := range ls {
		ls[i] = newLane(ctx, t, cs)
	}
	cfg := Config{
		Tree: m.tree, Lanes: ls, Cache: m.cache, Client: cs,
		BindingLabels: map[string]string{"shard": "m0"}, InFlight: 4,
		Owns:     func(n string) bool { return !m.has(m.lost, n) },
		Adopting: func(n string) bool { return m.has(m.adopting, n) },
		Metrics:  NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop(),
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	var err error
	if m.cyc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	go m.cyc.Run(ctx)
	return m
}

// newLane is one scheduling loop's snapshot, framework (upstream's
// NodeResourcesFit and DistPermit) and selector.
func newLane(ctx context.Context, t *testing.T, cs *fake.Clientset) Lane {
	t.Helper()
	snapshot := internalcache.NewEmptySnapshot()
	fw, err := tf.NewFramework(ctx, []tf.RegisterPluginFunc{
		tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
		tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
		tf.RegisterPluginAsExtensions(noderesources.Name, func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
			args := &config.NodeResourcesFitArgs{ScoringStrategy: &config.ScoringStrategy{
				Type: config.LeastAllocated, Resources: []config.ResourceSpec{{Name: "cpu", Weight: 1}},
			}}
			return noderesources.NewFit(ctx, args, h, plfeature.Features{})
		}, "PreFilter", "Filter"),
		tf.RegisterPermitPlugin(distpermit.Name, func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
			return distpermit.Factory(plfeature.Features{}, false)(ctx, obj, h)
		}),
	}, "dist-scheduler",
		frameworkruntime.WithSnapshotSharedLister(snapshot),
		frameworkruntime.WithClientSet(cs),
		frameworkruntime.WithEventRecorder(events.NewFakeRecorder(100)),
		frameworkruntime.WithPodNominator(noNominator{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := selector.New(selector.Config{Members: func() int { return 2 }, Metrics: selector.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	return Lane{Frameworks: map[string]framework.Framework{"dist-scheduler": fw}, Snapshot: snapshot, Selector: sel}
}

func (m *member) has(set map[string]bool, node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return set[node]
}

func (m *member) set(set map[string]bool, node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	set[node] = true
}

func (m *member) bound() []*v1.Binding {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*v1.Binding(nil), m.bindings...)
}

func item(t *testing.T, name string, cpu string) tree.Item {
	t.Helper()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{SchedulerName: "dist-scheduler", Containers: []v1.Container{{
			Name: "c", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
	b, err := pod.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return tree.Item{Key: podpath.Key(pod), Pod: b, Deadline: time.Now().Add(time.Minute)}
}

// Two pods in flight never count on the same room: the second bids the
// other node while the first's verdict is pending. The winner binds with
// the shard label and is accounted in the cache; a loser binds nothing and
// frees its node.
func TestInFlightBidsHoldTheirNodes(t *testing.T) {
	m := newMember(t)
	a, b := item(t, "a", "800m"), item(t, "b", "800m")
	m.cyc.Offer(a)
	bidA := m.tree.bid(t, a.Key)
	m.cyc.Offer(b)
	bidB := m.tree.bid(t, b.Key)
	if !bidA.Feasible() || !bidB.Feasible() || bidA.Node == bidB.Node {
		t.Fatalf("bids %+v and %+v: want two different nodes", bidA, bidB)
	}
	m.tree.verdict(a.Key, tree.Verdict{Win: true})
	m.tree.verdict(b.Key, tree.Verdict{})
	waitFor(t, "a's binding", func() bool { return len(m.bound()) == 1 })
	got := m.bound()[0]
	if got.Name != "a" || got.Target.Name != bidA.Node || got.Labels["shard"] != "m0" || got.UID != "uid-a" {
		t.Fatalf("binding %+v", got)
	}
	// a is assumed on its node: a third 800m pod fits only the other one,
	// which b's loss freed.
	c := item(t, "c", "800m")
	m.cyc.Offer(c)
	if bid := m.tree.bid(t, c.Key); bid.Node != bidB.Node {
		t.Fatalf("third pod bid %+v, want %s (a fills %s)", bid, bidB.Node, bidA.Node)
	}
	// Nothing left for a fourth while c's verdict is pending.
	d := item(t, "d", "800m")
	m.cyc.Offer(d)
	if bid := m.tree.bid(t, d.Key); bid.Feasible() {
		t.Fatalf("fourth pod bid %+v, want no feasible node", bid)
	}
	if n := len(m.bound()); n != 1 {
		t.Fatalf("%d bindings, want only the winner's", n)
	}
}

// A bid holds its node without touching upstream's cache: the pod is
// assumed only when it wins, and a loser leaves no trace in the cache.
func TestLosingBidCostsNoAssume(t *testing.T) {
	m := newMember(t)
	a, b := item(t, "a", "100m"), item(t, "b", "100m")
	m.cyc.Offer(a)
	bidA := m.tree.bid(t, a.Key)
	m.cyc.Offer(b)
	bidB := m.tree.bid(t, b.Key)
	if !bidA.Feasible() || !bidB.Feasible() || bidA.Node == bidB.Node {
		t.Fatalf("bids %+v and %+v: want the two nodes, each held by one bid", bidA, bidB)
	}
	podA := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a"}}
	podB := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", UID: "uid-b"}}
	if _, err := m.cache.GetPod(podA); err == nil {
		t.Fatal("a bid in flight was assumed in the cache")
	}
	m.tree.verdict(b.Key, tree.Verdict{})
	m.tree.verdict(a.Key, tree.Verdict{Win: true})
	waitFor(t, "a's binding", func() bool { return len(m.bound()) == 1 })
	if got, err := m.cache.GetPod(podA); err != nil || got.Spec.NodeName != bidA.Node {
		t.Fatalf("the winner is not assumed on %s: %v %v", bidA.Node, got, err)
	}
	if _, err := m.cache.GetPod(podB); err == nil {
		t.Fatal("the loser is in the cache")
	}
	if n := testutil.ToFloat64(m.cyc.cfg.Metrics.holdsAssumed); n != 0 {
		t.Fatalf("%v holds assumed early, want none", n)
	}
}

// A shard crowded by the member's own bids still takes every pod that
// fits: with both 1-CPU nodes held by 400m bids, a third 400m pod finds no
// free node, so the bids' pods are assumed and it bids beside one of them.
// A loss then forgets the pod assumed early and frees its room.
func TestCrowdedShardAssumesHeldBids(t *testing.T) {
	m := newMemberWithLanes(t, 1, func(c *Config) { c.InFlight = 8 })
	early := func() float64 { return testutil.ToFloat64(m.cyc.cfg.Metrics.holdsAssumed) }
	a, b, c := item(t, "a", "400m"), item(t, "b", "400m"), item(t, "c", "400m")
	m.cyc.Offer(a)
	bidA := m.tree.bid(t, a.Key)
	m.cyc.Offer(b)
	m.tree.bid(t, b.Key)
	m.cyc.Offer(c)
	bidC := m.tree.bid(t, c.Key)
	if !bidC.Feasible() || early() != 2 {
		t.Fatalf("third pod bid %+v with %v holds assumed early: want a node beside a held bid, a and b assumed", bidC, early())
	}
	// c holds its node: a fourth goes to the other one, which has room.
	d := item(t, "d", "400m")
	m.cyc.Offer(d)
	if bid := m.tree.bid(t, d.Key); !bid.Feasible() || bid.Node == bidC.Node {
		t.Fatalf("fourth pod bid %+v: want the node c does not hold", bid)
	}
	// Both nodes held again: c and d are assumed, and 800m of each 1 CPU
	// is taken, so a fifth fits nowhere.
	e := item(t, "e", "400m")
	m.cyc.Offer(e)
	if bid := m.tree.bid(t, e.Key); bid.Feasible() || early() != 4 {
		t.Fatalf("fifth pod bid %+v with %v holds assumed early: want no room, c and d assumed", bid, early())
	}
	// a loses: its pod is forgotten, and only its node has room again.
	m.tree.verdict(a.Key, tree.Verdict{})
	waitFor(t, "a forgotten", func() bool {
		_, err := m.cache.GetPod(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a"}})
		return err != nil
	})
	f := item(t, "f", "400m")
	m.cyc.Offer(f)
	if bid := m.tree.bid(t, f.Key); bid.Node != bidA.Node {
		t.Fatalf("pod after a's loss bid %+v, want %s", bid, bidA.Node)
	}
}

// A pod submitted again while its first bid awaits its verdict is re-bid
// on the node that bid holds, without a search.
func TestPodSubmittedAgainWhileBidding(t *testing.T) {
	m := newMember(t)
	a := item(t, "a", "100m")
	m.cyc.Offer(a)
	first := m.tree.bid(t, a.Key)
	m.cyc.Offer(a)
	re := m.tree.bid(t, a.Key)
	if re.Node != first.Node || re.Score != heldScore {
		t.Fatalf("re-bid %+v, want node %s at heldScore", re, first.Node)
	}
}

// A pod submitted again while the member holds it (its first win's
// Binding under way, or bound) is re-bid on its node at heldScore without a
// search or a second assume, whatever the verdict; the first win's Binding
// is the only one, and a lost re-bid does not free the node.
func TestPodSubmittedAgainWhileHeld(t *testing.T) {
	m := newMember(t)
	a := item(t, "a", "800m")
	m.cyc.Offer(a)
	first := m.tree.bid(t, a.Key)
	m.tree.verdict(a.Key, tree.Verdict{Win: true})
	waitFor(t, "a's binding", func() bool { return len(m.bound()) == 1 })

	again := a
	again.Deadline = time.Now().Add(time.Minute)
	m.cyc.Offer(again)
	re := m.tree.bid(t, a.Key)
	if re.Node != first.Node || re.Score != heldScore {
		t.Fatalf("re-bid %+v, want node %s at heldScore", re, first.Node)
	}
	m.tree.verdict(a.Key, tree.Verdict{})
	// Still held: another 800m pod goes to the other node.
	b := item(t, "b", "800m")
	m.cyc.Offer(b)
	if bid := m.tree.bid(t, b.Key); !bid.Feasible() || bid.Node == first.Node {
		t.Fatalf("next pod bid %+v, want the node a does not hold", bid)
	}
	if n := len(m.bound()); n != 1 {
		t.Fatalf("%d bindings, want a's first one only", n)
	}
}

// With several scheduling loops taking items at once, no two bids in flight
// hold one node and a won pod's room is never counted on again: on two
// 1-CPU nodes, four 800m pods offered together get at most two feasible
// bids, on different nodes; once both win, nothing fits any more.
func TestLoopsNeverShareANode(t *testing.T) {
	for round := range 10 {
		m := newMemberWithLanes(t, 2)
		var items []tree.Item
		for i := range 4 {
			it := item(t, fmt.Sprintf("p%d-%d", round, i), "800m")
			items = append(items, it)
			m.cyc.Offer(it)
		}
		held := map[string]string{}
		for range items {
			key, b := m.tree.next(t)
			if !b.Feasible() {
				continue
			}
			if other, dup := held[b.Node]; dup {
				t.Fatalf("round %d: %s and %s both hold %s", round, other, key, b.Node)
			}
			held[b.Node] = key
		}
		if len(held) == 0 {
			t.Fatalf("round %d: no feasible bid", round)
		}
		for _, key := range held {
			m.tree.verdict(key, tree.Verdict{Win: true})
		}
		waitFor(t, "the winners' bindings", func() bool { return len(m.bound()) == len(held) })
		for i := range 2 {
			it := item(t, fmt.Sprintf("late%d-%d", round, i), "800m")
			m.cyc.Offer(it)
			if _, b := m.tree.next(t); b.Feasible() && held[b.Node] != "" {
				t.Fatalf("round %d: %s bid %s, where a won pod fills it", round, it.Key, b.Node)
			}
		}
	}
}

// A pod that reached the winner before the API server stored it (the
// leader heard of it from its admission webhook) is bound once it is there.
func TestBindingWaitsForThePodToBeStored(t *testing.T) {
	m := newMember(t)
	m.mu.Lock()
	m.notStored = 2
	m.mu.Unlock()
	a := item(t, "a", "100m")
	m.cyc.Offer(a)
	m.tree.bid(t, a.Key)
	m.tree.verdict(a.Key, tree.Verdict{Win: true})
	waitFor(t, "a's binding", func() bool { return len(m.bound()) == 1 })
}

// A winner whose Binding fails gives the pod back (PodScheduled=False,
// SchedulerError, which the leader's watch sees); one whose Binding is
// refused because the pod is bound already does not.
func TestFailedBindingGivesThePodBack(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		back bool
	}{
		{"server error", apierrors.NewInternalError(errors.New("store unavailable")), true},
		{"already bound", apierrors.NewConflict(v1.Resource("pods/binding"), "a", errors.New("pod a is already assigned to node n1")), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMember(t)
			m.mu.Lock()
			m.bindErr = tt.err
			m.mu.Unlock()
			a := item(t, "a", "100m")
			m.cyc.Offer(a)
			m.tree.bid(t, a.Key)
			m.tree.verdict(a.Key, tree.Verdict{Win: true})
			waitFor(t, "the failed binding", func() bool {
				return testutil.ToFloat64(m.cyc.cfg.Metrics.items.WithLabelValues(resultBindFailed)) == 1
			})
			if tt.back {
				waitFor(t, "the pod given back", func() bool {
					m.mu.Lock()
					defer m.mu.Unlock()
					return len(m.givenBack) == 1 && m.givenBack[0] == "a"
				})
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if !tt.back && len(m.givenBack) != 0 {
				t.Fatalf("pod given back after %v", tt.err)
			}
		})
	}
}

// A node handed over to the member is passed over until its pods are
// counted; with every node held back, the bid says why.
func TestAdoptingNodePassedOver(t *testing.T) {
	m := newMember(t)
	m.set(m.adopting, "n0")
	a := item(t, "a", "100m")
	m.cyc.Offer(a)
	if bid := m.tree.bid(t, a.Key); bid.Node != "n1" {
		t.Fatalf("bid %+v: want node n1 (n0 is being adopted)", bid)
	}
	m.tree.verdict(a.Key, tree.Verdict{})
	m.set(m.adopting, "n1")
	b := item(t, "b", "100m")
	m.cyc.Offer(b)
	if bid := m.tree.bid(t, b.Key); bid.Feasible() || !strings.Contains(bid.Reason, "handed over") {
		t.Fatalf("bid %+v: want no feasible node, naming the handover", bid)
	}
}

// A win on a node the member lost meanwhile (the leader moved it to
// another member) is not bound there but given back to the leader.
func TestWinOnLostNodeGivenBack(t *testing.T) {
	m := newMember(t)
	a := item(t, "a", "100m")
	m.cyc.Offer(a)
	bid := m.tree.bid(t, a.Key)
	m.set(m.lost, bid.Node)
	m.tree.verdict(a.Key, tree.Verdict{Win: true})
	waitFor(t, "the pod given back", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.givenBack) == 1 && m.givenBack[0] == "a"
	})
	if len(m.bound()) != 0 {
		t.Fatalf("bound to a lost node: %+v", m.bound()[0])
	}
	if _, err := m.cache.GetPod(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a"}}); err == nil {
		t.Fatal("the pod still holds room on the lost node")
	}
}

// Bindings in flight are bounded: with room for one, a second win waits
// until the first Binding is answered.
func TestBindingsInFlightBounded(t *testing.T) {
	m := newMemberWithLanes(t, 1, func(c *Config) { c.Bindings = 1 })
	gate := make(chan struct{})
	m.mu.Lock()
	m.bindGate = gate
	m.mu.Unlock()
	a, b := item(t, "a", "100m"), item(t, "b", "100m")
	m.cyc.Offer(a)
	m.tree.bid(t, a.Key)
	m.cyc.Offer(b)
	m.tree.bid(t, b.Key)
	m.tree.verdict(a.Key, tree.Verdict{Win: true})
	waitFor(t, "a's Binding posted", func() bool { return m.bindsStarted.Load() == 1 })
	m.tree.verdict(b.Key, tree.Verdict{Win: true})
	time.Sleep(100 * time.Millisecond) // room for a wrong second post to show
	if n := m.bindsStarted.Load(); n != 1 {
		t.Fatalf("%d Bindings posted at once with room for one", n)
	}
	if got := testutil.ToFloat64(m.cyc.cfg.Metrics.bindings); got != 1 {
		t.Fatalf("bindings in flight gauge = %v, want 1", got)
	}
	close(gate)
	waitFor(t, "both bound", func() bool { return len(m.bound()) == 2 })
}

// Give-backs under way are bounded: with maxGiveBacks of them under way a
// failed win is left to the leader's recheck instead of a goroutine more.
// (The fake clientset runs one call at a time, so the give-backs under way
// are stood for by taking their room directly.)
func TestGiveBacksBounded(t *testing.T) {
	m := newMember(t)
	m.mu.Lock()
	m.bindErr = apierrors.NewInternalError(errors.New("store unavailable"))
	m.mu.Unlock()
	for range maxGiveBacks {
		m.cyc.giveBacks <- struct{}{}
	}
	fail := func(name string, want float64) {
		t.Helper()
		it := item(t, name, "10m")
		m.cyc.Offer(it)
		m.tree.bid(t, it.Key)
		m.tree.verdict(it.Key, tree.Verdict{Win: true})
		waitFor(t, name+"'s Binding failed", func() bool {
			return testutil.ToFloat64(m.cyc.cfg.Metrics.items.WithLabelValues(resultBindFailed)) == want
		})
	}
	fail("a", 1)
	time.Sleep(100 * time.Millisecond) // room for a wrong give-back to show
	m.mu.Lock()
	if len(m.givenBack) != 0 {
		t.Fatalf("given back %v with no room for a give-back", m.givenBack)
	}
	m.mu.Unlock()
	<-m.cyc.giveBacks
	fail("b", 2)
	waitFor(t, "b given back", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.givenBack) == 1 && m.givenBack[0] == "b"
	})
}

// A pod the member cannot read is answered "no feasible node" with why.
func TestUndecodablePod(t *testing.T) {
	m := newMember(t)
	m.cyc.Offer(tree.Item{Key: "ns/x/uid-x", Pod: []byte{0xff, 0x01}, Deadline: time.Now().Add(time.Minute)})
	if bid := m.tree.bid(t, "ns/x/uid-x"); bid.Feasible() || bid.Reason == "" {
		t.Fatalf("bid %+v", bid)
	}
}

// noNominator has no nominated pods (a member's framework has upstream's
// queue there, which never holds pods).
type noNominator struct{}

func (noNominator) AddNominatedPod(klog.Logger, fwk.PodInfo, *fwk.NominatingInfo) {}
func (noNominator) DeleteNominatedPodIfExists(*v1.Pod)                            {}
func (noNominator) UpdateNominatedPod(klog.Logger, *v1.Pod, fwk.PodInfo)          {}
func (noNominator) NominatedPodsForNode(string) []fwk.PodInfo                     { return nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
