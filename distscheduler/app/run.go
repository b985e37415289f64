package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
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
	shard := ""
	if scheduling {
		shard = shardSelector(cfg.Member)
	}
	cc, err := completeConfig(ctx, cfg.Scheduler, shard, cfg.AlsoDefaultScheduler)
	if err != nil {
		return err
	}
	if scheduling {
		if sched, err = newSchedulingMember(ctx, cfg, cc, reg, log); err != nil {
			return err
		}
	}

	var ready readiness
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.HTTPAddr != "" {
		srv, err := serveHTTP(cfg.HTTPAddr, reg, &ready, cfg.EnablePprof, log)
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
		if err := sched.syncCaches(ctx); err != nil {
			return err
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
	if scheduling {
		if err := sched.start(ctx, &wg, t); err != nil {
			return err
		}
	}

	var leaderErr error
	if cfg.LeaderEligible {
		l, err := newLeadership(cfg, cc, t, reg, log)
		if err != nil {
			return err
		}
		defer l.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			leaderErr = l.run(ctx)
		}()
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
	if leaderErr != nil && !errors.Is(leaderErr, context.Canceled) {
		return leaderErr
	}
	return nil
}
