package server

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/keys"
	"github.com/k8s1m/k8s1m/memetcd/server/transport"
	"github.com/k8s1m/k8s1m/memetcd/store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// invalidWatchID is clientv3.InvalidWatchID: the ID of responses that belong
// to no single watcher (stream-wide progress, failed creates).
const invalidWatchID = -1

// watcher is one watch on a stream: a key range and the next revision it has
// not yet been sent. Everything below that revision that matches has been sent.
type watcher struct {
	id             int64
	sel            keys.Request // the keys watched
	next           int64
	prevKV         bool
	noPut, noDel   bool
	progressNotify bool
	sentSinceTick  bool
}

func (w *watcher) matches(key []byte) bool { return w.sel.Contains(key) }

// watchStream serves one Watch RPC. A reader goroutine turns requests into
// control messages; the send loop owns the watchers and is the only sender,
// so every response is ordered after the events it reports progress past.
type watchStream struct {
	s        *Server
	stream   pb.Watch_WatchServer
	watchers map[int64]*watcher
	nextID   int64
	ctl      chan *pb.WatchRequest
	progress bool // a RequestProgress is waiting for the watchers to be synced
	// wakec holds a token when the hub saw an event for one of the watchers.
	wakec chan struct{}
	// ranges are the watchers' key ranges, for the hub to match events
	// against without touching the watchers map the send loop owns.
	ranges atomic.Pointer[streamRanges]
	// hub is the hub that wakes this stream (set by watchHub.add);
	// wokenIn is the hub's last wakeMatching call that woke it (the hub's
	// goroutine alone reads and writes it).
	hub     *watchHub
	wokenIn uint64

	// sendMu is held by whoever reads or changes the watchers and sends:
	// the send loop, or a writer delivering its events inline
	// (deliverInline). inline marks the latter: its sends must not wait.
	// inlineErr is a failure an inline delivery met, for the send loop to
	// return; ended says the send loop is gone. queued is the hub's (under
	// its mu): ws waits in the hub's pending list.
	sendMu    sync.Mutex
	inline    bool
	inlineErr error
	ended     bool
	queued    bool
}

// errWouldBlock stops an inline delivery whose next send would wait for
// flow control; the send loop goes on from where it stopped.
var errWouldBlock = errors.New("watch send would wait for flow control")

// wake tells the send loop to read the event log; never blocks.
func (ws *watchStream) wake() {
	select {
	case ws.wakec <- struct{}{}:
	default:
	}
}

// setRanges publishes the watchers' ranges to the hub. Called after every
// change to the watchers and before the next read of the log.
func (ws *watchStream) setRanges() {
	rs := make(streamRanges, 0, len(ws.watchers))
	for _, w := range ws.watchers {
		rs = append(rs, w.sel)
	}
	ws.ranges.Store(&rs)
	if ws.hub != nil {
		ws.hub.rangesChanged()
	}
}

// Watch implements the Watch service.
func (s *Server) Watch(stream pb.Watch_WatchServer) error {
	ws := &watchStream{s: s, stream: stream, watchers: map[int64]*watcher{}, ctl: make(chan *pb.WatchRequest, 64), wakec: make(chan struct{}, 1)}
	s.hub.add(ws)
	defer s.hub.remove(ws)
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	defer func() { s.metrics.watchers.Sub(float64(len(ws.watchers))) }()
	recvErr := make(chan error, 1)
	go ws.recvLoop(recvErr)
	err := ws.sendLoop(recvErr)
	ws.sendMu.Lock()
	ws.ended = true
	ws.sendMu.Unlock()
	return err
}

func (ws *watchStream) recvLoop(errc chan<- error) {
	for {
		req, err := ws.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return // the client closed its side; keep sending, as etcd does
			}
			errc <- err
			return
		}
		select {
		case ws.ctl <- req:
		case <-ws.stream.Context().Done():
			return
		}
	}
}

func (ws *watchStream) sendLoop(recvErr <-chan error) error {
	ctx := ws.stream.Context()
	tick := time.NewTicker(ws.s.cfg.ProgressNotifyInterval)
	defer tick.Stop()
	for {
		if err := ws.locked(ws.catchUp); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ws.s.stopc:
			return rpctypes.ErrGRPCStopped
		case err := <-recvErr:
			return err
		case req := <-ws.ctl:
			if err := ws.locked(func() error { return ws.handle(req) }); err != nil {
				return err
			}
		case <-tick.C:
			if err := ws.locked(ws.progressTick); err != nil {
				return err
			}
		case <-ws.wakec:
		}
	}
}

// locked runs one step of the send loop under sendMu, after returning any
// failure an inline delivery met.
func (ws *watchStream) locked(step func() error) error {
	ws.sendMu.Lock()
	defer ws.sendMu.Unlock()
	if ws.inlineErr != nil {
		return ws.inlineErr
	}
	return step()
}

