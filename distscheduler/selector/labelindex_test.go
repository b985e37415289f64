package selector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// nodeInfos wraps nodes as the snapshot list does.
func nodeInfos(nodes []*v1.Node) []fwk.NodeInfo {
	out := make([]fwk.NodeInfo, len(nodes))
	for i, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		out[i] = ni
	}
	return out
}

// TestCandidatesAreSuperset checks the index against upstream's own matcher
// (the one NodeAffinity's Filter uses) on random nodes and random pods:
// every node that matches must be a candidate, and for pods that use only
// what the index answers (nodeSelector, In, Exists) the candidates are
// exactly the matching nodes.
func TestCandidatesAreSuperset(t *testing.T) {
	g := randomLabels{rng: rand.New(rand.NewPCG(1, 2))}
	nodes := g.nodes(300)
	all := nodeInfos(nodes)
	var x labelIndex
	x.sync(all)

	for trial := range 3000 {
		pod, exact := g.pod()
		cands, narrowed := x.candidates(pod)
		if !narrowed {
			continue
		}
		if !slices.IsSorted(cands) {
			t.Fatalf("trial %d: candidates not ascending: %v", trial, cands)
		}
		req := nodeaffinity.GetRequiredNodeAffinity(pod)
		var want []int32
		for i, n := range nodes {
			if ok, _ := req.Match(n); ok {
				want = append(want, int32(i))
				if _, found := slices.BinarySearch(cands, int32(i)); !found {
					t.Fatalf("trial %d: node %d %v matches pod (selector %v, affinity %+v) but is no candidate",
						trial, i, n.Labels, pod.Spec.NodeSelector, pod.Spec.Affinity)
				}
			}
		}
		if exact && !slices.Equal(cands, want) {
			t.Fatalf("trial %d: candidates %v, want exactly %v", trial, cands, want)
		}
	}
}

// randomLabels makes TestCandidatesAreSuperset's nodes and pods from a few
// label keys and values, so that selectors often match.
type randomLabels struct{ rng *rand.Rand }

var (
	randomKeys = []string{"a", "b", "c", "d"}
	randomVals = []string{"x", "y", "z"}
	randomOps  = []v1.NodeSelectorOperator{v1.NodeSelectorOpIn, v1.NodeSelectorOpExists, v1.NodeSelectorOpNotIn,
		v1.NodeSelectorOpDoesNotExist, v1.NodeSelectorOpGt, v1.NodeSelectorOpLt}
)

func (g randomLabels) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// nodes makes n nodes, each with some of the keys and, one in four, a
// numeric label "n" for Gt and Lt.
func (g randomLabels) nodes(n int) []*v1.Node {
	var nodes []*v1.Node
	for i := range n {
		l := map[string]string{}
		for _, k := range randomKeys {
			if g.rng.IntN(3) > 0 {
				l[k] = g.pick(randomVals)
			}
		}
		if g.rng.IntN(4) == 0 {
			l["n"] = fmt.Sprint(g.rng.IntN(10))
		}
		nodes = append(nodes, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i), Labels: l}})
	}
	return nodes
}

// pod makes a pod with maybe a nodeSelector and maybe required node
// affinity; exact is whether it uses only what the index answers
// (nodeSelector, In, Exists).
func (g randomLabels) pod() (pod *v1.Pod, exact bool) {
	pod, exact = &v1.Pod{}, true
	if g.rng.IntN(2) == 0 {
		pod.Spec.NodeSelector = map[string]string{}
		for range 1 + g.rng.IntN(2) {
			pod.Spec.NodeSelector[g.pick(randomKeys)] = g.pick(randomVals)
		}
	}
	if g.rng.IntN(2) == 0 {
		var terms []v1.NodeSelectorTerm
		for range 1 + g.rng.IntN(3) {
			var term v1.NodeSelectorTerm
			for range 1 + g.rng.IntN(3) {
				r := v1.NodeSelectorRequirement{Key: g.pick(randomKeys), Operator: randomOps[g.rng.IntN(len(randomOps))]}
				switch r.Operator {
				case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
					for range 1 + g.rng.IntN(2) {
						r.Values = append(r.Values, g.pick(randomVals))
					}
				case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
					r.Key, r.Values = "n", []string{fmt.Sprint(g.rng.IntN(10))}
				}
				if r.Operator != v1.NodeSelectorOpIn && r.Operator != v1.NodeSelectorOpExists {
					exact = false
				}
				term.MatchExpressions = append(term.MatchExpressions, r)
			}
			terms = append(terms, term)
		}
		pod.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	return pod, exact
}

func TestLabelIndexSync(t *testing.T) {
	nodes := []*v1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n0", Labels: map[string]string{"disk": "ssd"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"disk": "hdd"}}},
	}
	ssd := &v1.Pod{Spec: v1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}}}
	var x labelIndex
	if !x.sync(nodeInfos(nodes)) {
		t.Fatal("first sync did not build")
	}
	if got, _ := x.candidates(ssd); !slices.Equal(got, []int32{0}) {
		t.Fatalf("candidates %v, want [0]", got)
	}

	// A status update: new object, same labels. No rebuild.
	upd := nodes[1].DeepCopy()
	upd.Status.Phase = v1.NodeRunning
	if x.sync(nodeInfos([]*v1.Node{nodes[0], upd})) {
		t.Fatal("rebuilt for a status-only change")
	}
	// A label change: rebuild, and the answer follows.
	relabel := nodes[1].DeepCopy()
	relabel.Labels["disk"] = "ssd"
	if !x.sync(nodeInfos([]*v1.Node{nodes[0], relabel})) {
		t.Fatal("no rebuild after a label change")
	}
	if got, _ := x.candidates(ssd); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("candidates %v, want [0 1]", got)
	}
	// A node removed: rebuild.
	if !x.sync(nodeInfos([]*v1.Node{relabel})) {
		t.Fatal("no rebuild after a node left")
	}
	if got, _ := x.candidates(ssd); !slices.Equal(got, []int32{0}) {
		t.Fatalf("candidates %v, want [0]", got)
	}
	// Candidates are copies: using them never changes the index.
	got, _ := x.candidates(ssd)
	got[0] = 99
	if again, _ := x.candidates(ssd); again[0] != 0 {
		t.Fatal("candidates share memory with the index")
	}
}

