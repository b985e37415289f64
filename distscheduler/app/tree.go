package app

import (
	"context"
	"errors"
	"sync"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/inproc"
)

// DefaultTree is the tree a member joins when Config.NewTree is nil. Without
// seeds the member is alone: a single-member tree whose gathers decide as
// soon as the member bids.
func DefaultTree(_ context.Context, cfg Config, scheduling bool) (tree.Tree, func(), error) {
	if len(cfg.Seeds) > 0 {
		return nil, nil, errors.New("multi-process trees need the relay module, which this build does not include yet")
	}
	m := inproc.NewHub(cfg.GatherDeadline()).Join(cfg.Member, scheduling)
	var once sync.Once
	return m, func() { once.Do(m.Leave) }, nil
}
