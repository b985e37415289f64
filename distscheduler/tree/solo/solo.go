// Package solo is the tree of a member alone (distscheduler without
// --seeds): no network, no gossip. An item submitted reaches the member
// itself, and its bid is the decision: a feasible bid wins, an infeasible one
// decides "nobody fits" with the member's reason. An item the member does
// not bid on by its deadline (it dropped the item from a full queue, or the
// deadline passed before the member reached it) is decided "no reports" at
// the deadline, as a relay gatherer decides it, so every submitted item has
// exactly one decision.
package solo

import (
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
)

// Tree is a one-member tree; it implements tree.Tree.
type Tree struct {
	tree.Hooks
	name string

	mu     sync.Mutex
	nextID uint64
	// open holds the items submitted and not decided yet, each with the
	// timer that decides it at its deadline.
	open   map[uint64]*time.Timer
	closed bool
}

var _ tree.Tree = (*Tree)(nil)

// New returns the tree of the member name.
func New(name string) *Tree { return &Tree{name: name, open: map[uint64]*time.Timer{}} }

// Close makes later submissions fail with tree.ErrClosed; items still open
// get no decision (their root is going too).
func (t *Tree) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for id, tm := range t.open {
		tm.Stop()
		delete(t.open, id)
	}
}

// Self implements tree.Member.
func (t *Tree) Self() string { return t.name }

// Members implements tree.Member: the member itself.
func (t *Tree) Members() []string { return []string{t.name} }

// MemberCount implements tree.Member.
func (t *Tree) MemberCount() int { return 1 }

// Submit implements tree.Root: each item goes straight to the member.
func (t *Tree) Submit(deadline time.Duration, items ...tree.Item) ([]uint64, error) {
	ids := make([]uint64, len(items))
	dl := time.Now().Add(deadline)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, tree.ErrClosed
	}
	for i := range items {
		t.nextID++
		id := t.nextID
		ids[i] = id
		items[i].Deadline = dl
		items[i].Ref = id
		it := items[i]
		t.open[id] = time.AfterFunc(deadline, func() { t.expire(it) })
	}
	t.mu.Unlock()
	for _, it := range items {
		if !t.Item(it) && t.take(it) {
			t.decide(it, tree.Bid{Reason: "the member does not schedule"}, false)
		}
	}
	return ids, nil
}

// Report implements tree.Member: the only bid decides, unless the item was
// decided at its deadline already; then the bid lost.
func (t *Tree) Report(it tree.Item, bid tree.Bid, done func(tree.Verdict)) {
	if !t.take(it) {
		done(tree.Verdict{})
		return
	}
	done(tree.Verdict{Win: bid.Feasible()})
	t.decide(it, bid, true)
}

// expire decides an item nobody bid on by its deadline.
func (t *Tree) expire(it tree.Item) {
	if t.take(it) {
		t.decide(it, tree.Bid{Reason: "no bid before the deadline"}, false)
	}
}

// take ends the item's wait for a decision; false when it was decided (or the
// tree closed) before.
func (t *Tree) take(it tree.Item) bool {
	id, _ := it.Ref.(uint64)
	t.mu.Lock()
	defer t.mu.Unlock()
	tm, ok := t.open[id]
	if ok {
		tm.Stop()
		delete(t.open, id)
	}
	return ok
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
