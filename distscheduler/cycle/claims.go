package cycle

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
)

// claims keeps a member's scheduling loops from counting on the same free
// room. A bid holds its node (busy) from the check until its verdict
// (holds.go), and searches pass over busy nodes. A pod assumed in the shared
// cache (a won bid, or a hold assumed early) is counted by every loop that
// updates its snapshot afterwards; what remains is a loop whose snapshot is
// older. Every assume bumps the member's generation and stamps the node
// with it, and a claim found on a snapshot older than the node's stamp is
// refused (the loop searches again on a fresh snapshot). Pods that leave a
// node only free room and need no stamp.
type claims struct {
	mu      sync.Mutex
	gen     uint64
	assumed map[string]uint64 // generation of the node's newest assumed pod
	// open is, per loop, the generation of the snapshot its search runs
	// on (idle: none); stamps older than every open search are dropped.
	open    []uint64
	assumes int
	// busy counts the claims held, by node (string -> *atomic.Int32),
	// changed under mu. isBusy runs for every node every search filters,
	// from every filter worker at once, and bids hold nodes nearly all
	// the time: it reads without a lock, whose shared reader count the
	// workers would contend on, and without allocating. A node's counter
	// stays once made (at most one per node of the shard).
	busy sync.Map
	// buckets count the claims held by a hash of the node's name: a node
	// whose bucket is 0 is free without a look in busy, which is most
	// nodes (a member holds at most its bids in flight).
	buckets [busyBuckets]atomic.Int32
	seed    maphash.Seed
}

// busyBuckets is the number of claim buckets; with 32 bids in flight
// fewer than 1% of free nodes share a bucket with a held one.
const busyBuckets = 4096

func (c *claims) bucket(node string) *atomic.Int32 {
	return &c.buckets[maphash.String(c.seed, node)%busyBuckets]
}

const (
	idle = math.MaxUint64
	// pruneEvery is how many assumes pass between drops of old stamps.
	pruneEvery = 256
)

func newClaims(loops int) *claims {
	c := &claims{assumed: map[string]uint64{}, open: make([]uint64, loops), seed: maphash.MakeSeed()}
	for i := range c.open {
		c.open[i] = idle
	}
	return c
}

// held is node's claim counter, made on first use.
func (c *claims) held(node string) *atomic.Int32 {
	if v, ok := c.busy.Load(node); ok {
		return v.(*atomic.Int32)
	}
	v, _ := c.busy.LoadOrStore(node, new(atomic.Int32))
	return v.(*atomic.Int32)
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

// isBusy reports whether a claim holds node (the selector's Busy, called
// from the filter's parallel workers): searches pass over it.
func (c *claims) isBusy(node string) bool {
	if c.bucket(node).Load() == 0 {
		return false
	}
	v, ok := c.busy.Load(node)
	return ok && v.(*atomic.Int32).Load() > 0
}

// claim holds node for a bid found on a snapshot of generation seen, until
// release. It refuses a node another claim holds, or on which a pod was
// assumed after that snapshot.
func (c *claims) claim(node string, seen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.held(node)
	if n.Load() > 0 || c.assumed[node] > seen {
		return false
	}
	n.Add(1)
	c.bucket(node).Add(1)
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
	if n := c.held(node); n.Load() > 0 {
		n.Add(-1)
		c.bucket(node).Add(-1)
	}
}
