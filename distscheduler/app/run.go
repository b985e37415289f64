package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/intake"
	"github.com/k8s1m/k8s1m/distscheduler/leader"
	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/selector"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/k8s1m/k8s1m/distscheduler/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/pkg/scheduler"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	internalqueue "k8s.io/kubernetes/pkg/scheduler/backend/queue"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// Run runs one member until ctx ends.
func Run(ctx context.Context, log zerolog.Logger, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log = log.With().Str("member", cfg.Member).Logger()
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	scheduling := !cfg.RelayOnly

	// Each scheduling member lists and watches only the nodes labelled with
	// its name; the leader writes those labels.
	nodeSelector := ""
	if scheduling {
		nodeSelector = shard.Label + "=" + cfg.Member
	}
	cc, err := completeConfig(ctx, cfg.Scheduler, nodeSelector)
	if err != nil {
		return err
	}
	var sched *scheduler.Scheduler
	gate := &distpermit.Gate{}
	if scheduling {
		enablePreEnqueueGate(cc)
		outOfTree := frameworkruntime.Registry{}
		fts := plfeature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate)
		if err := outOfTree.Register(distpermit.Name, distpermit.Factory(fts, cfg.PermitAlwaysDeny, gate)); err != nil {
			return fmt.Errorf("register %s: %w", distpermit.Name, err)
		}
		if sched, err = newScheduler(ctx, cc, outOfTree); err != nil {
			return err
		}
		warnWithoutPermit(log, cc)
	}

	var ready readiness
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.HTTPAddr != "" {
		srv, err := serveHTTP(cfg.HTTPAddr, reg, &ready, log)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			_ = srv.Close()
		}()
	}

	if scheduling {
		cc.EventBroadcaster.StartRecordingToSink(ctx.Done())
		defer cc.EventBroadcaster.Shutdown()
		cc.InformerFactory.Start(ctx.Done())
		if cc.DynInformerFactory != nil {
			cc.DynInformerFactory.Start(ctx.Done())
		}
		cc.InformerFactory.WaitForCacheSync(ctx.Done())
		if cc.DynInformerFactory != nil {
			cc.DynInformerFactory.WaitForCacheSync(ctx.Done())
		}
		if err := sched.WaitForHandlersSync(ctx); err != nil {
			return fmt.Errorf("scheduler handlers sync: %w", err)
		}
	}

	// Join the tree only once the caches are warm, so gathers never wait
	// for a member that cannot bid yet.
	newTree := cfg.NewTree
	if newTree == nil {
		newTree = DefaultTree
	}
	cfg.Log, cfg.Registry = log, reg
	t, leave, err := newTree(ctx, cfg, scheduling)
	if err != nil {
		return fmt.Errorf("join tree: %w", err)
	}
	defer leave()
	// A root-driven tree (relay) needs the leader to submit pods, and
	// members to bring a pod back into their queue when its item arrives.
	root, _ := t.(intake.Root)
	hook, offers, err := startWebhook(cfg, cc, root != nil, reg, log)
	if err != nil {
		return err
	}
	if hook != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hook.Close(sctx); err != nil {
				log.Warn().Err(err).Msg("stopping the webhook")
			}
		}()
	}

	if scheduling {
		sel, err := selector.New(selector.Config{
			Tree:                     t,
			PercentageOfNodesToScore: cc.ComponentConfig.PercentageOfNodesToScore,
			Metrics:                  selector.NewMetrics(reg),
			VerdictTimeout:           3*cfg.GatherDeadline() + 10*time.Second,
			DisableLabelIndex:        cfg.DisableNodeLabelIndex,
			Log:                      log,
		})
		if err != nil {
			return err
		}
		sched.SchedulePod = sel.SchedulePod
		sched.FailureHandler = sel.FailureHandler(sched.FailureHandler, sched.SchedulingQueue.Done)
		pods := cc.InformerFactory.Core().V1().Pods().Lister()
		if items, ok := t.(itemNotifier); ok {
			// Pods wait outside the active queue until their item arrives,
			// then enter it in the order the root hands items out.
			gate.Set(func(p *v1.Pod) bool { return items.HasItem(selector.PodKey(p)) })
			defer gate.Set(nil)
			items.OnItem(func(key string) { requeueOnItem(ctx, key, pods, sel, sched.SchedulingQueue) })
			defer items.OnItem(nil)
		}
		recheck := 10 * cfg.GatherDeadline()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sel.RecoverDropped(ctx,
				func(ns, name string) (*v1.Pod, error) { return pods.Pods(ns).Get(name) },
				func(p *v1.Pod) { sched.SchedulingQueue.Update(ctx, p, p) },
				time.Second, recheck)
		}()
	}

	var leaderErr error
	if cfg.LeaderEligible {
		meta, err := metadata.NewForConfig(cc.KubeConfig)
		if err != nil {
			return fmt.Errorf("metadata client: %w", err)
		}
		intakeMetrics := intake.NewMetrics(reg)
		ctrl, err := shard.NewController(shard.ControllerConfig{
			Client:       meta,
			NodeSelector: cfg.NodeSelector,
			Members:      t.Members,
			Metrics:      shard.NewMetrics(reg),
			Log:          log,
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			leaderErr = leader.Run(ctx, leader.Config{
				Client:        cc.Client.CoordinationV1(),
				Namespace:     cfg.LeaseNamespace,
				Name:          cfg.LeaseName,
				Identity:      cfg.Member,
				LeaseDuration: cfg.LeaseDuration,
				RenewDeadline: cfg.RenewDeadline,
				RetryPeriod:   cfg.RetryPeriod,
				Registerer:    reg,
				Log:           log,
				Lead: func(ctx context.Context) {
					var lwg sync.WaitGroup
					defer lwg.Wait()
					if hook != nil {
						registerWebhook(ctx, cfg, cc, hook, offers, log)
					}
					if root != nil {
						lwg.Add(1)
						go func() {
							defer lwg.Done()
							err := intake.Run(ctx, intake.Config{
								Client:         cc.Client,
								SchedulerNames: schedulerNames(cc),
								Root:           root,
								Deadline:       cfg.GatherDeadline(),
								InFlight:       cfg.InFlightItems(),
								KeyOf:          selector.PodKey,
								Offers:         offers,
								Metrics:        intakeMetrics,
								Log:            log,
							})
							if err != nil {
								log.Error().Err(err).Msg("pod intake stopped")
							}
						}()
					}
					if err := ctrl.Run(ctx); err != nil {
						log.Error().Err(err).Msg("shard controller stopped")
					}
				},
			})
		}()
	}

	ready.set()
	log.Info().Bool("scheduling", scheduling).Bool("leader_eligible", cfg.LeaderEligible).
		Dur("gather_deadline", cfg.GatherDeadline()).Msg("member running")
	if cfg.Ready != nil {
		cfg.Ready()
	}
	if scheduling {
		sched.Run(ctx) // returns when ctx ends
	} else {
		<-ctx.Done()
	}
	cancel()
	wg.Wait()
	if leaderErr != nil && !errors.Is(leaderErr, context.Canceled) {
		return leaderErr
	}
	return nil
}

