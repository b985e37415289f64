package app

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	coreinformers "k8s.io/client-go/informers/core/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// completeConfig loads upstream's configuration (--config and flags) the way
// kube-scheduler's app.Setup does and returns the completed config.
// nodeSelector, when set, makes the shared informer factory's Node informer
// list and watch only matching nodes, server side: it must be registered
// before scheduler.New asks the factory for its Node lister.
func completeConfig(ctx context.Context, opts *options.Options, nodeSelector string) (*schedulerappconfig.CompletedConfig, error) {
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
	if nodeSelector != "" {
		c.InformerFactory.InformerFor(&v1.Node{}, func(cs clientset.Interface, resync time.Duration) cache.SharedIndexInformer {
			return coreinformers.NewFilteredNodeInformer(cs, resync, cache.Indexers{}, func(o *metav1.ListOptions) {
				o.LabelSelector = nodeSelector
			})
		})
	}
	cc := c.Complete()
	return &cc, nil
}

// newScheduler builds upstream's scheduler exactly as kube-scheduler's
// app.Setup does, with the out-of-tree registry.
func newScheduler(ctx context.Context, cc *schedulerappconfig.CompletedConfig, outOfTree frameworkruntime.Registry) (*scheduler.Scheduler, error) {
	recorders := func(name string) events.EventRecorderLogger {
		return cc.EventBroadcaster.NewRecorder(name)
	}
	sched, err := scheduler.New(ctx,
		cc.Client,
		cc.InformerFactory,
		cc.DynInformerFactory,
		recorders,
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
	)
	if err != nil {
		return nil, fmt.Errorf("create scheduler: %w", err)
	}
	return sched, nil
}
