// Package tree declares what distscheduler needs from the tree of members
// that joins the replicas into one scheduler. The root (the Lease holder)
// submits one item per pending pod, carrying the pod itself; every
// scheduling member receives the item, bids its best node for it, and hears
// from the item's gatherer whether it won. The relay module is the real tree
// (tree/relaytree); tree/solo is a member alone, with no network.
package tree

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/relay"
)

// Item is one pending pod on its way through the tree.
type Item struct {
	// Key names the pod (namespace/name/uid, see package podkey).
	Key string
	// Pod is the pod, Kubernetes protobuf (v1.Pod's Marshal).
	Pod []byte
	// Deadline is when the gatherer decides with the bids it has.
	Deadline time.Time
	// Ref is the tree implementation's own handle on the item.
	Ref any
}

// Bid is one member's answer for one item.
type Bid struct {
	// Node is the best node of the member's shard, "" when no node fits.
	Node string
	// Score is upstream's total (weighted, normalized) score of Node.
	Score int64
	// Reason says why no node fits when Node is "" (upstream's FitError
	// message for the member's shard).
	Reason string
}

// Feasible reports whether the bid names a node.
func (b Bid) Feasible() bool { return b.Node != "" }

// Verdict is what the gatherer told one bidder.
type Verdict struct {
	// Win: this member's node was chosen, it binds the pod. Otherwise it
	// forgets the pod: another member won it, or nobody did and the root
	// submits it again.
	Win bool
	// Reason is set when the verdict is not the gatherer's (none arrived in
	// time, or the member is leaving).
	Reason string
}

// Decision is an item's outcome as its root learns it.
type Decision = relay.Decision

// Member is a scheduling member's side of the tree.
type Member interface {
	// Self is this member's name.
	Self() string
	// Members lists the scheduling members (relay-only members excluded),
	// sorted, as this member currently sees them.
	Members() []string
	// MemberCount is len(Members()), cheap enough to ask once per pod (it
	// may lag a membership change by a moment).
	MemberCount() int
	// OnItem sets the receiver of the items that reach this member; nil
	// drops them. It must not block.
	OnItem(func(Item))
	// Report sends this member's bid for it to the item's gatherer and
	// calls done exactly once with the verdict. done must not block.
	Report(it Item, bid Bid, done func(Verdict))
}

// Root is the tree's root side: what the leader's intake submits through.
type Root interface {
	// Submit sends the items down the tree and returns their request ids
	// in order. Every item gets exactly one decision, at the latest
	// deadline from now (a moment later if its gatherer is lost), whether
	// or not any member bid on it: a member may drop an item it cannot
	// reach in time, and the root counts on the decision to free the
	// item's place.
	Submit(deadline time.Duration, items ...Item) ([]uint64, error)
	// OnDecision sets the receiver of the submitted items' decisions; it
	// must not block.
	OnDecision(func(Decision))
}

// Tree is one process's handle on the tree: both sides (any member may be
// named root when it takes the Lease).
type Tree interface {
	Member
	Root
}

// ErrClosed is returned once a tree member has left the tree.
var ErrClosed = errors.New("tree member closed")

// Hooks holds the receivers a tree implementation hands items and
// decisions to; implementations embed it for OnItem and OnDecision.
type Hooks struct {
	onItem     atomic.Pointer[func(Item)]
	onDecision atomic.Pointer[func(Decision)]
}

// OnItem implements Member.OnItem.
func (h *Hooks) OnItem(f func(Item)) { setHook(&h.onItem, f, f == nil) }

// OnDecision implements Root.OnDecision.
func (h *Hooks) OnDecision(f func(Decision)) { setHook(&h.onDecision, f, f == nil) }

// Item hands it to the item receiver; false when there is none.
func (h *Hooks) Item(it Item) bool {
	f := h.onItem.Load()
	if f != nil {
		(*f)(it)
	}
	return f != nil
}

// Decision hands d to the decision receiver, if any.
func (h *Hooks) Decision(d Decision) {
	if f := h.onDecision.Load(); f != nil {
		(*f)(d)
	}
}

func setHook[F any](p *atomic.Pointer[F], f F, isNil bool) {
	if isNil {
		p.Store(nil)
		return
	}
	p.Store(&f)
}
