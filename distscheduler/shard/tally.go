package shard

import (
	"sync"
	"time"
)

// tally counts each member's nodes as the leader's node informer sees them,
// plus the nodes the admission webhook has given a member and the informer
// has not seen yet. New nodes go to the member with the fewest, so a shard
// gets its nodes as they are created and the controller's pass finds
// nothing to move: creating N nodes costs N writes, not 2N.
type tally struct {
	mu      sync.Mutex
	labels  map[string]string   // node -> shard label, as the informer sees it
	held    map[string]int      // member -> nodes labelled with it
	pending map[string]assigned // node -> the webhook's choice, until seen
}

type assigned struct {
	member string
	at     time.Time
}

func newTally() *tally {
	return &tally{labels: map[string]string{}, held: map[string]int{}, pending: map[string]assigned{}}
}

// set records a node's label as seen by the informer ("" deletes it).
func (t *tally) set(node, label string, present bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.labels[node]; ok {
		if t.held[old]--; t.held[old] <= 0 {
			delete(t.held, old)
		}
		delete(t.labels, node)
	}
	delete(t.pending, node)
	if present {
		t.labels[node] = label
		t.held[label]++
	}
}

// assign picks the member for a node being created: the one holding the
// fewest nodes, pending ones counted, ties to the first in members' order.
// A node the tally already knows keeps its member.
func (t *tally) assign(node string, members []string, now time.Time) (string, bool) {
	if len(members) == 0 {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.pending[node]; ok {
		return a.member, true
	}
	counts := make(map[string]int, len(members))
	for _, a := range t.pending {
		counts[a.member]++
	}
	best, bestN := "", 0
	for _, m := range members {
		n := t.held[m] + counts[m]
		if best == "" || n < bestN {
			best, bestN = m, n
		}
	}
	t.pending[node] = assigned{member: best, at: now}
	return best, true
}

// settled reports whether every webhook assignment younger than grace has
// been seen by the informer (older ones are forgotten: their creation
// failed after admission). A pass waits until then, so it does not move
// nodes whose creation is still on its way.
func (t *tally) settled(now time.Time, grace time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n, a := range t.pending {
		if now.Sub(a.at) >= grace {
			delete(t.pending, n)
		}
	}
	return len(t.pending) == 0
}
