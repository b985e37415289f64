package app

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/k8s1m/k8s1m/distscheduler/cycle"
	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/selector"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/pkg/scheduler"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	internalcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// schedulingMember is a member's scheduling role: upstream's scheduler
// (profiles, plugins, cache and the informers that feed it, all narrowed to
// the member's shard) driven by the tree's items through package cycle
// instead of upstream's queue and scheduling loop.
type schedulingMember struct {
	cfg       Config
	cc        *schedulerappconfig.CompletedConfig
	sched     *scheduler.Scheduler
	snapshot  *internalcache.Snapshot
	adopter   *shard.Adopter            // the member's end of node handovers
	outOfTree frameworkruntime.Registry // distscheduler's plugins, for the further lanes' profiles
	reg       prometheus.Registerer
	log       zerolog.Logger
}

// shardSelector selects the objects of a member's shard.
func shardSelector(member string) string { return shard.Label + "=" + member }

func newSchedulingMember(ctx context.Context, cfg Config, cc *schedulerappconfig.CompletedConfig, adopter *shard.Adopter, reg prometheus.Registerer, log zerolog.Logger) (*schedulingMember, error) {
	outOfTree := frameworkruntime.Registry{}
	fts := plfeature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate)
	if err := outOfTree.Register(distpermit.Name, distpermit.Factory(fts, cfg.PermitAlwaysDeny)); err != nil {
		return nil, fmt.Errorf("register %s: %w", distpermit.Name, err)
	}
	snapshot := internalcache.NewEmptySnapshot()
	sched, err := newScheduler(ctx, cc, outOfTree, snapshot)
	if err != nil {
		return nil, err
	}
	warnWithoutPermit(log, cc)
	return &schedulingMember{cfg: cfg, cc: cc, sched: sched, snapshot: snapshot, adopter: adopter, outOfTree: outOfTree, reg: reg, log: log}, nil
}

// syncCaches starts the shard's informers and waits until the cache holds
// the shard's nodes and the pods bound to them.
func (m *schedulingMember) syncCaches(ctx context.Context) error {
	m.cc.EventBroadcaster.StartRecordingToSink(ctx.Done())
	m.cc.InformerFactory.Start(ctx.Done())
	if m.cc.DynInformerFactory != nil {
		m.cc.DynInformerFactory.Start(ctx.Done())
	}
	m.cc.InformerFactory.WaitForCacheSync(ctx.Done())
	if m.cc.DynInformerFactory != nil {
		m.cc.DynInformerFactory.WaitForCacheSync(ctx.Done())
	}
	if err := m.sched.WaitForHandlersSync(ctx); err != nil {
		return fmt.Errorf("scheduler handlers sync: %w", err)
	}
	return nil
}

// ownsNode reports whether the member's node informer (its shard) holds
// node.
func (m *schedulingMember) ownsNode(node string) bool {
	_, ok, err := m.cc.InformerFactory.Core().V1().Nodes().Informer().GetIndexer().GetByKey(node)
	return ok && err == nil
}

// start runs the member's pod path on t's items, and both ends of its node
// handovers (adopting nodes it receives, handing on pods it bound to nodes
// it lost), until ctx ends.
func (m *schedulingMember) start(ctx context.Context, wg *sync.WaitGroup, t tree.Member) error {
	meta, err := metadata.NewForConfig(m.cc.KubeConfig)
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	holds := func(p *v1.Pod) bool {
		_, err := m.sched.Cache.GetPod(p)
		return err == nil
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.adopter.Run(ctx, meta, holds)
	}()
	releaser, err := shard.NewReleaser(shard.ReleaserConfig{Member: m.cfg.Member, Owns: m.ownsNode, Metrics: m.adopter.Metrics(), Log: m.log})
	if err != nil {
		return err
	}
	observePod := func(o any) {
		if p, ok := o.(*v1.Pod); ok {
			releaser.Observe(p)
		}
	}
	if _, err := m.cc.InformerFactory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observePod,
		UpdateFunc: func(_, o any) { observePod(o) },
	}); err != nil {
		return fmt.Errorf("pod handler of the releaser: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		releaser.Run(ctx, meta)
	}()
	selMetrics := selector.NewMetrics(m.reg)
	selRotation := &selector.Rotation{}
	newSelector := func() (*selector.Selector, error) {
		return selector.New(selector.Config{
			Members:                  t.MemberCount,
			PercentageOfNodesToScore: m.cc.ComponentConfig.PercentageOfNodesToScore,
			Metrics:                  selMetrics,
			DisableLabelIndex:        m.cfg.DisableNodeLabelIndex,
			Rotation:                 selRotation,
			Log:                      m.log,
		})
	}
	lanes, err := m.lanes(ctx, m.cfg.SchedulingLoops(), newSelector)
	if err != nil {
		return err
	}
	m.log.Info().Int("loops", len(lanes)).Int("in_flight", m.cfg.InFlightItems()).Msg("scheduling loops")
	cyc, err := cycle.New(cycle.Config{
		Tree:          t,
		Lanes:         lanes,
		Cache:         m.sched.Cache,
		Client:        m.cc.Client,
		BindingLabels: map[string]string{shard.Label: m.cfg.Member},
		Adopting:      m.adopter.Pending,
		Owns:          m.ownsNode,
		InFlight:      m.cfg.InFlightItems(),
		Bindings:      m.cfg.Bindings,
		Metrics:       cycle.NewMetrics(m.reg),
		Log:           m.log,
	})
	if err != nil {
		return err
	}
	t.OnItem(cyc.Offer)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer m.cc.EventBroadcaster.Shutdown()
		defer t.OnItem(nil)
		cyc.Run(ctx)
	}()
	return nil
}

// warnWithoutPermit flags profiles that lack DistPermit: their winners would
// still bind, but nothing would stop a cycle that skipped the gather.
func warnWithoutPermit(log zerolog.Logger, cc *schedulerappconfig.CompletedConfig) {
	for _, p := range cc.ComponentConfig.Profiles {
		if p.Plugins == nil || !slices.ContainsFunc(p.Plugins.Permit.Enabled, func(pl schedconfig.Plugin) bool { return pl.Name == distpermit.Name }) {
			log.Warn().Str("profile", p.SchedulerName).Msg("profile does not enable the DistPermit permit plugin")
		}
	}
}
