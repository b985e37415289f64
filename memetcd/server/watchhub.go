package server

import (
	"errors"
	"sync"

	"github.com/k8s1m/k8s1m/memetcd/keys"
	"github.com/k8s1m/k8s1m/memetcd/store"
)

// watchHub wakes a watch stream only when a new event falls in one of its
// watchers' ranges. kube-apiserver opens one etcd client, and so one watch
// stream, per resource (about 70), each watching its own prefix; if every
// change woke every stream, each write would cost ~70 goroutine wake-ups and
// event-log reads for one or two deliveries, which under Kubernetes' load
// was most of memetcd's CPU. The hub reads each new run of the event log
// once and matches it against every stream's ranges (a few comparisons per
// event), as etcd's watchable store matches events against its synced
// watchers.
type watchHub struct {
	store *store.Store
	// start is the first revision run reads: the one after the store's
	// revision when the hub was made, before any stream could read the log.
	start int64
	mu    sync.Mutex
	subs  map[*watchStream]struct{}
}

func newWatchHub(st *store.Store) *watchHub {
	return &watchHub{store: st, start: st.Rev() + 1, subs: map[*watchStream]struct{}{}}
}

func (h *watchHub) add(ws *watchStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[ws] = struct{}{}
}

func (h *watchHub) remove(ws *watchStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ws)
}

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
	for ws := range h.subs {
		ranges := ws.ranges.Load()
		if ranges == nil {
			continue
		}
		for i := range evs {
			if ranges.match(evs[i].KV.Key) {
				ws.wake()
				break
			}
		}
	}
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