// warnWithoutPermit flags profiles that lack DistPermit: their winners would
// still bind, but nothing would stop a cycle that skipped the gather.
func warnWithoutPermit(log zerolog.Logger, cc *schedulerappconfig.CompletedConfig) {
	for _, p := range cc.ComponentConfig.Profiles {
		found := false
		if p.Plugins != nil {
			for _, pl := range p.Plugins.Permit.Enabled {
				if pl.Name == distpermit.Name {
					found = true
				}
			}
		}
		if !found {
			log.Warn().Str("profile", p.SchedulerName).Msg("profile does not enable the DistPermit permit plugin")
		}
	}
}

// itemNotifier is a root-driven tree: it says when a pod's item reaches
// this member and whether one is waiting for a bid.
type itemNotifier interface {
	OnItem(func(key string))
	HasItem(key string) bool
}

// enablePreEnqueueGate enables DistPermit at PreEnqueue in every profile
// that enables it at Permit, so the documented configuration (DistPermit
// under permit only) gets the gate too.
func enablePreEnqueueGate(cc *schedulerappconfig.CompletedConfig) {
	for i := range cc.ComponentConfig.Profiles {
		p := &cc.ComponentConfig.Profiles[i]
		if p.Plugins == nil || !slices.ContainsFunc(p.Plugins.Permit.Enabled, isDistPermit) ||
			slices.ContainsFunc(p.Plugins.PreEnqueue.Enabled, isDistPermit) {
			continue
		}
		p.Plugins.PreEnqueue.Enabled = append(p.Plugins.PreEnqueue.Enabled, schedconfig.Plugin{Name: distpermit.Name})
	}
}

