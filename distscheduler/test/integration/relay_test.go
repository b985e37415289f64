package integration

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/relaytree"
	"github.com/k8s1m/k8s1m/relay"
)

// TestShardedSchedulingRelay runs three members joined by the real relay
// (memberlist gossip and gRPC on loopback) on a real API server with a few
// thousand nodes and a mixed workload: the Lease holder submits every
// pending pod, the pod itself in its tree item; members bid through the
// relay and only the winner binds. The leader is killed half way. Every pod
// ends bound exactly once to a node its constraints accept and labelled with
// its node's shard; a pod no node fits stays pending with
// PodScheduled=False (written by the leader) and is bound once a fitting
// node appears.
func TestShardedSchedulingRelay(t *testing.T) {
	shardedScenario(t, relayTrees())
}

// relayTrees returns, per member name, a tree function that joins the
// members started so far through the real relay on loopback.
func relayTrees() func(name string) treeFunc {
	var mu sync.Mutex
	var seeds []string // gossip addresses of the members started so far
	return func(name string) treeFunc {
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
	}
}
