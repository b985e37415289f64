package selector

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) {
	// The framework records into upstream's scheduler metrics, which the
	// scheduler registers at start; here nothing else does.
	metrics.Register()
	m.Run()
}

// labelPlugin filters on the node label fits=true and scores a node by its
// score label, so a test can tell which node and member must win.
type labelPlugin struct{}

const labelPluginName = "TestLabels"

func (labelPlugin) Name() string { return labelPluginName }

func (labelPlugin) Filter(_ context.Context, _ fwk.CycleState, _ *v1.Pod, n fwk.NodeInfo) *fwk.Status {
	if n.Node().Labels["fits"] != "true" {
		return fwk.NewStatus(fwk.Unschedulable, "node does not fit").WithPlugin(labelPluginName)
	}
	return nil
}

func (labelPlugin) Score(_ context.Context, _ fwk.CycleState, _ *v1.Pod, n fwk.NodeInfo) (int64, *fwk.Status) {
	s, _ := strconv.ParseInt(n.Node().Labels["score"], 10, 64)
	return s, nil
}

func (labelPlugin) ScoreExtensions() fwk.ScoreExtensions { return nil }

// noNominator has no nominated pods.
type noNominator struct{}

func (noNominator) AddNominatedPod(klog.Logger, fwk.PodInfo, *fwk.NominatingInfo) {}
func (noNominator) DeleteNominatedPodIfExists(*v1.Pod)                            {}
func (noNominator) UpdateNominatedPod(klog.Logger, *v1.Pod, fwk.PodInfo)          {}
func (noNominator) NominatedPodsForNode(string) []fwk.PodInfo                     { return nil }

type testNode struct {
	name  string
	fits  bool
	score int
}

// onePodPlugin rejects a node that already holds a pod.
type onePodPlugin struct{}

const onePodPluginName = "TestOnePod"

func (onePodPlugin) Name() string { return onePodPluginName }

func (onePodPlugin) Filter(_ context.Context, _ fwk.CycleState, _ *v1.Pod, n fwk.NodeInfo) *fwk.Status {
	if len(n.GetPods()) > 0 {
		return fwk.NewStatus(fwk.Unschedulable, "node holds a pod").WithPlugin(onePodPluginName)
	}
	return nil
}

// nominatedTo has one pod nominated to one node.
type nominatedTo struct {
	noNominator
	node string
	pod  fwk.PodInfo
}

func (n nominatedTo) NominatedPodsForNode(node string) []fwk.PodInfo {
	if node == n.node {
		return []fwk.PodInfo{n.pod}
	}
	return nil
}

// shardFramework is a framework over one member's nodes with labelPlugin
// and onePodPlugin's filter, and no nominated pods.
func shardFramework(t *testing.T, nodes []testNode) framework.Framework {
	t.Helper()
	return shardFrameworkWith(t, nodes, noNominator{})
}

// shardFrameworkWith is shardFramework with the given nominator.
func shardFrameworkWith(t *testing.T, nodes []testNode, nominator fwk.PodNominator) framework.Framework {
	t.Helper()
	var vn []*v1.Node
	for _, n := range nodes {
		vn = append(vn, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{
			"fits": strconv.FormatBool(n.fits), "score": strconv.Itoa(n.score),
		}}})
	}
	newLabel := func(context.Context, runtime.Object, fwk.Handle) (fwk.Plugin, error) { return labelPlugin{}, nil }
	fw, err := tf.NewFramework(context.Background(), []tf.RegisterPluginFunc{
		tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
		tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
		tf.RegisterFilterPlugin(labelPluginName, newLabel),
		tf.RegisterScorePlugin(labelPluginName, newLabel, 1),
		tf.RegisterFilterPlugin(onePodPluginName, func(context.Context, runtime.Object, fwk.Handle) (fwk.Plugin, error) { return onePodPlugin{}, nil }),
	}, "dist-scheduler",
		frameworkruntime.WithSnapshotSharedLister(cache.NewSnapshot(nil, vn)),
		frameworkruntime.WithPodNominator(nominator),
	)
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

func TestBestLocal(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []testNode
		busy     []string
		wantNode string
		wantFit  bool
	}{
		{"best feasible node", []testNode{{"a1", true, 10}, {"a2", true, 50}, {"a3", false, 90}}, nil, "a2", true},
		{"busy node passed over", []testNode{{"a1", true, 10}, {"a2", true, 50}}, []string{"a2"}, "a1", true},
		{"nothing fits", []testNode{{"a1", false, 10}}, nil, "", false},
		{"only the busy node fits", []testNode{{"a1", true, 10}, {"a2", false, 10}}, []string{"a1"}, "", false},
		{"no nodes", nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := New(Config{Members: func() int { return 1 }, Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: types.UID("uid-1")}}
			busy := func(n string) *fwk.Status {
				if slices.Contains(tt.busy, n) {
					return fwk.NewStatus(fwk.Unschedulable, "another loop is placing a pod on the node")
				}
				return nil
			}
			res, err := sel.BestLocal(context.Background(), shardFramework(t, tt.nodes), framework.NewCycleState(), pod, busy)
			if err != nil {
				t.Fatal(err)
			}
			if (res.FitErr == nil) != tt.wantFit || res.Node != tt.wantNode {
				t.Fatalf("BestLocal = node %q, fit error %v; want node %q", res.Node, res.FitErr, tt.wantNode)
			}
			if res.FitErr != nil && len(tt.busy) > 0 && !strings.Contains(res.FitErr.Error(), "placing a pod on the node") {
				t.Errorf("FitError %q does not say the node is busy", res.FitErr.Error())
			}
		})
	}
}

