package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/intake"
	"github.com/k8s1m/k8s1m/distscheduler/leader"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/metadata"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
)

// leadership is a leader-eligible member's leader role: while it holds the
// Lease it is the tree's root (the pod intake submits every pending pod,
// the pod in its item), it keeps the shards even (shard controller), and it
// points the cluster's admission webhooks at itself (pods, for an early
// intake; nodes, for a shard label at creation).
type leadership struct {
	cfg    Config
	cc     *schedulerappconfig.CompletedConfig
	root   tree.Tree
	ctrl   *shard.Controller
	hook   *webhook.Server // nil without --webhook-addr
	offers chan *v1.Pod
	intake *intake.Metrics
	reg    prometheus.Registerer
	log    zerolog.Logger
	// err is why campaigning stopped, other than ctx ending; read it once
	// the goroutine start began is done.
	err error
}

func newLeadership(cfg Config, cc *schedulerappconfig.CompletedConfig, root tree.Tree, reg prometheus.Registerer, log zerolog.Logger) (*leadership, error) {
	meta, err := metadata.NewForConfig(cc.KubeConfig)
	if err != nil {
		return nil, err
	}
	ctrl, err := shard.NewController(shard.ControllerConfig{
		Client:       meta,
		Pods:         cc.Client.CoreV1(),
		NodeSelector: cfg.NodeSelector,
		Members:      root.Members,
		Metrics:      shard.NewMetrics(reg),
		Log:          log,
	})
	if err != nil {
		return nil, err
	}
	l := &leadership{cfg: cfg, cc: cc, root: root, ctrl: ctrl, intake: intake.NewMetrics(reg), reg: reg, log: log}
	if cfg.WebhookAddr != "" {
		l.offers = make(chan *v1.Pod, 4096)
		l.hook, err = webhook.Start(webhook.Config{
			Addr:           cfg.WebhookAddr,
			Host:           cfg.WebhookHost,
			SchedulerNames: schedulerNames(cc),
			Offer: func(p *v1.Pod) {
				select {
				case l.offers <- p:
				default: // the intake is behind or not leading: the watch brings it
				}
			},
			AssignNode: ctrl.AssignNew,
			ShardLabel: shard.Label,
			Registerer: reg,
			Log:        log.With().Str("component", "webhook").Logger(),
		})
		if err != nil {
			return nil, err
		}
	} else {
		log.Info().Msg("no --webhook-addr: the leader takes pending pods from its watch and labels new nodes with a second write")
	}
	return l, nil
}

// close stops the webhook server.
func (l *leadership) close() {
	if l.hook == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.hook.Close(ctx); err != nil {
		l.log.Warn().Err(err).Msg("stopping the webhook")
	}
}

// start campaigns for the Lease on a goroutine of wg until ctx ends.
func (l *leadership) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			l.err = err
		}
	}()
}

// run campaigns for the Lease until ctx ends, leading while it holds it.
func (l *leadership) run(ctx context.Context) error {
	return leader.Run(ctx, leader.Config{
		Client:        l.cc.Client.CoordinationV1(),
		Namespace:     l.cfg.LeaseNamespace,
		Name:          l.cfg.LeaseName,
		Identity:      l.cfg.Member,
		LeaseDuration: l.cfg.LeaseDuration,
		RenewDeadline: l.cfg.RenewDeadline,
		RetryPeriod:   l.cfg.RetryPeriod,
		Registerer:    l.reg,
		Log:           l.log,
		Lead:          l.lead,
	})
}

// lead is one leadership term.
func (l *leadership) lead(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if l.hook != nil {
		l.registerWebhooks(ctx)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := intake.Run(ctx, intake.Config{
			Client:         l.cc.Client,
			SchedulerNames: schedulerNames(l.cc),
			Root:           l.root,
			Members:        l.root.Members,
			Deadline:       l.cfg.GatherDeadline(),
			InFlight:       l.cfg.InFlightItems(),
			Offers:         l.offers,
			Metrics:        l.intake,
			Log:            l.log,
		})
		if err != nil {
			l.log.Error().Err(err).Msg("pod intake stopped")
		}
	}()
	if err := l.ctrl.Run(ctx); err != nil {
		l.log.Error().Err(err).Msg("shard controller stopped")
	}
}

// registerWebhooks points the cluster's webhook configurations at this
// member, now the leader, after dropping offers that arrived while it did
// not lead. A failure is logged: the watch still brings every pod, and the
// shard controller still labels every node.
func (l *leadership) registerWebhooks(ctx context.Context) {
	for drained := false; !drained; {
		select {
		case <-l.offers:
		default:
			drained = true
		}
	}
	adm := l.cc.Client.AdmissionregistrationV1()
	if l.cfg.NoPodWebhook {
		l.log.Info().Msg("pod admission webhook off (--pod-webhook=false); pods come from the watch")
	} else if err := webhook.Register(ctx, adm.ValidatingWebhookConfigurations(), webhook.Registration{
		Name:           l.cfg.LeaseName,
		URL:            l.hook.URL(),
		CABundle:       l.hook.CABundle(),
		SchedulerNames: schedulerNames(l.cc),
		TimeoutSeconds: 2,
	}); err != nil {
		l.log.Error().Err(err).Msg("could not register the pod admission webhook; pods come from the watch")
	} else {
		l.log.Info().Str("url", l.hook.URL()).Str("configuration", l.cfg.LeaseName).Msg("pod admission webhook registered")
	}
	err := webhook.RegisterNodes(ctx, adm.MutatingWebhookConfigurations(), webhook.NodeRegistration{
		Name:           l.cfg.LeaseName,
		URL:            l.hook.NodeURL(),
		CABundle:       l.hook.CABundle(),
		ShardLabel:     shard.Label,
		NodeSelector:   l.cfg.NodeSelector,
		TimeoutSeconds: 2,
	})
	if err != nil {
		l.log.Error().Err(err).Msg("could not register the node admission webhook; new nodes get their shard label from the controller")
	} else {
		l.log.Info().Str("url", l.hook.NodeURL()).Msg("node admission webhook registered")
	}
}

// schedulerNames are the profiles' scheduler names.
func schedulerNames(cc *schedulerappconfig.CompletedConfig) []string {
	var out []string
	for _, p := range cc.ComponentConfig.Profiles {
		out = append(out, p.SchedulerName)
	}
	return out
}
