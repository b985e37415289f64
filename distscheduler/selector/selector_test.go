package selector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/tree/inproc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
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

// shardFramework is a framework over one member's nodes with labelPlugin.
func shardFramework(t *testing.T, nodes []testNode) framework.Framework {
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
	}, "dist-scheduler",
		frameworkruntime.WithSnapshotSharedLister(cache.NewSnapshot(nil, vn)),
		frameworkruntime.WithPodNominator(noNominator{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

type outcome struct {
	result  scheduler.ScheduleResult
	err     error
	wonNode string
	dropped bool // FailureHandler dropped the pod
	passed  bool // FailureHandler passed it to upstream's handler
	// rejected: the bid was feasible and its pending verdict was a loss
	// (DistPermit would reject the pod).
	rejected bool
}

func TestSchedulePod(t *testing.T) {
	tests := []struct {
		name       string
		shards     map[string][]testNode
		wantWinner string
		wantNode   string
	}{
		{
			name: "best score across shards wins",
			shards: map[string][]testNode{
				"a": {{"a1", true, 10}, {"a2", true, 50}},
				"b": {{"b1", true, 70}, {"b2", false, 100}},
				"c": {{"c1", false, 90}},
			},
			wantWinner: "b", wantNode: "b1",
		},
		{
			name: "single feasible node anywhere",
			shards: map[string][]testNode{
				"a": {{"a1", false, 10}},
				"b": {{"b1", false, 70}},
				"c": {{"c1", true, 0}},
			},
			wantWinner: "c", wantNode: "c1",
		},
		{
			name: "member without nodes bids nothing",
			shards: map[string][]testNode{
				"a": {{"a1", true, 30}},
				"b": nil,
			},
			wantWinner: "a", wantNode: "a1",
		},
		{
			name: "nothing fits anywhere",
			shards: map[string][]testNode{
				"a": {{"a1", false, 10}},
				"b": {{"b1", false, 70}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := inproc.NewHub(10 * time.Second)
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: types.UID("uid-1")}}
			type member struct {
				sel *Selector
				fw  framework.Framework
			}
			members := map[string]member{}
			for name, nodes := range tt.shards {
				sel, err := New(Config{Tree: hub.Join(name, true), Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
				if err != nil {
					t.Fatal(err)
				}
				members[name] = member{sel, shardFramework(t, nodes)}
			}
			var mu sync.Mutex
			got := map[string]outcome{}
			var wg sync.WaitGroup
			for name, m := range members {
				wg.Add(1)
				go func() {
					defer wg.Done()
					state := framework.NewCycleState()
					qpi := &framework.QueuedPodInfo{PodInfo: mustPodInfo(t, pod)}
					res, err := m.sel.SchedulePod(context.Background(), m.fw, state, qpi)
					o := outcome{result: res, err: err}
					o.wonNode, _ = distpermit.WonNode(state)
					if pend, ok := distpermit.PendingOf(state); ok && err == nil {
						// What DistPermit's waiting pod would learn.
						select {
						case <-pend.Done():
						case <-time.After(30 * time.Second):
							t.Errorf("%s: verdict never came", name)
						}
						if won, reason := pend.Result(); won {
							o.wonNode = pend.Node()
						} else {
							o.rejected, err = true, errors.New(reason)
						}
					}
					if err != nil {
						handler := m.sel.FailureHandler(
							func(context.Context, framework.Framework, *framework.QueuedPodInfo, *fwk.Status, *fwk.NominatingInfo, time.Time) {
								o.passed = true
							},
							func(types.UID) { o.dropped = true })
						handler(context.Background(), m.fw, qpi, fwk.AsStatus(err), nil, time.Now())
					}
					mu.Lock()
					got[name] = o
					mu.Unlock()
				}()
			}
			wg.Wait()

			for name, o := range got {
				switch {
				case name == tt.wantWinner:
					if o.err != nil || o.result.SuggestedHost != tt.wantNode || o.wonNode != tt.wantNode {
						t.Errorf("winner %s: result %+v, err %v, won %q; want node %s", name, o.result, o.err, o.wonNode, tt.wantNode)
					}
				case tt.wantWinner != "":
					lost := errors.Is(o.err, scheduler.ErrNoNodesAvailable) || (o.err == nil && o.rejected)
					if !lost || !o.dropped || o.passed || o.wonNode != "" {
						t.Errorf("loser %s: err %v, rejected %v, dropped %v, passed %v, won %q", name, o.err, o.rejected, o.dropped, o.passed, o.wonNode)
					}
				default:
					var fitErr *framework.FitError
					if !errors.As(o.err, &fitErr) || o.dropped || !o.passed {
						t.Errorf("%s: err %v (want FitError), dropped %v, passed %v", name, o.err, o.dropped, o.passed)
					}
				}
			}
		})
	}
}

func mustPodInfo(t *testing.T, pod *v1.Pod) *framework.PodInfo {
	t.Helper()
	pi, err := framework.NewPodInfo(pod)
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
			hub := inproc.NewHub(time.Second)
			var self *inproc.Member
			for i := range tt.members {
				m := hub.Join(fmt.Sprintf("m%d", i), true)
				if i == 0 {
					self = m
				}
			}
			s, err := New(Config{Tree: self, Metrics: NewMetrics(prometheus.NewRegistry()), PercentageOfNodesToScore: tt.pct})
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