// A pod nominated to a node counts there, as upstream's
// RunFilterPluginsWithNominatedPods counts it, although nodes without
// nominated pods skip that path.
func TestBestLocalCountsNominatedPods(t *testing.T) {
	nodes := []testNode{{"a1", true, 10}, {"a2", true, 50}}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: types.UID("uid-1")}}
	for _, tt := range []struct {
		name      string
		nominator fwk.PodNominator
		want      string
	}{
		{"none nominated", noNominator{}, "a2"},
		{"the best node has a pod nominated", nominatedTo{node: "a2", pod: mustPodInfo(t, "nominated", "uid-2")}, "a1"},
		{"the pod itself nominated to the best node", nominatedTo{node: "a2", pod: mustPodInfo(t, "p", "uid-1")}, "a2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := New(Config{Members: func() int { return 1 }, Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			res, err := sel.BestLocal(context.Background(), shardFrameworkWith(t, nodes, tt.nominator), framework.NewCycleState(), pod, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Node != tt.want {
				t.Fatalf("BestLocal = node %q (fit error %v), want %q", res.Node, res.FitErr, tt.want)
			}
		})
	}
}

func mustPodInfo(t *testing.T, name, uid string) fwk.PodInfo {
	t.Helper()
	pi, err := framework.NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid)}})
	if err != nil {
		t.Fatal(err)
	}
	return pi
}

func TestFeasibleTarget(t *testing.T) {
	pct := func(v int32) *int32 { return &v }
	tests := []struct {
		members, shard int
		pct            *int32
		want           int
	}{
		{1, 50, nil, 50},          // small clusters: every node
		{1, 5000, nil, 500},       // upstream adaptive: 10% of 5000
		{4, 1250, nil, 125},       // same cluster in 4 shards: a quarter each
		{4, 12500, pct(5), 625},   // 5% of 50000, split in 4
		{3, 100, nil, 48},         // 300 nodes: 48% of 300 = 144, a third each
		{2, 40, nil, 40},          // 80 nodes < 100: all of them
		{8, 1000, pct(100), 1000}, // explicit 100%
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.members, tt.shard), func(t *testing.T) {
			members := tt.members
			s, err := New(Config{Members: func() int { return members }, Metrics: NewMetrics(prometheus.NewRegistry()), PercentageOfNodesToScore: tt.pct})
			if err != nil {
				t.Fatal(err)
			}
			fw := shardFramework(t, nil)
			if got := s.feasibleTarget(fw, tt.shard); got != tt.want {
				t.Fatalf("feasibleTarget = %d, want %d", got, tt.want)
			}
		})
	}
}

// A search whose target is small (serialFilterTarget) filters in ring
// order on the caller's goroutine: it stops at the target's last feasible
// node and the next search starts right after it. A large target takes the
// framework's parallel workers, which find every feasible node here.
func TestFilterSerialAndParallel(t *testing.T) {
	var nodes []testNode
	for i := range 60 {
		nodes = append(nodes, testNode{name: fmt.Sprintf("n%02d", i), fits: i%3 != 2, score: i})
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: types.UID("uid-1")}}
	search := func(sel *Selector, fw framework.Framework) Result {
		t.Helper()
		res, err := sel.BestLocal(context.Background(), fw, framework.NewCycleState(), pod, nil)
		if err != nil || res.FitErr != nil {
			t.Fatalf("BestLocal: %v, fit error %v", err, res.FitErr)
		}
		return res
	}

	t.Run("serial", func(t *testing.T) {
		// 20 members of 60 nodes: 5% of 1,200 is under upstream's floor of
		// 100, a twentieth of which is 5 nodes per member.
		sel, err := New(Config{Members: func() int { return 20 }, PercentageOfNodesToScore: ptr.To[int32](5), Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		fw := shardFramework(t, nodes)
		if got := sel.feasibleTarget(fw, len(nodes)); got != 5 || got > serialFilterTarget {
			t.Fatalf("feasibleTarget = %d, want 5 (serial)", got)
		}
		// The search walks the snapshot's list (upstream's order) from
		// position 0: what it must find is computed the same way here.
		all, err := fw.SnapshotSharedLister().NodeInfos().List()
		if err != nil {
			t.Fatal(err)
		}
		pos := 0
		for range 3 {
			wantNode, wantScore, found, evaluated := "", -1, 0, 0
			for found < 5 {
				n := all[pos%len(all)].Node()
				pos++
				evaluated++
				if n.Labels["fits"] != "true" {
					continue
				}
				found++
				if sc, _ := strconv.Atoi(n.Labels["score"]); sc > wantScore {
					wantNode, wantScore = n.Name, sc
				}
			}
			res := search(sel, fw)
			if res.Node != wantNode || res.Evaluated != evaluated || res.Feasible != 5 {
				t.Fatalf("search = %s after %d nodes (%d feasible), want %s after %d (5 feasible)", res.Node, res.Evaluated, res.Feasible, wantNode, evaluated)
			}
		}
	})

	t.Run("parallel", func(t *testing.T) {
		sel, err := New(Config{Members: func() int { return 1 }, Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		res := search(sel, shardFramework(t, nodes))
		if res.Node != "n58" || res.Evaluated != 60 || res.Feasible != 40 {
			t.Fatalf("search = %s after %d nodes (%d feasible), want n58 after 60 (40 feasible)", res.Node, res.Evaluated, res.Feasible)
		}
	})
}