// deliverInline sends the stream what the log holds for it on the calling
// writer's goroutine (inline delivery, see LeanServer), sparing the send loop's
// wake-up. It never waits: if the send loop holds the stream, or a send
// would wait for flow control, the send loop is woken to carry on instead.
func (ws *watchStream) deliverInline() {
	if !ws.sendMu.TryLock() {
		ws.wake()
		return
	}
	if ws.ended {
		ws.sendMu.Unlock()
		return
	}
	ws.inline = true
	err := ws.catchUp()
	ws.inline = false
	if err != nil && !errors.Is(err, errWouldBlock) {
		ws.inlineErr = err
	}
	ws.sendMu.Unlock()
	if err != nil {
		ws.wake()
	}
}

func (ws *watchStream) send(r *pb.WatchResponse) error {
	if ws.inline {
		if backlogged, known := transport.Backlogged(ws.stream.Context()); !known || backlogged {
			return errWouldBlock
		}
	}
	return ws.stream.Send(r)
}

func (ws *watchStream) handle(req *pb.WatchRequest) error {
	switch v := req.RequestUnion.(type) {
	case *pb.WatchRequest_CreateRequest:
		return ws.create(v.CreateRequest)
	case *pb.WatchRequest_CancelRequest:
		id := v.CancelRequest.WatchId
		if _, ok := ws.watchers[id]; !ok {
			return nil // etcd ignores cancels of unknown watchers
		}
		ws.remove(id)
		return ws.send(&pb.WatchResponse{Header: ws.s.header(ws.s.store.Rev()), WatchId: id, Canceled: true})
	case *pb.WatchRequest_ProgressRequest:
		// Answered by catchUp once every watcher is synced, so the reported
		// revision is never ahead of an event still to be sent.
		ws.progress = true
		ws.s.metrics.progress.Inc()
	}
	return nil
}

func (ws *watchStream) create(c *pb.WatchCreateRequest) error {
	rev := ws.s.store.Rev()
	if err := ws.s.durable(ws.stream.Context(), rev); err != nil {
		return err
	}
	fail := func(reason string) error {
		return ws.send(&pb.WatchResponse{Header: ws.s.header(rev), WatchId: invalidWatchID, Created: true, Canceled: true, CancelReason: reason})
	}
	if c.StartRevision < 0 {
		return fail(rpctypes.ErrCompacted.Error())
	}
	if len(ws.watchers) >= ws.s.cfg.MaxWatchersPerStream {
		ws.s.metrics.watchersRefused.Inc()
		return fail(fmt.Sprintf("memetcd: this stream holds %d watchers, the most allowed (--max-watchers-per-stream): open another stream", len(ws.watchers)))
	}
	key := c.Key
	if len(key) == 0 {
		key = []byte{0} // the smallest key, as etcd
	}
	w := &watcher{sel: keys.Parse(key, c.RangeEnd), next: c.StartRevision, prevKV: c.PrevKv, progressNotify: c.ProgressNotify}
	if !w.sel.Single && w.sel.Range.Empty() {
		return fail("mvcc: watcher range is empty")
	}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDel = true
		}
	}
	if w.next == 0 {
		w.next = rev + 1
	}
	if c.WatchId != 0 {
		if _, dup := ws.watchers[c.WatchId]; dup {
			return fail("mvcc: duplicate watch ID provided on the WatchStream")
		}
		w.id = c.WatchId
	} else {
		for ws.watchers[ws.nextID] != nil {
			ws.nextID++
		}
		w.id = ws.nextID
		ws.nextID++
	}
	ws.watchers[w.id] = w
	ws.setRanges()
	ws.s.metrics.watchers.Inc()
	return ws.send(&pb.WatchResponse{Header: ws.s.header(rev), WatchId: w.id, Created: true})
}

func (ws *watchStream) remove(id int64) {
	delete(ws.watchers, id)
	ws.setRanges()
	ws.s.metrics.watchers.Dec()
}

// catchUp sends every watcher all matching events up to the store's current
// revision, reading the event log once per batch for all watchers, then
// answers a pending progress request.
func (ws *watchStream) catchUp() error {
	cfg := ws.s.cfg
	first := true
	for {
		from := int64(-1)
		for _, w := range ws.watchers {
			if from < 0 || w.next < from {
				from = w.next
			}
		}
		if from < 0 {
			break // no watchers
		}
		batch, err := ws.s.store.ReadEvents(from, cfg.WatchBatchEvents)
		if errors.Is(err, store.ErrCompacted) && ws.inline {
			return errWouldBlock // cancelling watchers is the send loop's
		}
		if errors.Is(err, store.ErrCompacted) {
			if err := ws.cancelCompacted(batch); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return rpctypes.ErrGRPCStopped
		}
		// Nothing goes out about a revision before it is durable: not its
		// events, not a progress report past it.
		if err := ws.s.durable(ws.stream.Context(), batch.Rev); err != nil {
			return err
		}
		if first && len(batch.Events) > 0 {
			ws.s.metrics.watchLag.Observe(float64(batch.Rev - from + 1))
			first = false
		}
		if err := ws.deliver(batch); err != nil {
			return err
		}
		if batch.Rev >= ws.s.store.Rev() || len(batch.Events) == 0 {
			break
		}
	}
	if ws.progress && len(ws.watchers) > 0 {
		synced := ws.syncedRev()
		if err := ws.send(&pb.WatchResponse{Header: ws.s.header(synced), WatchId: invalidWatchID}); err != nil {
			return err // still owed if the send would have waited
		}
	}
	ws.progress = false
	return nil
}

