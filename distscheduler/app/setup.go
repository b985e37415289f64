package app

import (
	"context"
	"fmt"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/trim"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	internalcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// completeConfig loads upstream's configuration (--config and flags) the way
// kube-scheduler's app.Setup does and returns the completed config. With
// shard set (a scheduling member), the shared informer factory is replaced
// by one whose Node and Pod informers list and watch only objects carrying
// the member's shard label, server side: the member's nodes, and the pods
// bound to them (the winner's Binding puts the label on the pod). Pending
// pods never reach a member's informers; they come down the tree.
// observeNode, with shard, sees every Node before the node informer stores
// it (shard.Adopter's Observe). alsoDefault adds a default-scheduler
// profile (withDefaultSchedulerProfile).
func completeConfig(ctx context.Context, opts *options.Options, shard string, observeNode func(*v1.Node), alsoDefault bool) (*schedulerappconfig.CompletedConfig, error) {
	defaults, err := latest.Default()
	if err != nil {
		return nil, fmt.Errorf("default scheduler configuration: %w", err)
	}
	opts.ComponentConfig = defaults
	if errs := opts.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("scheduler options: %w", utilerrors.NewAggregate(errs))
	}
	c, err := opts.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	if alsoDefault {
		if c.ComponentConfig.Profiles, err = withDefaultSchedulerProfile(c.ComponentConfig.Profiles); err != nil {
			return nil, err
		}
	}
	if shard != "" {
		c.InformerFactory = shardInformerFactory(c.Client, shard, observeNode)
	}
	cc := c.Complete()
	return &cc, nil
}

// shardInformerFactory is upstream's scheduler informer factory narrowed to
// one shard. Its pod informer keeps upstream's own narrowing (no finished
// pods, no managed fields); its node informer keeps Nodes as package trim
// shapes them (no managed fields, names packed), and shows each to observe
// (may be nil) before storing it, so before upstream's cache sees it.
func shardInformerFactory(client clientset.Interface, selector string, observe func(*v1.Node)) informers.SharedInformerFactory {
	f := informers.NewSharedInformerFactory(client, 0)
	f.InformerFor(&v1.Node{}, func(cs clientset.Interface, resync time.Duration) cache.SharedIndexInformer {
		inf := coreinformers.NewFilteredNodeInformer(cs, resync, cache.Indexers{}, func(o *metav1.ListOptions) {
			o.LabelSelector = selector
		})
		held := func(name string) bool {
			_, ok, err := inf.GetIndexer().GetByKey(name)
			return ok && err == nil
		}
		shape := trim.Nodes(&trim.Names{}, held)
		_ = inf.SetTransform(func(o any) (any, error) {
			o, err := shape(o)
			if n, ok := o.(*v1.Node); ok && observe != nil {
				observe(n)
			}
			return o, err
		})
		return inf
	})
	f.InformerFor(&v1.Pod{}, func(cs clientset.Interface, resync time.Duration) cache.SharedIndexInformer {
		inf := coreinformers.NewFilteredPodInformer(cs, metav1.NamespaceAll, resync, cache.Indexers{}, func(o *metav1.ListOptions) {
			o.LabelSelector = selector
			o.FieldSelector = fmt.Sprintf("status.phase!=%v,status.phase!=%v", v1.PodSucceeded, v1.PodFailed)
		})
		_ = inf.SetTransform(trim.ManagedFields)
		return inf
	})
	return f
}

// newScheduler builds upstream's scheduler exactly as kube-scheduler's
// app.Setup does, with the out-of-tree registry and the given node snapshot
// (the one every profile's plugins read).
func newScheduler(ctx context.Context, cc *schedulerappconfig.CompletedConfig, outOfTree frameworkruntime.Registry, snapshot *internalcache.Snapshot) (*scheduler.Scheduler, error) {
	sched, err := scheduler.New(ctx,
		cc.Client,
		cc.InformerFactory,
		cc.DynInformerFactory,
		recorderFactory(cc),
		scheduler.WithComponentConfigVersion(cc.ComponentConfig.TypeMeta.APIVersion),
		scheduler.WithKubeConfig(cc.KubeConfig),
		scheduler.WithProfiles(cc.ComponentConfig.Profiles...),
		scheduler.WithPercentageOfNodesToScore(cc.ComponentConfig.PercentageOfNodesToScore),
		scheduler.WithFrameworkOutOfTreeRegistry(outOfTree),
		scheduler.WithPodMaxBackoffSeconds(cc.ComponentConfig.PodMaxBackoffSeconds),
		scheduler.WithPodInitialBackoffSeconds(cc.ComponentConfig.PodInitialBackoffSeconds),
		scheduler.WithPodMaxInUnschedulablePodsDuration(cc.PodMaxInUnschedulablePodsDuration),
		scheduler.WithExtenders(cc.ComponentConfig.Extenders...),
		scheduler.WithParallelism(cc.ComponentConfig.Parallelism),
		scheduler.WithNodeInfoSnapshot(snapshot),
	)
	if err != nil {
		return nil, fmt.Errorf("create scheduler: %w", err)
	}
	return sched, nil
}
