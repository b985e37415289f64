// Package testtree joins distscheduler members started in one test process
// through the real relay on loopback, as separate processes would
// (memberlist gossip, gRPC): each member started joins the ones before it.
package testtree

import (
	"context"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/relaytree"
	"github.com/k8s1m/k8s1m/relay"
)

// Func is app.Config.NewTree.
type Func = func(ctx context.Context, cfg app.Config, scheduling bool) (tree.Tree, func(), error)

// Relay returns a tree constructor for app.Config.NewTree; every member
// built with it joins the members built before it, and the given gossip
// addresses (a tree member the test runs itself, e.g. a root).
func Relay(join ...string) Func {
	var mu sync.Mutex
	seeds := append([]string(nil), join...) // gossip addresses of the members started so far
	return func(ctx context.Context, cfg app.Config, scheduling bool) (tree.Tree, func(), error) {
		rc := relay.DefaultLocalConfig()
		cfg.Relay = &rc
		cfg.GRPCAddr = "127.0.0.1:0"
		cfg.GossipAddr = "127.0.0.1"
		cfg.GossipPort = 0
		cfg.JoinRetry = 200 * time.Millisecond
		// One member at a time, so that members started at once (the
		// bench's child starts them in parallel) still each join the ones
		// before them instead of forming separate gossip clusters.
		mu.Lock()
		defer mu.Unlock()
		cfg.Seeds = append([]string(nil), seeds...)
		tr, leave, err := app.RelayTree(ctx, cfg, scheduling)
		if err != nil {
			return nil, nil, err
		}
		seeds = append(seeds, tr.(*relaytree.Member).GossipAddr())
		return tr, leave, nil
	}
}
