package integration

import (
	"testing"

	"github.com/k8s1m/k8s1m/distscheduler/internal/testtree"
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
	join := testtree.Relay()
	return func(string) treeFunc { return join }
}