// TestIndexedSearchMatchesFullSearch runs every kind of the bench workload,
// plus pods nothing fits, through bestLocal with upstream's default plugins
// on the same shard, with the label index and without: the nodes found
// feasible, the best score and, for unschedulable pods, the FitError text
// (what the PodScheduled condition and the event say) must be the same,
// while the indexed search runs the filters on fewer nodes.
func TestIndexedSearchMatchesFullSearch(t *testing.T) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 1000 {
		n := workload.Node(i)
		nodes = append(nodes, n)
		for j := range i % 3 {
			pods = append(pods, benchPod(fmt.Sprintf("old-%d-%d", i, j), n.Name))
		}
	}
	// 100%: both searches find every feasible node, so the best must agree.
	fw := defaultFramework(t, nodes, pods, 100)
	newSel := func(noIndex bool) (*Selector, *Metrics) {
		m := NewMetrics(prometheus.NewRegistry())
		s, err := New(Config{Members: func() int { return 1 }, Metrics: m, DisableLabelIndex: noIndex, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return s, m
	}
	indexed, im := newSel(false)
	full, _ := newSel(true)

	var cases []*v1.Pod
	for i := range 6 {
		cases = append(cases, workload.Pod("ns", i, "dist-scheduler", false))
	}
	// Fits nowhere: ssd nodes are too small; gpu label with no toleration
	// (every gpu node is tainted); a label no node has.
	bigSSD := workload.Pod("ns", workload.KindSSD, "dist-scheduler", false)
	bigSSD.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("64")
	noTol := workload.Pod("ns", workload.KindGPU, "dist-scheduler", false)
	noTol.Spec.Tolerations = nil
	missing := workload.Pod("ns", 0, "dist-scheduler", false)
	missing.Spec.NodeSelector = map[string]string{"no-such": "label"}
	cases = append(cases, bigSSD, noTol, missing)

	for i, pod := range cases {
		pod.Name, pod.UID = fmt.Sprintf("case-%d", i), types.UID(fmt.Sprintf("uid-%d", i))
		ctx := context.Background()
		a, err := indexed.bestLocal(ctx, fw, framework.NewCycleState(), pod, nil)
		if err != nil {
			t.Fatalf("%s indexed: %v", pod.Name, err)
		}
		b, err := full.bestLocal(ctx, fw, framework.NewCycleState(), pod, nil)
		if err != nil {
			t.Fatalf("%s full: %v", pod.Name, err)
		}
		if a.Feasible != b.Feasible || a.Score != b.Score || (a.FitErr == nil) != (b.FitErr == nil) {
			t.Errorf("%s: indexed feasible %d score %d fit %v; full feasible %d score %d fit %v",
				pod.Name, a.Feasible, a.Score, a.FitErr, b.Feasible, b.Score, b.FitErr)
			continue
		}
		if a.FitErr != nil {
			if a.FitErr.Error() != b.FitErr.Error() {
				t.Errorf("%s: indexed FitError %q, full %q", pod.Name, a.FitErr.Error(), b.FitErr.Error())
			}
			if !a.FitErr.Diagnosis.UnschedulablePlugins.Equal(b.FitErr.Diagnosis.UnschedulablePlugins) {
				t.Errorf("%s: unschedulable plugins %v vs %v", pod.Name, a.FitErr.Diagnosis.UnschedulablePlugins, b.FitErr.Diagnosis.UnschedulablePlugins)
			}
			continue
		}
		t.Logf("%s: %d feasible, indexed evaluated %d nodes, full %d", pod.Name, a.Feasible, a.Evaluated, b.Evaluated)
		if requiresNodeLabels(pod) && a.Evaluated >= b.Evaluated {
			t.Errorf("%s: indexed search evaluated %d nodes, full %d: the index did not narrow", pod.Name, a.Evaluated, b.Evaluated)
		}
	}
	if n := testutil.ToFloat64(im.indexRebuilds); n != 1 {
		t.Errorf("index rebuilt %v times on an unchanged shard, want 1", n)
	}
	if n := testutil.ToFloat64(im.indexFullPasses); n != 3 {
		t.Errorf("%v full passes after a narrowed search, want 3 (the three unschedulable pods)", n)
	}
}

// TestIndexNeedsNodeAffinityFilter: a profile without upstream's
// NodeAffinity filter accepts nodes whatever the pod's selector says, so
// the index, which would skip them, must not be used.
func TestIndexNeedsNodeAffinityFilter(t *testing.T) {
	fw := shardFramework(t, []testNode{{"a", true, 1}, {"b", true, 2}})
	s, err := New(Config{Members: func() int { return 1 }, Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: v1.PodSpec{NodeSelector: map[string]string{"no-such": "label"}}}
	res, err := s.bestLocal(context.Background(), fw, framework.NewCycleState(), pod, nil)
	if err != nil || res.Node != "b" {
		t.Fatalf("bestLocal = %+v, %v; want node b (no NodeAffinity filter in this profile)", res, err)
	}
	if n := testutil.ToFloat64(s.cfg.Metrics.indexNarrowed); n != 0 {
		t.Fatalf("index used %v times without a NodeAffinity filter", n)
	}
}
