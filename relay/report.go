package relay

import (
	"context"
	"fmt"
	"sync"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// Report sends this member's score for it to the item's gatherer; done is
// called exactly once with the verdict: the gatherer's, or a loss with a Reason
// when none arrived by the item's deadline plus VerdictGrace or the member is
// closing. done must not block.
func (r *Relay) Report(it Item, s Score, done func(Verdict)) {
	sc := &relayv1.Score{
		RequestId:        it.RequestID,
		Key:              it.Key,
		Origin:           it.Origin,
		DeadlineUnixNano: it.Deadline.UnixNano(),
		Member:           r.self.Name,
		Node:             s.Node,
		Score:            s.Score,
		NoFeasibleNode:   s.NoFeasibleNode,
		Reason:           s.Reason,
	}
	if r.closed.Load() {
		done(Verdict{RequestID: it.RequestID, Key: it.Key, Origin: it.Origin, Reason: "member closed"})
		return
	}
	r.metrics.reports.Inc()
	g := it.Gatherer
	v := r.cur.Load()
	if _, ok := v.byName[g]; !ok {
		g = v.gatherer(it.Key) // the origin's choice is gone (or unknown): rehash
	} else if r.unreachable(g) {
		g = v.backupGatherer(it.Key, g)
	}
	r.reports.add(sc, g, it.Gatherer, it.Deadline.Add(r.cfg.VerdictGrace), done)
	r.sendScore(g, sc)
}

// ReportWait is Report that waits for the verdict (or ctx).
func (r *Relay) ReportWait(ctx context.Context, it Item, s Score) (Verdict, error) {
	ch := make(chan Verdict, 1)
	r.Report(it, s, func(v Verdict) { ch <- v })
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return Verdict{}, fmt.Errorf("verdict for %s: %w", it.Key, ctx.Err())
	}
}

// sendScore routes one score to gatherer g.
func (r *Relay) sendScore(g string, sc *relayv1.Score) {
	if g == r.self.Name {
		r.gather.report(sc, localSink{r})
		return
	}
	if p := r.peer(g); p != nil {
		p.reportLink().push(sc)
	}
	// A nil peer left between the view and now: membersChanged re-routes.
}

// localSink hands verdicts from this member's gatherer to its own reporter.
type localSink struct{ r *Relay }

func (l localSink) sendVerdict(v *relayv1.Verdict) { l.r.reports.onVerdict(v, l.r.self.Name) }

// reporter tracks this member's scores until their verdicts arrive.
type reporter struct {
	r      *Relay
	shards [reportShards]reportShard
}

const reportShards = 32

type reportShard struct {
	mu sync.Mutex
	m  map[itemID]*pendingReport
}

type pendingReport struct {
	rp    *reporter
	id    itemID
	score *relayv1.Score
	// gatherer is where the score was sent last; stamped is the gatherer the
	// origin chose, which the score goes back to when it is in view again.
	gatherer string
	stamped  string
	done     func(Verdict)
}

// expire gives up on the verdict (deadline plus VerdictGrace passed), unless
// it came or the member reported the item again meanwhile.
func (pr *pendingReport) expire() {
	pr.rp.finish(pr.id, nil, "", "no verdict before deadline and grace", pr)
}

func newReporter(r *Relay) *reporter {
	rp := &reporter{r: r}
	for i := range rp.shards {
		rp.shards[i].m = map[itemID]*pendingReport{}
	}
	return rp
}

func (rp *reporter) shard(id itemID) *reportShard {
	return &rp.shards[(id.id^hashString(id.origin))%reportShards]
}

func (rp *reporter) add(sc *relayv1.Score, gatherer, stamped string, giveUp time.Time, done func(Verdict)) {
	id := itemID{origin: sc.GetOrigin(), id: sc.GetRequestId()}
	s := rp.shard(id)
	pr := &pendingReport{rp: rp, id: id, score: sc, gatherer: gatherer, stamped: stamped, done: done}
	s.mu.Lock()
	if old, ok := s.m[id]; ok {
		// Reported twice: the first caller gets a loss, the second waits.
		defer old.done(Verdict{RequestID: id.id, Key: sc.GetKey(), Origin: id.origin, Reason: "reported again"})
	}
	s.m[id] = pr
	s.mu.Unlock()
	rp.r.deadlines.add(giveUp, pr)
}

// onVerdict completes a pending report with a verdict from gatherer from.
func (rp *reporter) onVerdict(v *relayv1.Verdict, from string) {
	rp.finish(itemID{origin: v.GetOrigin(), id: v.GetRequestId()}, v, from, "", nil)
}