func isDistPermit(p schedconfig.Plugin) bool { return p.Name == distpermit.Name }

// requeueOnItem brings a pod back into this member's scheduling queue when
// its tree item arrives: a pod this member dropped (lost an earlier gather,
// or gave up waiting for its item) is added again; one waiting in backoff or
// among the unschedulable is activated. Pods no longer pending are ignored:
// the gather decides without this member.
func requeueOnItem(ctx context.Context, key string, pods corelisters.PodLister, sel *selector.Selector, q internalqueue.SchedulingQueue) {
	ns, rest, ok := strings.Cut(key, "/")
	if !ok {
		return
	}
	name, uid, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	p, err := pods.Pods(ns).Get(name)
	if err != nil || string(p.UID) != uid || p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
		return
	}
	if sel.Undrop(p.UID) {
		q.Update(ctx, p, p)
		return
	}
	q.Activate(klog.FromContext(ctx), map[string]*v1.Pod{key: p})
}

// startWebhook starts the pod admission webhook on a leader-eligible member
// given --webhook-addr; the channel carries its offers to the intake while
// this member leads. Without a root-driven tree there is no intake to feed.
func startWebhook(cfg Config, cc *schedulerappconfig.CompletedConfig, rootDriven bool, reg prometheus.Registerer, log zerolog.Logger) (*webhook.Server, chan *v1.Pod, error) {
	switch {
	case cfg.WebhookAddr == "":
		if !cfg.WatchPods && rootDriven && cfg.LeaderEligible {
			log.Info().Msg("no --webhook-addr: the leader takes pending pods from its watch (as with --watch-pods)")
		}
		return nil, nil, nil
	case !cfg.LeaderEligible:
		return nil, nil, nil
	case !rootDriven:
		log.Warn().Msg("--webhook-addr needs the relay tree (--seeds): a member alone takes pods from its own queue; webhook not started")
		return nil, nil, nil
	}
	offers := make(chan *v1.Pod, 4096)
	hook, err := webhook.Start(webhook.Config{
		Addr:           cfg.WebhookAddr,
		Host:           cfg.WebhookHost,
		SchedulerNames: schedulerNames(cc),
		Offer: func(p *v1.Pod) {
			select {
			case offers <- p:
			default: // the intake is behind or not leading: the watch brings it
			}
		},
		Registerer: reg,
		Log:        log.With().Str("component", "webhook").Logger(),
	})
	if err != nil {
		return nil, nil, err
	}
	return hook, offers, nil
}

// registerWebhook points the cluster's webhook configuration at this
// member, now the leader, after dropping offers that arrived while it did not
// lead. A failure is logged: the watch still brings every pod.
func registerWebhook(ctx context.Context, cfg Config, cc *schedulerappconfig.CompletedConfig, hook *webhook.Server, offers chan *v1.Pod, log zerolog.Logger) {
	for drained := false; !drained; {
		select {
		case <-offers:
		default:
			drained = true
		}
	}
	err := webhook.Register(ctx, cc.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations(), webhook.Registration{
		Name:           cfg.LeaseName,
		URL:            hook.URL(),
		CABundle:       hook.CABundle(),
		SchedulerNames: schedulerNames(cc),
		TimeoutSeconds: 2,
	})
	if err != nil {
		log.Error().Err(err).Msg("could not register the pod admission webhook; pods come from the watch")
		return
	}
	log.Info().Str("url", hook.URL()).Str("configuration", cfg.LeaseName).Msg("pod admission webhook registered")
}

// schedulerNames are the profiles' scheduler names.
func schedulerNames(cc *schedulerappconfig.CompletedConfig) []string {
	var out []string
	for _, p := range cc.ComponentConfig.Profiles {
		out = append(out, p.SchedulerName)
	}
	return out
}
