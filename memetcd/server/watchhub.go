package server

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/k8s1m/k8s1m/memetcd/keys"
	"github.com/k8s1m/k8s1m/memetcd/store"
)

// watchHub wakes a watch stream only when a new event falls in one of its
// watchers' ranges. kube-apiserver opens one etcd client, and so one watch
// stream, per resource (about 70), each watching its own prefix; if every
// change woke every stream, each write would cost ~70 goroutine wake-ups and
// event-log reads for one or two deliveries, which under Kubernetes' load
// was most of memetcd's CPU. The store hands the hub each run of events as
// it publishes them (store.OnPublish), on the writer's goroutine, and the
// hub finds the streams each event matches through an index of the watched
// prefixes (hubIndex), as etcd's watchable store finds the synced watchers
// of an event's key. No goroutine of the hub's own sits between a write and
// the stream that sends it.
type watchHub struct {
	mu   sync.Mutex
	subs map[*watchStream]struct{}
	// stale says a stream was added or removed or changed its ranges since
	// idx was built; the next match rebuilds idx first.
	stale atomic.Bool
	idx   hubIndex // under mu
	batch uint64   // under mu: counts wakeMatching calls

	// Inline delivery (set by LeanServer before serving): while some writer is
	// between beginWrite and endWrite, a stream an event wakes is queued
	// in pending instead, and that writer sends it its events on its own
	// goroutine after the store call (watchStream.deliverInline). A write
	// made with no writer inside (a lease expiring) wakes streams as before.
	inline  bool
	writers atomic.Int32
	pending []*watchStream // under mu
}

// hubIndex finds the streams an event key may wake without trying every
// stream's ranges. kube-apiserver watches whole resource prefixes
// ("/registry/pods/", range_end its PrefixEnd): a stream whose watchers all
// select such slash-ended prefixes is found by looking the key's own
// slash-ended prefixes up in byPrefix (a few map lookups per event, however
// many streams). Any other stream is in others and tried range by range.
type hubIndex struct {
	byPrefix map[string][]*watchStream
	others   []*watchStream
}

// newWatchHub makes a hub that st feeds. A stream publishes its ranges
// (setRanges) before it reads the log, and the store hands the hub each
// event under the write lock its readers also take: so an event the
// stream's read did not see is published after the ranges, and the hub
// matches it against them. No wake-up is lost.
func newWatchHub(st *store.Store) *watchHub {
	h := &watchHub{subs: map[*watchStream]struct{}{}}
	st.OnPublish(h.published)
	return h
}

func (h *watchHub) add(ws *watchStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[ws] = struct{}{}
	ws.hub = h
	h.stale.Store(true)
}

func (h *watchHub) remove(ws *watchStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ws)
	h.stale.Store(true)
}

// rangesChanged tells the hub that a stream published new ranges. The
// stream calls it after storing them and before reading the log.
func (h *watchHub) rangesChanged() { h.stale.Store(true) }

// published is the store's OnPublish: events just appended, or nil when
// the store closed (every stream wakes to find that out).
func (h *watchHub) published(evs []store.Event) {
	if evs == nil {
		h.wakeAll()
		return
	}
	h.wakeMatching(evs)
}

// beginWrite and endWrite bracket a store write on a server handler's
// goroutine; endWrite delivers the events the write woke (and any other
// write's made meanwhile) inline. No-ops unless inline delivery is on.
func (h *watchHub) beginWrite() {
	if h.inline {
		h.writers.Add(1)
	}
}

func (h *watchHub) endWrite() {
	if !h.inline {
		return
	}
	h.deliverPending()
	h.writers.Add(-1)
	// A write published between the delivery above and the decrement
	// queued its streams for a writer still inside: that may be this one.
	h.deliverPending()
}

func (h *watchHub) deliverPending() {
	h.mu.Lock()
	list := h.pending
	h.pending = nil
	for _, ws := range list {
		ws.queued = false
	}
	h.mu.Unlock()
	for _, ws := range list {
		ws.deliverInline()
	}
}

func (h *watchHub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ws := range h.subs {
		ws.wake()
	}
}

func (h *watchHub) wakeMatching(evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Cleared before the rebuild reads the ranges: a change published
	// meanwhile sets it again and the next call rebuilds once more.
	if h.stale.CompareAndSwap(true, false) {
		h.idx = buildHubIndex(h.subs)
	}
	h.batch++
	for i := range evs {
		key := evs[i].KV.Key
		for j, c := range key {
			if c != '/' {
				continue
			}
			for _, ws := range h.idx.byPrefix[string(key[:j+1])] {
				h.wakeOnce(ws)
			}
		}
		for _, ws := range h.idx.others {
			if ws.wokenIn != h.batch {
				if ranges := ws.ranges.Load(); ranges != nil && ranges.match(key) {
					h.wakeOnce(ws)
				}
			}
		}
	}
}

// wakeOnce wakes ws at most once per wakeMatching call, or queues it for
// a writer's inline delivery (see beginWrite). h.mu is held.
func (h *watchHub) wakeOnce(ws *watchStream) {
	if ws.wokenIn == h.batch {
		return
	}
	ws.wokenIn = h.batch
	if h.inline && h.writers.Load() > 0 {
		if !ws.queued {
			ws.queued = true
			h.pending = append(h.pending, ws)
		}
		return
	}
	ws.wake()
}

// buildHubIndex indexes the streams by the slash-ended prefixes their
// watchers select (see hubIndex).
func buildHubIndex(subs map[*watchStream]struct{}) hubIndex {
	idx := hubIndex{byPrefix: map[string][]*watchStream{}}
	for ws := range subs {
		ranges := ws.ranges.Load()
		if ranges == nil {
			continue
		}
		prefixes, ok := slashPrefixes(*ranges)
		if !ok {
			idx.others = append(idx.others, ws)
			continue
		}
		for _, p := range prefixes {
			idx.byPrefix[p] = append(idx.byPrefix[p], ws)
		}
	}
	return idx
}

// slashPrefixes returns the prefixes rs select when every one of them is a
// whole slash-ended prefix: [p, PrefixEnd(p)) with p ending in '/'.
func slashPrefixes(rs streamRanges) ([]string, bool) {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		start := r.Range.Start
		if r.Single || len(start) == 0 || start[len(start)-1] != '/' || r.Range.End == nil ||
			!bytes.Equal(r.Range.End, keys.PrefixEnd(start)) {
			return nil, false
		}
		out = append(out, string(start))
	}
	return out, true
}

// streamRanges are the key selections of one stream's watchers, replaced as
// a whole when a watcher is created or removed.
type streamRanges []keys.Request

func (rs *streamRanges) match(key []byte) bool {
	for _, r := range *rs {
		if r.Contains(key) {
			return true
		}
	}
	return false
}
