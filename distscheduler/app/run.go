package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
)

// Run runs one member until ctx ends. A member has up to three roles, each
// wired in its own file: it schedules (member.go: upstream's scheduler over
// its shard, fed by the tree), it may lead (lead.go: the pod intake, the
// shard controller and the webhooks, while it holds the Lease), and it
// always relays (the tree, tree.go).
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

	var sched *schedulingMember
	shardSel := ""
	var adopter *shard.Adopter
	var observeNode func(*v1.Node)
	if scheduling {
		shardSel = shardSelector(cfg.Member)
		var err error
		if adopter, err = shard.NewAdopter(shard.AdopterConfig{Member: cfg.Member, Metrics: shard.NewAdoptMetrics(reg), Log: log}); err != nil {
			return err
		}
		observeNode = adopter.Observe
	}
	cc, err := completeConfig(ctx, cfg.Scheduler, shardSel, observeNode, cfg.AlsoDefaultScheduler)
	if err != nil {
		return err
	}
	if scheduling {
		if sched, err = newSchedulingMember(ctx, cfg, cc, adopter, reg, log); err != nil {
			return err
		}
	}

	var ready readiness
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := serveOps(ctx, &wg, cfg, reg, &ready, log); err != nil {
		return err
	}
	if scheduling {
		if err := sched.syncCaches(ctx); err != nil {
			return err
		}
	}

	// Join the tree only once the caches are warm, so gathers never wait
	// for a member that cannot bid yet.
	t, leave, err := joinTree(ctx, cfg, scheduling, reg, log)
	if err != nil {
		return err
	}
	defer leave()
	if scheduling {
		if err := sched.start(ctx, &wg, t); err != nil {
			return err
		}
	}

	var l *leadership
	if cfg.LeaderEligible {
		if l, err = newLeadership(cfg, cc, t, reg, log); err != nil {
			return err
		}
		defer l.close()
		l.start(ctx, &wg)
	}

	ready.set()
	log.Info().Bool("scheduling", scheduling).Bool("leader_eligible", cfg.LeaderEligible).
		Dur("gather_deadline", cfg.GatherDeadline()).Msg("member running")
	if cfg.Ready != nil {
		cfg.Ready()
	}
	<-ctx.Done()
	cancel()
	wg.Wait()
	if l != nil {
		return l.err
	}
	return nil
}
