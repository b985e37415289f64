// Package inproc is an in-process tree: every member lives in one process and
// gathers meet in a shared Hub. It decides exactly like the relay-backed tree
// (tree.Pick, deadline from the first bid) and exists so the Kubernetes side
// can be tested with several members in one test without a network.
package inproc

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
)

// Hub is where the members of one in-process tree meet.
type Hub struct {
	deadline time.Duration // gather deadline, counted from a round's first bid
	retain   time.Duration // how long a decided round answers late bidders

	mu      sync.Mutex // guards members and rounds
	members map[string]bool
	rounds  map[string]*round
}

// round is one gather for one pod key.
type round struct {
	expected int
	bids     []tree.Bid
	decided  bool
	verdict  tree.Verdict // written once before done is closed
	done     chan struct{}
	timer    *time.Timer
}

// NewHub returns a hub whose gathers decide at the latest deadline after
// their first bid.
func NewHub(deadline time.Duration) *Hub {
	return &Hub{
		deadline: deadline,
		retain:   10 * deadline,
		members:  map[string]bool{},
		rounds:   map[string]*round{},
	}
}

// Join adds a member. Scheduling members bid; relay-only ones do not count
// towards a gather's expected bids.
func (h *Hub) Join(name string, scheduling bool) *Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members[name] = scheduling
	return &Member{hub: h, name: name}
}

func (h *Hub) schedulingMembers() []string {
	var out []string
	for n, s := range h.members {
		if s {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Member is one member's handle on the hub; it implements tree.Tree.
type Member struct {
	hub  *Hub
	name string
}

var _ tree.Tree = (*Member)(nil)

// Self implements tree.Tree.
func (m *Member) Self() string { return m.name }

// Members implements tree.Tree.
func (m *Member) Members() []string {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	return m.hub.schedulingMembers()
}

// Leave removes the member. Open gathers stop waiting for its bid.
func (m *Member) Leave() {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.members[m.name] {
		delete(h.members, m.name)
		return
	}
	delete(h.members, m.name)
	for key, r := range h.rounds {
		if r.decided || r.hasBid(m.name) {
			continue
		}
		r.expected--
		if len(r.bids) >= r.expected {
			h.decideLocked(key, r)
		}
	}
}

// Gather implements tree.Tree.
func (m *Member) Gather(ctx context.Context, key string, bid tree.Bid) (tree.Verdict, error) {
	h := m.hub
	bid.Member = m.name
	h.mu.Lock()
	if _, ok := h.members[m.name]; !ok {
		h.mu.Unlock()
		return tree.Verdict{}, tree.ErrClosed
	}
	r := h.rounds[key]
	if r != nil && r.decided {
		if r.verdict.Winner != "" && !r.hasBid(m.name) {
			// A straggler of a decided round: the pod is someone else's.
			v := r.verdict
			h.mu.Unlock()
			return v, nil
		}
		// A new attempt at a pod nobody could place, or a retry by a member
		// that already bid (its earlier attempt failed after the verdict).
		r = nil
	}
	if r == nil {
		r = &round{expected: len(h.schedulingMembers()), done: make(chan struct{})}
		h.rounds[key] = r
		r.timer = time.AfterFunc(h.deadline, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.decideLocked(key, r)
		})
	}
	r.bids = append(r.bids, bid)
	if len(r.bids) >= r.expected {
		h.decideLocked(key, r)
	}
	h.mu.Unlock()

	select {
	case <-r.done:
		return r.verdict, nil
	case <-ctx.Done():
		return tree.Verdict{}, ctx.Err()
	}
}

// decideLocked closes a round once; h.mu must be held.
func (h *Hub) decideLocked(key string, r *round) {
	if r.decided {
		return
	}
	r.decided = true
	r.timer.Stop()
	r.verdict = tree.Pick(key, r.bids, r.expected)
	close(r.done)
	time.AfterFunc(h.retain, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.rounds[key] == r {
			delete(h.rounds, key)
		}
	})
}

func (r *round) hasBid(member string) bool {
	for _, b := range r.bids {
		if b.Member == member {
			return true
		}
	}
	return false
}
