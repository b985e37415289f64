// Package tree declares what a distscheduler member needs from the tree of
// members that joins the replicas into one scheduler: who the scheduling
// members are, and a gather step that collects every member's best placement
// for a pod and names one winner. The real implementation is backed by the
// relay module; tree/inproc is an in-process one for tests.
package tree

import (
	"context"
	"errors"
)

// Bid is one member's answer for one pod: the best node on its own shard and
// the score upstream's Score plugins gave that node.
type Bid struct {
	// Member is the bidding member's name.
	Member string
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

// Verdict is the gatherer's decision for one pod.
type Verdict struct {
	// Winner is the member that binds the pod, "" when no member could place it.
	Winner string
	// Node and Score are the winning bid's.
	Node  string
	Score int64
	// Bids is how many bids the decision saw; Expected how many members were
	// asked. Expected-Bids members straggled past the deadline.
	Bids     int
	Expected int
}

// Stragglers is the number of members whose bids missed the decision.
func (v Verdict) Stragglers() int {
	if v.Expected > v.Bids {
		return v.Expected - v.Bids
	}
	return 0
}

// Elsewhere is the Winner of a verdict that only tells this member it lost.
// The relay-backed tree tells a loser "lose" without naming the winner: the
// pod went to another member, or to nobody, in which case the tree's root
// (the leader) reports it unschedulable and submits it again. Either way the
// member drops the pod; it comes back when the pod is submitted again.
const Elsewhere = "(elsewhere)"

// ErrClosed is returned once a tree member has left the tree.
var ErrClosed = errors.New("tree member closed")

// Tree is one member's view of the tree.
type Tree interface {
	// Self is this member's name.
	Self() string
	// Members lists the scheduling members (relay-only members excluded),
	// sorted, as this member currently sees them.
	Members() []string
	// Gather submits this member's bid for the pod named key and blocks until
	// the pod's gatherer decides: when every scheduling member has bid, or at
	// the gather deadline, whichever comes first. Members bidding on the same
	// key concurrently get the same verdict.
	Gather(ctx context.Context, key string, bid Bid) (Verdict, error)
}
