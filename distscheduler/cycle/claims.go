package cycle

import (
	"math"
	"sync"
	"sync/atomic"
)

// claims keeps a member's scheduling loops from counting on the same free
// room. Every bid's pod is assumed in the shared cache, so a loop that
// updates its snapshot afterwards counts it; what remains is a loop whose
// snapshot is older. Every assume bumps the member's generation and stamps
// the node with it, and a claim found on a snapshot older than the node's
// stamp is refused (the loop searches again on a fresh snapshot). A claim
// holds its node (busy) from the check until the stamp, so two loops cannot
// both pass the check before either has assumed. Pods that leave a node
// only free room and need no stamp.
type claims struct {
	mu      sync.RWMutex
	gen     uint64
	busy    map[string]int    // claims between their check and their stamp, by node
	assumed map[string]uint64 // generation of the node's newest assumed pod
	// open is, per loop, the generation of the snapshot its search runs
	// on (idle: none); stamps older than every open search are dropped.
	open    []uint64
	assumes int
	// held counts the claims in busy. isBusy runs for every node every
	// search filters, from every filter worker at once: while no claim is
	// held (nearly always) it answers from this counter, without taking
	// the lock whose shared reader count the workers would contend on.
	held atomic.Int64
}

const (
	idle = math.MaxUint64
	// pruneEvery is how many assumes pass between drops of old stamps.
	pruneEvery = 256
)

func newClaims(loops int) *claims {
	c := &claims{busy: map[string]int{}, assumed: map[string]uint64{}, open: make([]uint64, loops)}
	for i := range c.open {
		c.open[i] = idle
	}
	return c
}

// begin is called by loop i before it updates its snapshot; every assume
// stamped at or below the generation it returns is in that snapshot.
func (c *claims) begin(i int) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open[i] = c.gen
	return c.gen
}

// end closes loop i's search.
func (c *claims) end(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open[i] = idle
}

// isBusy reports whether a claim on node is under way (the selector's Busy,
// called from the filter's parallel workers): searches pass over it.
func (c *claims) isBusy(node string) bool {
	if c.held.Load() == 0 {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.busy[node] > 0
}

// claim holds node for a bid found on a snapshot of generation seen, until
// release. It refuses a node another claim holds, or on which a pod was
// assumed after that snapshot.
func (c *claims) claim(node string, seen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy[node] > 0 || c.assumed[node] > seen {
		return false
	}
	c.busy[node]++
	c.held.Add(1)
	return true
}

// assumedOn stamps node: a pod was just assumed on it in the cache.
func (c *claims) assumedOn(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.assumed[node] = c.gen
	if c.assumes++; c.assumes%pruneEvery == 0 {
		oldest := c.gen
		for _, g := range c.open {
			oldest = min(oldest, g)
		}
		for n, g := range c.assumed {
			if g <= oldest {
				delete(c.assumed, n)
			}
		}
	}
}

// release ends a claim's hold on node.
func (c *claims) release(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.busy[node]; ok {
		c.held.Add(-1)
	}
	if c.busy[node]--; c.busy[node] <= 0 {
		delete(c.busy, node)
	}
}
