package cycle

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// holds are a member's bids awaiting their verdicts, by pod UID. A bid holds
// its node lazily: the node stays claimed (busy to every search of the
// member) until the verdict, and the pod is not assumed in upstream's cache.
// With M members a pod is bid on by up to M and won by one, so a loss,
// nearly every bid, costs no assume, no forget and no snapshot update of the
// node on any loop. A win assumes the pod then, before upstream's Reserve.
//
// A busy node is passed over even where it has room for another pod, which
// an assumed pod would leave. So a search that finds no node while lazy
// holds are out assumes them all (assumeAll) and searches again: in a shard
// crowded by the member's own bids, pods are placed as if every bid were
// assumed, as upstream counts the pods it is binding.
type holds struct {
	mu   sync.Mutex
	bids map[types.UID]*bid
	// lazy counts the bids not assumed yet.
	lazy int
}

func newHolds() *holds { return &holds{bids: map[types.UID]*bid{}} }

// add records a bid whose node its loop has claimed.
func (h *holds) add(b *bid) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bids[b.pod.UID] = b
	h.lazy++
}

// nodeOf is the node a bid in flight for the pod with uid holds.
func (h *holds) nodeOf(uid types.UID) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.bids[uid]
	if !ok {
		return "", false
	}
	return b.node, true
}

// won ends b's hold on a win: the pod is assumed on its node unless a
// crowded search has already (an error leaves nothing assumed and the
// node free).
func (h *holds) won(c *Cycle, b *bid) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.remove(b) {
		return nil
	}
	defer c.claims.release(b.node)
	return c.assume(b)
}

// lost ends b's hold on a loss (or no verdict): the node is free again, or
// the pod a crowded search assumed early is forgotten.
func (h *holds) lost(c *Cycle, b *bid) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.remove(b) {
		c.forget(b)
		return
	}
	c.claims.release(b.node)
}

// remove drops b from the holds and reports whether its pod is assumed
// already; h.mu is held.
func (h *holds) remove(b *bid) bool {
	delete(h.bids, b.pod.UID)
	if !b.assumed {
		h.lazy--
	}
	return b.assumed
}

// assumeAll assumes the pod of every lazy hold and returns how many it
// assumed; h.lazy > 0 is checked first without the cache.
func (h *holds) assumeAll(c *Cycle) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lazy == 0 {
		return 0
	}
	n := 0
	for _, b := range h.bids {
		if b.assumed {
			continue
		}
		if err := c.assume(b); err != nil {
			c.cfg.Log.Debug().Err(err).Str("node", b.node).Msg("could not assume a held bid early; it stays a claim")
			continue
		}
		c.claims.release(b.node)
		h.lazy--
		n++
	}
	return n
}

// assume puts b's pod on its node in the shared cache and stamps the node,
// so that loops on older snapshots do not count on its room; the caller
// ends the claim after it.
func (c *Cycle) assume(b *bid) error {
	pod := b.pod
	pod.Spec.NodeName = b.node
	if err := c.cfg.Cache.AssumePod(c.log, pod); err != nil {
		pod.Spec.NodeName = ""
		return fmt.Errorf("assume on %s: %w", b.node, err)
	}
	c.claims.assumedOn(b.node)
	b.assumed = true
	return nil
}
