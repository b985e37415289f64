// Package solo is the tree of a member alone (distscheduler without
// --seeds): no network, no gossip. An item submitted reaches the member
// itself, and its bid is the decision: a feasible bid wins, an infeasible one
// decides "nobody fits" with the member's reason.
package solo

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
)

// Tree is a one-member tree; it implements tree.Tree.
type Tree struct {
	tree.Hooks
	name   string
	nextID atomic.Uint64

	closeOnce sync.Once
	closed    atomic.Bool
}

var _ tree.Tree = (*Tree)(nil)

// New returns the tree of the member name.
func New(name string) *Tree { return &Tree{name: name} }

// Close makes later submissions fail with tree.ErrClosed.
func (t *Tree) Close() { t.closeOnce.Do(func() { t.closed.Store(true) }) }

// Self implements tree.Member.
func (t *Tree) Self() string { return t.name }

// Members implements tree.Member: the member itself.
func (t *Tree) Members() []string { return []string{t.name} }

// MemberCount implements tree.Member.
func (t *Tree) MemberCount() int { return 1 }

// Submit implements tree.Root: each item goes straight to the member.
func (t *Tree) Submit(deadline time.Duration, items ...tree.Item) ([]uint64, error) {
	if t.closed.Load() {
		return nil, tree.ErrClosed
	}
	ids := make([]uint64, len(items))
	dl := time.Now().Add(deadline)
	for i := range items {
		ids[i] = t.nextID.Add(1)
		items[i].Deadline = dl
		items[i].Ref = ids[i]
	}
	for _, it := range items {
		if !t.Item(it) {
			t.decide(it, tree.Bid{Reason: "the member does not schedule"}, false)
		}
	}
	return ids, nil
}

// Report implements tree.Member: the only bid decides.
func (t *Tree) Report(it tree.Item, bid tree.Bid, done func(tree.Verdict)) {
	done(tree.Verdict{Win: bid.Feasible()})
	t.decide(it, bid, true)
}

func (t *Tree) decide(it tree.Item, bid tree.Bid, reported bool) {
	id, _ := it.Ref.(uint64)
	d := tree.Decision{RequestID: id, Key: it.Key, Gatherer: t.name}
	switch {
	case bid.Feasible():
		d.Winner, d.Node, d.Score, d.Reports = t.name, bid.Node, bid.Score, 1
	case reported:
		d.Reports, d.NoWinner, d.Reason = 1, relay.NoFeasibleNode, bid.Reason
	default:
		d.NoWinner, d.Reason = relay.NoReports, bid.Reason
	}
	t.Decision(d)
}
