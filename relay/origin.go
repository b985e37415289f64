package relay

import (
	"errors"
	"sync"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// originTable tracks the items this member submitted until each has its one
// Decision: the first one to arrive (from the gatherer, or from the backstop
// timer at deadline + DecisionGrace) is delivered and accepted; later ones are
// refused, so their gatherers do not send a winner ahead. The origin is the one
// place that can say "first" for an item, which is why it arbitrates.
type originTable struct {
	r      *Relay
	shards [originShards]originShard
}

const originShards = 32

type originShard struct {
	mu sync.Mutex
	m  map[uint64]*tracked
	// decided remembers accepted decisions for as long as a gatherer may
	// re-send one (see sweep), so a gatherer re-sending the same decision is
	// accepted again, and any other decision is refused.
	decided map[uint64]accepted
}

type tracked struct {
	o        *originTable
	id       uint64
	key      string
	deadline time.Time
}

// expire is the backstop: no gatherer's decision arrived by the deadline plus
// DecisionGrace, so the origin decides "no winner" itself.
func (t *tracked) expire() {
	o := t.o
	s := o.shard(t.id)
	s.mu.Lock()
	pending := s.m[t.id] == t
	s.mu.Unlock()
	if pending {
		o.deliver(&relayv1.Decision{RequestId: t.id, Key: t.key, NoWinner: relayv1.NoWinner_NO_WINNER_NO_DECISION,
			Reason: "no decision from the gatherer", Gatherer: o.r.self.Name}, true)
	}
}

type accepted struct {
	gatherer, winner, node string
	deadline               time.Time
}

func newOriginTable(r *Relay) *originTable {
	o := &originTable{r: r}
	for i := range o.shards {
		o.shards[i].m = map[uint64]*tracked{}
		o.shards[i].decided = map[uint64]accepted{}
	}
	return o
}

func (o *originTable) shard(id uint64) *originShard { return &o.shards[mix64(id)%originShards] }

var errDuplicateRequest = errors.New("request id already in flight")

func (o *originTable) track(it *Item) error {
	s := o.shard(it.RequestID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[it.RequestID]; ok {
		return errDuplicateRequest
	}
	if _, ok := s.decided[it.RequestID]; ok {
		return errDuplicateRequest
	}
	t := &tracked{o: o, id: it.RequestID, key: it.Key, deadline: it.Deadline}
	s.m[it.RequestID] = t
	o.r.deadlines.add(it.Deadline.Add(o.r.cfg.DecisionGrace), t)
	return nil
}

// deliver hands a decision to the DecisionHandler if it is the item's first,
// and reports whether the decision stands (first, or the same one again).
func (o *originTable) deliver(d *relayv1.Decision, backstop bool) bool {
	id := d.GetRequestId()
	s := o.shard(id)
	s.mu.Lock()
	t, ok := s.m[id]
	if !ok {
		prev, known := s.decided[id]
		s.mu.Unlock()
		if known && prev.winner == d.GetWinner() && prev.node == d.GetNode() && (prev.gatherer == d.GetGatherer() || d.GetWinner() != "") {
			// The same decision, re-sent after a reconnect; or a second
			// gatherer (reports re-routed while membership changed) that
			// chose the same winner. Refusing the latter made it tell the
			// real winner "lose", racing the first gatherer's "win".
			return true
		}
		o.r.metrics.duplicateDecisions.Inc()
		return false
	}
	delete(s.m, id)
	s.decided[id] = accepted{gatherer: d.GetGatherer(), winner: d.GetWinner(), node: d.GetNode(), deadline: t.deadline}
	s.mu.Unlock()
	source := "gatherer"
	if backstop {
		source = "backstop"
	}
	o.r.metrics.originDecisions.WithLabelValues(source).Inc()
	if h := o.r.cfg.Decisions; h != nil {
		h.HandleDecision(Decision{
			RequestID:  d.GetRequestId(),
			Key:        d.GetKey(),
			Winner:     d.GetWinner(),
			Node:       d.GetNode(),
			Score:      d.GetScore(),
			Reports:    int(d.GetReports()),
			Stragglers: int(d.GetStragglers()),
			NoWinner:   NoWinner(d.GetNoWinner()),
			Reason:     d.GetReason(),
			Gatherer:   d.GetGatherer(),
		})
	}
	return true
}

// sweep forgets accepted decisions once no gatherer can send them again. A
// gatherer re-sends a decision while the origin's answer is outstanding (a
// reconnect, a link closed while the origin was out of its view) and keeps
// the item until max(Retention, VerdictGrace) past its deadline and its
// decision, DecisionGrace longer while the answer is outstanding; an accepted
// decision was made by deadline + DecisionGrace (the backstop's time). Forgotten
// sooner (Retention past the deadline, as before), a re-sent decision the
// origin had accepted was refused, and its gatherer told the winner "lose".
func (o *originTable) sweep(now time.Time) {
	cut := now.Add(-(o.r.gather.keep() + 2*o.r.cfg.DecisionGrace))
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		for id, a := range s.decided {
			if a.deadline.Before(cut) {
				delete(s.decided, id)
			}
		}
		s.mu.Unlock()
	}
}

// inFlight is the number of submitted items without a decision yet.
func (o *originTable) inFlight() int {
	n := 0
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// closeAll forgets the items in flight: a closed member delivers nothing more.
func (o *originTable) closeAll() {
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// InFlight is the number of items this member submitted that have no Decision yet.
func (r *Relay) InFlight() int { return r.origin.inFlight() }
