package selector

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// BenchmarkBestLocal measures the CPU one member spends to filter and score
// its shard for one pod: upstream's default plugins (the default profile,
// as kube-scheduler builds it from an empty configuration, less
// DynamicResources) run by bestLocal
// over a snapshot of shard nodes, with parallelism 1 so that wall time is CPU
// time. The nodes carry the bench workload's shape (4 CPU, 16Gi, zones, a
// few pods each); the pod requests CPU and memory. It reports ns per node
// evaluated (filtered; scored if feasible and within the search target):
// 1,000 × that is the CPU per pod per 1K nodes.
//
//	go test -run '^$' -bench BestLocal -benchtime 200x ./selector
func BenchmarkBestLocal(b *testing.B) {
	for _, pct := range []int32{5, 100} {
		for _, nodes := range []int{1000, 5000, 12500} {
			b.Run(fmt.Sprintf("pct=%d/nodes=%d", pct, nodes), func(b *testing.B) {
				benchBestLocal(b, nodes, pct)
			})
		}
	}
}

func benchBestLocal(b *testing.B, numNodes int, pct int32) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range numNodes {
		name := fmt.Sprintf("node-%06d", i)
		nodes = append(nodes, &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				"kubernetes.io/hostname":      name,
				"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%4),
			}},
			Status: v1.NodeStatus{Allocatable: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse("4"),
				v1.ResourceMemory: resource.MustParse("16Gi"),
				v1.ResourcePods:   resource.MustParse("110"),
			}},
		})
		for j := range i % 3 {
			pods = append(pods, benchPod(fmt.Sprintf("old-%d-%d", i, j), name))
		}
	}
	fw := defaultFramework(b, nodes, pods, pct)
	sel, err := New(Config{Members: func() int { return 1 }, Metrics: NewMetrics(prometheus.NewRegistry()), Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	evaluated := timeBestLocal(b, sel, fw, benchPod("new", ""))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(evaluated), "ns/node")
}

// timeBestLocal runs bestLocal b.N times for pod, reports nodes evaluated
// per pod and returns their total.
func timeBestLocal(b *testing.B, sel *Selector, fw framework.Framework, pod *v1.Pod) int {
	ctx := context.Background()
	evaluated := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := sel.bestLocal(ctx, fw, framework.NewCycleState(), pod, nil)
		if err != nil || res.Node == "" {
			b.Fatalf("bestLocal: %+v, %v", res, err)
		}
		evaluated += res.Evaluated
	}
	b.StopTimer()
	b.ReportMetric(float64(evaluated)/float64(b.N), "nodes/op")
	return evaluated
}

// BenchmarkBestLocalIndex measures one member's filter and score for pods
// that require node labels (the bench workload's ssd, gpu and zone-affinity
// kinds) on a shard of the bench workload's nodes (every 5th ssd, every 50th
// a tainted gpu node, four zones), with the node label index and without:
// without it the search runs the filters on every node until it has found
// its feasible-node target, and a gpu pod, which fits 2% of the nodes, has
// every node filtered.
//
//	go test -run '^$' -bench BestLocalIndex -benchtime 100x ./selector
func BenchmarkBestLocalIndex(b *testing.B) {
	const numNodes = 12500
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range numNodes {
		n := workload.Node(i)
		nodes = append(nodes, n)
		for j := range i % 3 {
			pods = append(pods, benchPod(fmt.Sprintf("old-%d-%d", i, j), n.Name))
		}
	}
	fw := defaultFramework(b, nodes, pods, 5)
	kinds := []struct {
		name string
		kind int
	}{{"ssd", workload.KindSSD}, {"gpu", workload.KindGPU}, {"zone", workload.KindZoneAffinity}}
	for _, k := range kinds {
		for _, index := range []bool{true, false} {
			b.Run(fmt.Sprintf("pod=%s/index=%v", k.name, index), func(b *testing.B) {
				sel, err := New(Config{Members: func() int { return 1 }, Metrics: NewMetrics(prometheus.NewRegistry()),
					DisableLabelIndex: !index, Log: zerolog.Nop()})
				if err != nil {
					b.Fatal(err)
				}
				pod := workload.Pod("bench", k.kind, "dist-scheduler", false)
				pod.UID = "uid-new"
				if _, err := sel.bestLocal(context.Background(), fw, framework.NewCycleState(), pod, nil); err != nil {
					b.Fatal(err) // builds the index outside the timed loop
				}
				timeBestLocal(b, sel, fw, pod)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/(numNodes/1000), "µs/1Kshardnodes")
			})
		}
	}
}

// defaultFramework is a framework with upstream's default profile, as
// kube-scheduler builds it from an empty configuration, less
// DynamicResources (it needs the scheduler's DRA manager, which only
// scheduler.New builds; no test pod claims devices), over a snapshot of
// nodes and pods, with parallelism 1 so that wall time is CPU time.
func defaultFramework(tb testing.TB, nodes []*v1.Node, pods []*v1.Pod, pct int32) framework.Framework {
	tb.Helper()
	cfg, err := latest.Default()
	if err != nil {
		tb.Fatal(err)
	}
	profile := cfg.Profiles[0]
	profile.PercentageOfNodesToScore = &pct
	pl := profile.Plugins
	for _, set := range []*config.PluginSet{&pl.MultiPoint, &pl.PreEnqueue, &pl.PreFilter, &pl.Filter,
		&pl.PostFilter, &pl.PreScore, &pl.Score, &pl.Reserve, &pl.Permit, &pl.PreBind, &pl.PostBind} {
		set.Enabled = slices.DeleteFunc(set.Enabled, func(p config.Plugin) bool { return p.Name == names.DynamicResources })
	}
	cs := fake.NewClientset()
	fw, err := frameworkruntime.NewFramework(context.Background(), plugins.NewInTreeRegistry(), &profile,
		frameworkruntime.WithClientSet(cs),
		frameworkruntime.WithInformerFactory(informers.NewSharedInformerFactory(cs, 0)),
		frameworkruntime.WithSnapshotSharedLister(cache.NewSnapshot(pods, nodes)),
		frameworkruntime.WithPodNominator(noNominator{}),
		frameworkruntime.WithParallelism(1),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return fw
}

func benchPod(name, node string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{NodeName: node, SchedulerName: "dist-scheduler", Containers: []v1.Container{{
			Name: "c", Image: "registry.k8s.io/pause:3.10",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse("100m"),
				v1.ResourceMemory: resource.MustParse("128Mi"),
			}},
		}}},
	}
}
