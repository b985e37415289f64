package server

import (
	"bytes"
	"errors"
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
// was most of memetcd's CPU. The hub reads each new run of the event log
// once and finds the streams each event matches through an index of the
// watched prefixes (hubIndex), as etcd's watchable store finds the synced
// watchers of an event's key.
type watchHub struct {
	store *store.Store
	// start is the first revision run reads: the one after the store's
	// revision when the hub was made, before any stream could read the log.
	start int64
	mu    sync.Mutex
	subs  map[*watchStream]struct{}
	// stale says a stream was added or removed or changed its ranges since
	// idx was built; run rebuilds idx before it next matches.
	stale atomic.Bool
	idx   hubIndex // run's alone
	batch uint64   // run's alone: counts wakeMatching calls
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

func newWatchHub(st *store.Store) *watchHub {
	return &watchHub{store: st, start: st.Rev() + 1, subs: map[*watchStream]struct{}{}}
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

// run wakes streams until the store closes or stop is closed. A stream
// publishes its ranges before it reads the log (watchStream.setRanges), so
// an event it did not read is published after, and the hub, which reads the
// log after the event is published, sees the ranges: no wake-up is lost.
// That needs the hub to read every event published since it was made, not
// since its goroutine first ran: a stream can be served, read the log and
// miss writes made before the hub's first read, and nothing else wakes it.
func (h *watchHub) run(stop <-chan struct{}) {
	next := h.start
	for {
		changed := h.store.Changed()
		batch, err := h.store.ReadEvents(next, 0)
		switch {
		case errors.Is(err, store.ErrCompacted):
			h.wakeAll() // fell below compaction: let every stream look
		case err != nil:
			h.wakeAll() // closed: streams find out and end
			return
		case len(batch.Events) > 0:
			h.wakeMatching(batch.Events)
		}
		next = batch.Rev + 1
		select {
		case <-changed:
		case <-stop:
			return
		}
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

// wakeOnce wakes ws at most once per wakeMatching call.
func (h *watchHub) wakeOnce(ws *watchStream) {
	if ws.wokenIn != h.batch {
		ws.wokenIn = h.batch
		ws.wake()
	}
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
