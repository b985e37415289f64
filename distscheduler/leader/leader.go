// Package leader elects the distscheduler leader with a Kubernetes Lease
// (client-go leaderelection): fenced by the API server, so at most one member
// writes shard labels at a time. A member that loses the lease campaigns
// again until its context ends.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config configures the election.
type Config struct {
	// Client writes the Lease.
	Client coordinationv1.CoordinationV1Interface
	// Namespace and Name locate the Lease.
	Namespace, Name string
	// Identity is this member's name in the Lease.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod as in client-go.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Lead runs while this member leads; its context ends when leadership does.
	Lead func(ctx context.Context)
	// Registerer, when set, gets the is-leader gauge.
	Registerer prometheus.Registerer
	Log        zerolog.Logger
}

// Run campaigns until ctx ends. On cancellation a held lease is released so
// the next leader need not wait for it to expire.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.Lead == nil || cfg.Identity == "" {
		return errors.New("leader: Client, Lead and Identity are required")
	}
	isLeader := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "distscheduler_leader_is_leader",
		Help: "1 while this member holds the distscheduler Lease.",
	})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(isLeader); err != nil {
			return fmt.Errorf("register leader metric: %w", err)
		}
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     cfg.Client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		var leading atomic.Bool
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					leading.Store(true)
					isLeader.Set(1)
					cfg.Log.Info().Str("lease", cfg.Namespace+"/"+cfg.Name).Msg("became leader")
					cfg.Lead(ctx)
				},
				OnStoppedLeading: func() {
					isLeader.Set(0)
					if leading.Load() {
						cfg.Log.Info().Msg("stopped leading")
					}
				},
				OnNewLeader: func(id string) {
					if id != cfg.Identity {
						cfg.Log.Info().Str("leader", id).Msg("leader observed")
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
	}
	return nil
}
