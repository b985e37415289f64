package app

import (
	"context"
	"fmt"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/cycle"
	"github.com/k8s1m/k8s1m/distscheduler/selector"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/informers/core"
	corev1 "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	apidispatcher "k8s.io/kubernetes/pkg/scheduler/backend/api_dispatcher"
	internalcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkplugins "k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
	"k8s.io/kubernetes/pkg/scheduler/profile"
)

// recorderFactory gives each profile upstream's event recorder, as
// kube-scheduler's app.Setup does.
func recorderFactory(cc *schedulerappconfig.CompletedConfig) profile.RecorderFactory {
	return func(name string) events.EventRecorderLogger { return cc.EventBroadcaster.NewRecorder(name) }
}

// lanes returns n scheduling lanes. Lane 0 is upstream's scheduler's own
// profiles over its snapshot; every further lane has a snapshot of its own
// and the profiles built again over it, sharing all else with lane 0: the
// cache, informers, DRA and CSI managers, extenders, the nominator (the
// member's queue, which never holds pods), the API dispatcher and cacher.
func (m *schedulingMember) lanes(ctx context.Context, n int, newSelector func() (*selector.Selector, error)) ([]cycle.Lane, error) {
	out := make([]cycle.Lane, 0, n)
	first, err := newSelector()
	if err != nil {
		return nil, err
	}
	fws := make(map[string]framework.Framework, len(m.sched.Profiles))
	for name, fw := range m.sched.Profiles {
		fws[name] = fw
	}
	out = append(out, cycle.Lane{Frameworks: fws, Snapshot: m.snapshot, Selector: first})
	if n == 1 {
		return out, nil
	}
	var base framework.Framework
	for _, fw := range fws {
		base = fw
		break
	}
	registry := frameworkplugins.NewInTreeRegistry()
	if err := registry.Merge(m.outOfTree); err != nil {
		return nil, fmt.Errorf("plugin registry: %w", err)
	}
	for i := 1; i < n; i++ {
		snapshot := internalcache.NewEmptySnapshot()
		opts := []frameworkruntime.Option{
			frameworkruntime.WithComponentConfigVersion(m.cc.ComponentConfig.TypeMeta.APIVersion),
			frameworkruntime.WithClientSet(m.cc.Client),
			frameworkruntime.WithKubeConfig(m.cc.KubeConfig),
			frameworkruntime.WithInformerFactory(laneInformers{m.cc.InformerFactory}),
			frameworkruntime.WithSharedDRAManager(base.SharedDRAManager()),
			frameworkruntime.WithSharedCSIManager(base.SharedCSIManager()),
			frameworkruntime.WithSnapshotSharedLister(snapshot),
			frameworkruntime.WithMutableSnapshotLister(snapshot),
			frameworkruntime.WithParallelism(int(m.cc.ComponentConfig.Parallelism)),
			frameworkruntime.WithExtenders(base.Extenders()),
			frameworkruntime.WithMetricsRecorder(metrics.NewMetricsAsyncRecorder(1000, time.Second, ctx.Done())),
			frameworkruntime.WithWaitingPods(frameworkruntime.NewWaitingPodsMap()),
			frameworkruntime.WithPodsInPreBind(frameworkruntime.NewPodsInPreBindMap()),
			frameworkruntime.WithPodGroupManager(base.PodGroupManager()),
		}
		if d, ok := base.APIDispatcher().(*apidispatcher.APIDispatcher); ok && d != nil {
			opts = append(opts, frameworkruntime.WithAPIDispatcher(d))
		}
		profiles, err := profile.NewMap(ctx, m.cc.ComponentConfig.Profiles, registry, recorderFactory(m.cc), opts...)
		if err != nil {
			return nil, fmt.Errorf("scheduling lane %d: profiles: %w", i, err)
		}
		sel, err := newSelector()
		if err != nil {
			return nil, err
		}
		lane := cycle.Lane{Frameworks: make(map[string]framework.Framework, len(profiles)), Snapshot: snapshot, Selector: sel}
		for name, fw := range profiles {
			fw.SetPodNominator(m.sched.SchedulingQueue)
			fw.SetPodActivator(m.sched.SchedulingQueue)
			fw.SetAPICacher(base.APICacher())
			lane.Frameworks[name] = fw
		}
		out = append(out, lane)
	}
	return out, nil
}

// laneInformers is the member's informer factory as a further lane's
// plugins see it: the same informers, except that an indexer a plugin adds
// under a name already there is taken as added. DynamicResources adds a
// pod index named after its profile, which lane 0's instance of the plugin
// added already (with the same function); upstream would refuse the second.
type laneInformers struct {
	informers.SharedInformerFactory
}

func (f laneInformers) Core() core.Interface { return laneCore{f.SharedInformerFactory.Core()} }

type laneCore struct{ core.Interface }

func (c laneCore) V1() corev1.Interface { return laneCoreV1{c.Interface.V1()} }

type laneCoreV1 struct{ corev1.Interface }

func (c laneCoreV1) Pods() corev1.TypedPodInformer { return lanePods{c.Interface.Pods()} }

type lanePods struct{ corev1.TypedPodInformer }

func (p lanePods) Informer() cache.SharedIndexInformer {
	return laneIndexedInformer{p.TypedPodInformer.Informer()}
}

type laneIndexedInformer struct{ cache.SharedIndexInformer }

// AddIndexers adds the indexers whose names the informer does not have yet.
func (i laneIndexedInformer) AddIndexers(ix cache.Indexers) error {
	have := i.GetIndexer().GetIndexers()
	fresh := cache.Indexers{}
	for name, fn := range ix {
		if _, ok := have[name]; !ok {
			fresh[name] = fn
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return i.SharedIndexInformer.AddIndexers(fresh)
}