// syncedRev is the revision every watcher has been sent all events up to.
func (ws *watchStream) syncedRev() int64 {
	rev := int64(-1)
	for _, w := range ws.watchers {
		if rev < 0 || w.next-1 < rev {
			rev = w.next - 1
		}
	}
	return min(rev, ws.s.store.Rev())
}

// deliver sends each watcher its matching events of batch, in bounded
// responses that never split a revision, and advances it past batch.Rev.
func (ws *watchStream) deliver(batch store.EventBatch) error {
	cfg := ws.s.cfg
	ids := make([]int64, 0, len(ws.watchers))
	for id := range ws.watchers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		w := ws.watchers[id]
		if w.next > batch.Rev {
			continue // starts in the future
		}
		var evs []*mvccpb.Event
		size := 0
		for i := range batch.Events {
			ev := &batch.Events[i]
			rev := ev.KV.ModRevision
			if rev < w.next {
				continue
			}
			// Cut a full response only at a revision boundary.
			if (len(evs) >= cfg.WatchBatchEvents || size >= cfg.WatchBatchBytes) && evs[len(evs)-1].Kv.ModRevision != rev {
				through := evs[len(evs)-1].Kv.ModRevision
				if err := ws.sendEvents(w, evs, through); err != nil {
					return err
				}
				// Sent through that revision: a later send that would wait
				// (inline) resumes after it, not before.
				w.next = through + 1
				evs, size = nil, 0
			}
			if !w.matches(ev.KV.Key) || (ev.Type == store.EventPut && w.noPut) || (ev.Type == store.EventDelete && w.noDel) {
				continue
			}
			// etcd looks the previous value up at rev-1; at the compaction
			// revision that read is compacted and the event goes out without
			// it (kube-apiserver turns that into an error, as from etcd).
			pe := eventPB(ev, w.prevKV && rev > batch.CompactRev)
			size += len(ev.KV.Key) + len(ev.KV.Value)
			if w.prevKV && ev.PrevKV != nil {
				size += len(ev.PrevKV.Value)
			}
			evs = append(evs, pe)
		}
		if len(evs) > 0 {
			if err := ws.sendEvents(w, evs, batch.Rev); err != nil {
				return err
			}
		}
		w.next = batch.Rev + 1
	}
	return nil
}

func (ws *watchStream) sendEvents(w *watcher, evs []*mvccpb.Event, rev int64) error {
	w.sentSinceTick = true
	ws.s.metrics.events.Add(float64(len(evs)))
	return ws.send(&pb.WatchResponse{Header: ws.s.header(rev), WatchId: w.id, Events: evs})
}

// cancelCompacted cancels every watcher that needs events from below the
// compaction point, telling it the compaction revision (clients relist).
func (ws *watchStream) cancelCompacted(batch store.EventBatch) error {
	for id, w := range ws.watchers {
		if w.next < batch.CompactRev {
			ws.remove(id)
			if err := ws.send(&pb.WatchResponse{Header: ws.s.header(batch.Rev), WatchId: id, Canceled: true,
				CompactRevision: batch.CompactRev, CancelReason: rpctypes.ErrCompacted.Error()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// progressTick sends an empty response to idle watchers that asked for
// progress notifications; catchUp has just synced them all.
func (ws *watchStream) progressTick() error {
	rev := ws.s.store.Rev()
	for _, w := range ws.watchers {
		if w.progressNotify && !w.sentSinceTick && w.next > rev {
			if err := ws.send(&pb.WatchResponse{Header: ws.s.header(w.next - 1), WatchId: w.id}); err != nil {
				return err
			}
		}
		w.sentSinceTick = false
	}
	return nil
}

func eventPB(ev *store.Event, withPrev bool) *mvccpb.Event {
	out := &mvccpb.Event{Type: mvccpb.Event_EventType(ev.Type), Kv: kvPB(ev.KV)}
	if withPrev && ev.PrevKV != nil {
		out.PrevKv = kvPB(*ev.PrevKV)
	}
	return out
}