// finish completes the pending report of id (only when it is still only, if
// only is set) with verdict v from gatherer from, or with a loss for reason
// when v is nil.
//
// A "lose" counts only from the gatherer the score was sent to last: a score
// sent to two gatherers (re-routed while membership changed) may be refused by
// one while the other's decision naming this member was accepted, and that
// "lose" could arrive before the other's "win". A "win" always counts: the
// origin accepted it.
func (rp *reporter) finish(id itemID, v *relayv1.Verdict, from, reason string, only *pendingReport) {
	s := rp.shard(id)
	s.mu.Lock()
	pr, ok := s.m[id]
	if ok && only != nil && pr != only {
		ok = false
	}
	if ok && v != nil && v.GetOutcome() != relayv1.Outcome_OUTCOME_WIN && from != pr.gatherer {
		ok = false // a stale gatherer's "lose": wait for the current one
	}
	if ok {
		delete(s.m, id)
	}
	s.mu.Unlock()
	if !ok {
		return // already answered (a repeated verdict after a reconnect)
	}
	out := Verdict{RequestID: id.id, Key: pr.score.GetKey(), Origin: id.origin, Reason: reason}
	if v != nil {
		out.Win = v.GetOutcome() == relayv1.Outcome_OUTCOME_WIN
	}
	switch m := rp.r.metrics; {
	case out.Win:
		m.verdictWin.Inc()
	case out.Reason != "":
		m.verdictTimeout.Inc()
	default:
		m.verdictLose.Inc()
	}
	pr.done(out)
}

// pendingFor lists the scores still waiting for gatherer g (to send again on a
// new stream).
func (rp *reporter) pendingFor(g string) []*relayv1.Score {
	var out []*relayv1.Score
	for i := range rp.shards {
		s := &rp.shards[i]
		s.mu.Lock()
		for _, pr := range s.m {
			if pr.gatherer == g {
				out = append(out, pr.score)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// unreachable re-routes the scores waiting for gatherer g, which cannot be
// reached, to the gatherer their key hashes to without g. This does not wait
// for gossip to declare g dead (that can take longer than a deadline); if g is
// alive after all, two gatherers may decide the item, and the origin accepts
// only one of them.
func (rp *reporter) unreachable(g string) {
	v := rp.r.cur.Load()
	type move struct {
		g  string
		sc *relayv1.Score
	}
	var moves []move
	for i := range rp.shards {
		s := &rp.shards[i]
		s.mu.Lock()
		for _, pr := range s.m {
			if pr.gatherer != g {
				continue
			}
			if alt := v.backupGatherer(pr.score.GetKey(), g); alt != "" {
				pr.gatherer = alt
				moves = append(moves, move{alt, pr.score})
			}
		}
		s.mu.Unlock()
	}
	for _, m := range moves {
		rp.r.sendScore(m.g, m.sc)
	}
	if len(moves) > 0 {
		rp.r.metrics.rerouted.Add(float64(len(moves)))
	}
}

// reachable takes back the scores that were moved off gatherer g while it
// was unreachable (or sent elsewhere because it was) and are meant for it
// (the origin chose it): their pending reports are pointed at g again, and
// the caller, g's report link whose stream just opened, sends what
// pendingFor(g) lists. Without this the scores stayed with the second
// gatherer, which decided the item at its deadline with only those scores,
// as the chosen gatherer did without them: seen when a restarted member's
// link to a live gatherer took longer to open than maxSlowOpens allows on a
// starved machine, and the second gatherer's decision reached the origin
// first (1 report, 12 stragglers).
func (rp *reporter) reachable(g string) {
	if _, in := rp.r.cur.Load().byName[g]; !in {
		return // gone meanwhile: membersChanged re-routes
	}
	moved := 0
	for i := range rp.shards {
		s := &rp.shards[i]
		s.mu.Lock()
		for _, pr := range s.m {
			if pr.stamped == g && pr.gatherer != g {
				pr.gatherer = g
				moved++
			}
		}
		s.mu.Unlock()
	}
	if moved > 0 {
		rp.r.metrics.rerouted.Add(float64(moved))
	}
}

// membersChanged re-routes scores whose gatherer left to the gatherer the new
// view hashes their key to, and sends scores that were re-routed back to the
// gatherer the origin chose once it is in view (and reachable) again: gossip
// declares a busy member dead and alive again within a second, and scores
// left with the second gatherer made it decide the item at the deadline with
// only some of the scores, racing the chosen gatherer's decision (which missed
// those scores too).
func (rp *reporter) membersChanged(v *view) {
	type move struct {
		g  string
		sc *relayv1.Score
	}
	var moves []move
	reachable := map[string]bool{} // stamped gatherers in v, asked once each
	back := func(g string) bool {
		if g == "" {
			return false
		}
		ok, seen := reachable[g]
		if !seen {
			_, in := v.byName[g]
			ok = in && !rp.r.unreachable(g)
			reachable[g] = ok
		}
		return ok
	}
	for i := range rp.shards {
		s := &rp.shards[i]
		s.mu.Lock()
		for _, pr := range s.m {
			_, in := v.byName[pr.gatherer]
			switch {
			case pr.gatherer != pr.stamped && back(pr.stamped):
				pr.gatherer = pr.stamped
			case !in:
				pr.gatherer = v.gatherer(pr.score.GetKey())
			default:
				continue
			}
			moves = append(moves, move{pr.gatherer, pr.score})
		}
		s.mu.Unlock()
	}
	for _, m := range moves {
		rp.r.sendScore(m.g, m.sc)
	}
	if len(moves) > 0 {
		rp.r.metrics.rerouted.Add(float64(len(moves)))
	}
}

// closeAll answers every pending report with a loss.
func (rp *reporter) closeAll() {
	for i := range rp.shards {
		s := &rp.shards[i]
		s.mu.Lock()
		ids := make([]itemID, 0, len(s.m))
		for id := range s.m {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		for _, id := range ids {
			rp.finish(id, nil, "", "member closed", nil)
		}
	}
}
