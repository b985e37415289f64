package relay

import (
	"errors"
	"fmt"
	"sync"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// Submit sends items down the tree rooted at this member: the caller is the
// root (the leader) for them. Submit fills in, in the caller's slice, RequestID
// (when zero), Deadline (when zero: now + DefaultDeadline), Origin, Gatherer and
// Submitted. Each item's Decision arrives once at Config.Decisions. Submit does
// not block on the network.
//
// Items submitted together share their gatherer, gatherRun at a time (the
// gatherer of the run's first key).
func (r *Relay) Submit(items ...Item) error {
	if r.closed.Load() {
		return ErrClosed
	}
	now := time.Now()
	v := r.cur.Load()
	ps := make([]*relayv1.Item, len(items))
	var gatherer string
	for i := range items {
		it := &items[i]
		if it.Key == "" {
			return errors.New("submit: item without key")
		}
		if it.RequestID == 0 {
			it.RequestID = r.ids.next()
		}
		if it.Deadline.IsZero() {
			it.Deadline = now.Add(r.cfg.DefaultDeadline)
		}
		if limit := now.Add(r.cfg.maxDeadline()); it.Deadline.After(limit) {
			it.Deadline = limit
			r.metrics.cappedDeadlines.Inc()
		}
		it.Origin = r.self.Name
		if i%gatherRun == 0 {
			gatherer = v.gatherer(it.Key)
		}
		it.Gatherer = gatherer
		it.Submitted = now
		ps[i] = itemToProto(it)
	}
	for i := range items {
		if err := r.origin.track(&items[i]); err != nil {
			return fmt.Errorf("submit %s: %w", items[i].Key, err)
		}
	}
	r.metrics.submitted.Add(float64(len(items)))
	r.accept(r.self.Name, ps)
	return nil
}

// gatherRun is how many items submitted together share a gatherer. Every
// scheduling member reports a score for every item to its gatherer and gets a
// verdict back, so with a gatherer per item a member of M sends each score
// to one of M gatherers: at a cluster's rate (thousands of members, items
// submitted a few dozen at a time) nearly every score and verdict was a
// message of its own, each costing framing, system calls and goroutine
// wake-ups at both ends. Items scattered together are scored together, so
// their scores now fill one message to one gatherer and their verdicts one
// message back. Runs spread over the members as keys do.
const gatherRun = 64

// accept takes items arriving from the parent (or from Submit at the root):
// drops the ones seen before, forwards the rest to this member's children in
// the tree rooted at root, opens gathers this member owns and hands the items to
// the local handler.
func (r *Relay) accept(root string, items []*relayv1.Item) {
	r.metrics.itemsIn.Add(float64(len(items)))
	now := time.Now()
	fresh := items[:0:0]
	for _, it := range items {
		it.DeadlineUnixNano = r.capDeadline(it.GetDeadlineUnixNano(), now)
		if it.GetDeadlineUnixNano() <= now.UnixNano() {
			// Too late to matter: its gatherer decides (or has decided) without
			// it. Handling it now could even re-open a gather already
			// forgotten, and decide the item a second time.
			r.metrics.expired.Inc()
			continue
		}
		if r.flights.add(it, root) {
			fresh = append(fresh, it)
			if sub := it.GetSubmitUnixNano(); sub > 0 && root != r.self.Name {
				r.metrics.fanoutLatency.Observe(now.Sub(time.Unix(0, sub)).Seconds())
			}
		}
	}
	if len(fresh) == 0 {
		return
	}
	v := r.cur.Load()
	if t := v.tree(root, r.cfg.Fanout); t != nil {
		r.forward(t.Children(r.self.Name), root, fresh)
	}
	for _, it := range fresh {
		if it.GetGatherer() == r.self.Name {
			r.gather.open(it)
		}
	}
	if h := r.cfg.Handler; h != nil && r.self.Role.Schedules() {
		for _, it := range fresh {
			h.HandleItem(itemFromProto(it))
		}
	}
}

// capDeadline shortens a deadline (UNIX nanoseconds) from a peer to at most
// MaxDeadline after now: what a member keeps for an item lives until its
// deadline plus Retention, so a far deadline would pin it for ever.
func (r *Relay) capDeadline(ns int64, now time.Time) int64 {
	if limit := now.Add(r.cfg.maxDeadline()).UnixNano(); ns > limit {
		r.metrics.cappedDeadlines.Inc()
		return limit
	}
	return ns
}

// forward queues items for each child.
func (r *Relay) forward(children []string, root string, items []*relayv1.Item) {
	if len(children) == 0 || len(items) == 0 {
		return
	}
	es := make([]scatterEntry, len(items))
	for i, it := range items {
		es[i] = scatterEntry{root: root, item: it}
	}
	for _, c := range children {
		p := r.peer(c)
		if p == nil {
			continue // left since the view was taken; rescatter covers its subtree
		}
		p.scatterLink().push(es...)
		r.metrics.itemsOut.Add(float64(len(es)))
	}
}

// rescatter hands the items still in flight to members that became this
// member's children with the new view: the subtree of a member that died is
// re-attached somewhere, and its new parent must send what it missed.
func (r *Relay) rescatter(prev, cur *view) {
	byRoot := r.flights.live(time.Now())
	for root, items := range byRoot {
		var was []string
		if t := prev.tree(root, r.cfg.Fanout); t != nil {
			was = t.Children(r.self.Name)
		}
		t := cur.tree(root, r.cfg.Fanout)
		if t == nil {
			continue
		}
		var added []string
		for _, c := range t.Children(r.self.Name) {
			if !contains(was, c) {
				added = append(added, c)
			}
		}
		if len(added) > 0 {
			r.metrics.rescattered.Add(float64(len(items) * len(added)))
			r.forward(added, root, items)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// flights remembers the items this member has seen until their retention ends:
// to drop duplicates (an item can arrive twice while the tree changes) and to
// re-send them to new children.
type flights struct {
	shards [flightShards]flightShard
}

const flightShards = 32

type flightShard struct {
	mu sync.Mutex
	m  map[itemID]flight
}

type flight struct {
	item *relayv1.Item
	root string
}

func newFlights() *flights {
	f := &flights{}
	for i := range f.shards {
		f.shards[i].m = map[itemID]flight{}
	}
	return f
}

func (f *flights) shard(id itemID) *flightShard {
	return &f.shards[(id.id^hashString(id.origin))%flightShards]
}

// add records an item; false when it was seen before.
func (f *flights) add(it *relayv1.Item, root string) bool {
	id := itemID{origin: it.GetOrigin(), id: it.GetRequestId()}
	s := f.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok {
		return false
	}
	s.m[id] = flight{item: it, root: root}
	return true
}

// live returns the items whose deadline has not passed, by root.
func (f *flights) live(now time.Time) map[string][]*relayv1.Item {
	out := map[string][]*relayv1.Item{}
	n := now.UnixNano()
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		for _, fl := range s.m {
			if fl.item.GetDeadlineUnixNano() > n {
				out[fl.root] = append(out[fl.root], fl.item)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// sweep forgets items retention past their deadline.
func (f *flights) sweep(now time.Time, retention time.Duration) {
	cut := now.Add(-retention).UnixNano()
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		for id, fl := range s.m {
			if fl.item.GetDeadlineUnixNano() < cut {
				delete(s.m, id)
			}
		}
		s.mu.Unlock()
	}
}
