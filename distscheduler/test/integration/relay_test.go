package integration

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/relaytree"
	"github.com/k8s1m/k8s1m/relay"
)

// TestShardedSchedulingRelay is TestShardedScheduling with the members
// joined by the real relay (memberlist gossip and gRPC on loopback): the
// Lease holder submits every pending pod as a tree item, members gather
// through the relay, and the pod nobody fits is marked unschedulable by the
// leader and submitted again until a fitting node appears.
//
// Known to fail today (2026-11-25, loaded 2-core machine): only 105 and 139
// of 600 pods were bound within 5 minutes. Members take pods in their own
// queue order and block on each verdict, so whenever their orders differ
// from the leader's submissions a gather waits for its deadline. It runs
// only with DISTSCHEDULER_RELAY_IT=1 until that is fixed (see README).
func TestShardedSchedulingRelay(t *testing.T) {
	if os.Getenv("DISTSCHEDULER_RELAY_IT") == "" {
		t.Skip("known to be too slow (see the comment); set DISTSCHEDULER_RELAY_IT=1 to run")
	}
	var mu sync.Mutex
	var seeds []string // gossip addresses of the members started so far
	shardedScenario(t, func(name string) treeFunc {
		return func(ctx context.Context, cfg app.Config, scheduling bool) (tree.Tree, func(), error) {
			rc := relay.DefaultLocalConfig()
			cfg.Relay = &rc
			cfg.GRPCAddr = "127.0.0.1:0"
			cfg.GossipAddr = "127.0.0.1"
			cfg.GossipPort = 0
			cfg.JoinRetry = 200 * time.Millisecond
			mu.Lock()
			cfg.Seeds = append([]string(nil), seeds...)
			mu.Unlock()
			tr, leave, err := app.RelayTree(ctx, cfg, scheduling)
			if err != nil {
				return nil, nil, err
			}
			m := tr.(*relaytree.Member)
			mu.Lock()
			seeds = append(seeds, m.GossipAddr())
			mu.Unlock()
			return tr, leave, nil
		}
	})
}
