package relay

import (
	"math/rand/v2"
	"sync"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// gatherer collects the scores for the items this member gathers and decides
// each item exactly once: when every expected member reported, when the last
// expected member left, or at the deadline.
type gatherer struct {
	r      *Relay
	shards [gatherShards]gatherShard
}

const gatherShards = 32

// gatherShard guards its records; decisions are built under the lock and sent
// after it is released.
type gatherShard struct {
	mu   sync.Mutex
	recs map[itemID]*record
}

// verdictSink is where a reporter's verdict goes: its Report stream, or the
// local reporter when this member reported to itself.
type verdictSink interface {
	sendVerdict(*relayv1.Verdict)
}

// record is one item's gather.
type record struct {
	id        itemID
	key       string
	deadline  time.Time
	submitted time.Time
	// v is the view the expected set was taken from; expected has one bit per
	// entry of v.schedulers, set while that member has not reported.
	v         *view
	expected  []uint64
	remaining int
	// sinks by reporting member, until the decision is sent.
	sinks   map[string]verdictSink
	reports int
	// best so far; ties counts the reports sharing the best score, for an even
	// random choice among them (reservoir sampling).
	haveBest   bool
	bestMember string
	bestNode   string
	bestScore  int64
	ties       int
	reason     string
	decided    bool
	decidedAt  time.Time
	winner     string
	// winnerSink waits for the origin to accept the decision (confirmed) before
	// the winner hears "win"; until then a repeated report from the winner
	// just replaces it.
	winnerSink verdictSink
	confirmed  confirmation
	// decision is kept until the origin answers it (accepted or refused), so
	// that it can be sent again if the link it went out on closes first; via
	// is that link's peer (nil: not sent yet, the origin was not in the view).
	// Without this, a decision queued or in flight to an origin whose link
	// was closed (the origin briefly out of the view) was lost: the origin
	// fell back to its backstop, or had accepted it and its answer was lost,
	// so the winner was never told.
	decision *relayv1.Decision
	via      *peer
	// backup is set while this member gathers the item only because
	// reporters re-routed their scores to it (their gatherer left their view
	// or could not be reached): the origin did not choose it and its own view
	// hashes the key to another member. It then decides at the deadline only
	// backupGrace later; see backupGrace.
	backup bool
	g      *gatherer // for expire
}

// confirmation is the origin's answer to a decision with a winner.
type confirmation int

const (
	confirmPending confirmation = iota
	confirmAccepted
	confirmRejected
)

func newGatherer(r *Relay) *gatherer {
	g := &gatherer{r: r}
	for i := range g.shards {
		g.shards[i].recs = map[itemID]*record{}
	}
	return g
}

func (g *gatherer) shard(id itemID) *gatherShard {
	return &g.shards[(id.id^hashString(id.origin))%gatherShards]
}

// recordLocked returns the record of an item, creating it (expecting every
// scheduling member of the current view); chosen says the origin chose this
// member to gather it (it came by scatter naming this member); s.mu must be
// held.
func (g *gatherer) recordLocked(s *gatherShard, id itemID, key string, deadline, submitted int64, chosen bool) *record {
	if rec, ok := s.recs[id]; ok {
		if chosen && rec.backup && !rec.decided {
			// Scores re-routed here came first; it is this member's after all.
			rec.backup = false
			g.r.deadlines.add(rec.deadline, rec)
		}
		return rec
	}
	v := g.r.cur.Load()
	rec := &record{
		g:         g,
		id:        id,
		key:       key,
		deadline:  time.Unix(0, deadline),
		submitted: time.Unix(0, submitted),
		v:         v,
		expected:  make([]uint64, (len(v.schedulers)+63)/64),
		remaining: len(v.schedulers),
		sinks:     map[string]verdictSink{},
		backup:    !chosen && v.gatherer(key) != g.r.self.Name,
	}
	for i := range v.schedulers {
		rec.expected[i/64] |= 1 << (i % 64)
	}
	s.recs[id] = rec
	if rec.remaining == 0 {
		return rec // nobody to wait for; the caller decides
	}
	if rec.backup {
		g.r.deadlines.add(rec.deadline.Add(g.backupGrace()), rec)
	} else {
		g.r.deadlines.add(rec.deadline, rec)
	}
	return rec
}

// backupGrace is how much later than the deadline a backup gather (see
// record.backup) decides. The gatherer the origin chose, if alive, decides at
// the deadline at the latest, and the origin takes the first decision it gets;
// a backup holds only the re-routed scores, so its decision reaching the
// origin first made a worse winner (seen under -race on a starved machine:
// both decided at the deadline, and the backup's, with 1 report of 13, arrived
// first). If the chosen gatherer is gone, the backup still decides well
// before the origin's backstop (DecisionGrace) and before its reporters stop
// waiting (VerdictGrace).
func (g *gatherer) backupGrace() time.Duration {
	return min(g.r.cfg.DecisionGrace, g.r.cfg.VerdictGrace) / 2
}

// open starts the gather of an item that reached this member by scatter.
func (g *gatherer) open(it *relayv1.Item) {
	id := itemID{origin: it.GetOrigin(), id: it.GetRequestId()}
	s := g.shard(id)
	s.mu.Lock()
	if _, known := s.recs[id]; !known && time.Unix(0, it.GetDeadlineUnixNano()).Add(g.keep()).Before(time.Now()) {
		s.mu.Unlock()
		return // may have been decided and forgotten: never open it again
	}
	rec := g.recordLocked(s, id, it.GetKey(), it.GetDeadlineUnixNano(), it.GetSubmitUnixNano(), true)
	out := g.maybeDecideLocked(rec)
	s.mu.Unlock()
	g.send(out)
}

// report takes one member's score. A repeated report (after a reconnect) is not
// counted again; a report for a decided item is answered with the verdict given.
func (g *gatherer) report(sc *relayv1.Score, sink verdictSink) {
	id := itemID{origin: sc.GetOrigin(), id: sc.GetRequestId()}
	s := g.shard(id)
	s.mu.Lock()
	rec, known := s.recs[id]
	if !known && time.Unix(0, sc.GetDeadlineUnixNano()).Add(g.keep()).Before(time.Now()) {
		// Older than anything still remembered: it may have been decided and
		// forgotten, so it must not be decided again.
		s.mu.Unlock()
		sink.sendVerdict(&relayv1.Verdict{RequestId: id.id, Key: sc.GetKey(), Origin: id.origin, Outcome: relayv1.Outcome_OUTCOME_LOSE})
		return
	}
	if !known {
		rec = g.recordLocked(s, id, sc.GetKey(), sc.GetDeadlineUnixNano(), 0, false)
	}
	member := sc.GetMember()
	if rec.decided {
		if member == rec.winner && rec.confirmed == confirmPending {
			rec.winnerSink = sink // answered when the origin confirms
			s.mu.Unlock()
			return
		}
		win := member == rec.winner && rec.confirmed == confirmAccepted
		s.mu.Unlock()
		sink.sendVerdict(verdict(rec, win))
		return
	}
	if _, again := rec.sinks[member]; again {
		rec.sinks[member] = sink
		s.mu.Unlock()
		return
	}
	rec.sinks[member] = sink
	rec.reports++
	if i, ok := rec.v.schedIndex[member]; ok && rec.expected[i/64]&(1<<(i%64)) != 0 {
		rec.expected[i/64] &^= 1 << (i % 64)
		rec.remaining--
	}
	if sc.GetNoFeasibleNode() {
		if rec.reason == "" {
			rec.reason = sc.GetReason()
		}
	} else {
		switch {
		case !rec.haveBest || sc.GetScore() > rec.bestScore:
			rec.haveBest, rec.bestMember, rec.bestNode, rec.bestScore, rec.ties = true, member, sc.GetNode(), sc.GetScore(), 1
		case sc.GetScore() == rec.bestScore:
			rec.ties++
			if rand.IntN(rec.ties) == 0 {
				rec.bestMember, rec.bestNode = member, sc.GetNode()
			}
		}
	}
	out := g.maybeDecideLocked(rec)
	s.mu.Unlock()
	g.send(out)
}

// expire decides an item at its deadline with whatever has been reported,
// unless it was decided before.
func (rec *record) expire() {
	g := rec.g
	s := g.shard(rec.id)
	s.mu.Lock()
	if s.recs[rec.id] != rec || rec.decided {
		s.mu.Unlock()
		return
	}
	out := g.decideLocked(rec)
	s.mu.Unlock()
	g.send(out)
}

// membersChanged stops waiting for members that left: their bits are cleared,
// and gathers left with nobody to wait for are decided now; members back in
// the view that have not reported are waited for again. Decisions the
// origin has not answered are sent again when the link they went out on was
// closed (reconcilePeers runs just before this, on the same view change) or
// when their origin is back in the view.
func (g *gatherer) membersChanged(v *view) {
	for i := range g.shards {
		s := &g.shards[i]
		var outs []*outcome
		s.mu.Lock()
		for _, rec := range s.recs {
			if rec.decided {
				if out := g.resendLocked(rec, v); out != nil {
					outs = append(outs, out)
				}
				continue
			}
			if rec.backup && v.gatherer(rec.key) == g.r.self.Name {
				// The member it was re-routed from left this view: the
				// item is this member's now.
				rec.backup = false
				g.r.deadlines.add(rec.deadline, rec)
			}
			if rec.v == v {
				continue
			}
			for j, name := range rec.v.schedulers {
				_, in := v.byName[name]
				bit := uint64(1) << (j % 64)
				switch expected := rec.expected[j/64]&bit != 0; {
				case expected && !in:
					rec.expected[j/64] &^= bit
					rec.remaining--
				case !expected && in && rec.sinks[name] == nil:
					// Back after gossip called it gone (it has not
					// reported): wait for it again.
					rec.expected[j/64] |= bit
					rec.remaining++
				}
			}
			if out := g.maybeDecideLocked(rec); out != nil {
				outs = append(outs, out)
			}
		}
		s.mu.Unlock()
		for _, out := range outs {
			g.send(out)
		}
	}
}

// outcome is a decision to deliver: verdicts to the reporters, the decision to
// the origin.
type outcome struct {
	verdicts []sinkVerdict
	decision *relayv1.Decision
	origin   string
	// via is the link to the origin (nil when the origin is this member, or
	// not in the view: then the decision waits in the record).
	via *peer
}

type sinkVerdict struct {
	sink verdictSink
	v    *relayv1.Verdict
}

func (g *gatherer) maybeDecideLocked(rec *record) *outcome {
	if rec.decided || rec.remaining > 0 {
		return nil
	}
	return g.decideLocked(rec)
}

// decideLocked decides rec; the shard lock must be held and rec undecided.
func (g *gatherer) decideLocked(rec *record) *outcome {
	rec.decided = true
	rec.decidedAt = time.Now()
	m := g.r.metrics
	stragglers := rec.remaining
	if stragglers > 0 {
		m.stragglers.Add(float64(stragglers))
	}
	d := &relayv1.Decision{
		RequestId:  rec.id.id,
		Key:        rec.key,
		Reports:    uint32(rec.reports),
		Stragglers: uint32(stragglers),
		Gatherer:   g.r.self.Name,
	}
	if rec.haveBest {
		rec.winner = rec.bestMember
		d.Winner, d.Node, d.Score = rec.bestMember, rec.bestNode, rec.bestScore
		m.decidedWinner.Inc()
	} else {
		switch {
		case rec.reports == 0:
			d.NoWinner, d.Reason = relayv1.NoWinner_NO_WINNER_NO_REPORTS, "no member reported"
		default:
			// The members' reason unchanged: the origin's user words it.
			d.NoWinner, d.Reason = relayv1.NoWinner_NO_WINNER_NO_FEASIBLE_NODE, rec.reason
		}
		m.decidedNoWinner.Inc()
	}
	if !rec.submitted.IsZero() && rec.submitted.UnixNano() > 0 {
		m.gatherLatency.Observe(time.Since(rec.submitted).Seconds())
	}
	out := &outcome{decision: d, origin: rec.id.origin}
	g.routeLocked(rec, d, out)
	for member, sink := range rec.sinks {
		if member == rec.winner {
			rec.winnerSink = sink // told once the origin accepts
			continue
		}
		out.verdicts = append(out.verdicts, sinkVerdict{sink: sink, v: verdict(rec, false)})
	}
	// Keep only what late reports need: the winner.
	rec.sinks, rec.expected, rec.v = nil, nil, nil
	return out
}

func verdict(rec *record, win bool) *relayv1.Verdict {
	o := relayv1.Outcome_OUTCOME_LOSE
	if win {
		o = relayv1.Outcome_OUTCOME_WIN
	}
	return &relayv1.Verdict{RequestId: rec.id.id, Key: rec.key, Origin: rec.id.origin, Outcome: o}
}

// routeLocked keeps d in rec until the origin answers it and picks the link
// it goes out on; the shard lock must be held. The link is chosen under the
// lock so that membersChanged, which runs after reconcilePeers closed links,
// either sees the record undecided or sees the link it went out on.
func (g *gatherer) routeLocked(rec *record, d *relayv1.Decision, out *outcome) {
	rec.decision, rec.via = d, nil
	if rec.id.origin == g.r.self.Name {
		return
	}
	rec.via = g.r.peer(rec.id.origin)
	out.via = rec.via
}

// resendLocked returns the outcome that sends rec's decision again when the
// origin has not answered it, the link it went out on has closed (or it had
// none) and the origin is in view v; the shard lock must be held.
func (g *gatherer) resendLocked(rec *record, v *view) *outcome {
	if rec.decision == nil || rec.id.origin == g.r.self.Name {
		return nil
	}
	if rec.via != nil && rec.via.ctx.Err() == nil {
		return nil // still queued or in flight on a live link
	}
	if _, ok := v.byName[rec.id.origin]; !ok {
		return nil // sent again when the origin is back
	}
	out := &outcome{decision: rec.decision, origin: rec.id.origin}
	g.routeLocked(rec, rec.decision, out)
	if out.via == nil {
		return nil
	}
	g.r.metrics.resentDecisions.Inc()
	return out
}

// send delivers an outcome outside the shard lock.
func (g *gatherer) send(out *outcome) {
	if out == nil {
		return
	}
	for _, sv := range out.verdicts {
		sv.sink.sendVerdict(sv.v)
	}
	switch {
	case out.origin == g.r.self.Name:
		g.confirm(itemID{origin: out.origin, id: out.decision.GetRequestId()}, g.r.origin.deliver(out.decision, false))
	case out.via != nil:
		// A closed link refuses it; membersChanged sends it again on the
		// origin's next link.
		out.via.decideLink().push(out.decision)
	}
	// No link: the origin is not in the view; the decision waits in the
	// record until it is (or until the record is swept: the winner's own
	// wait then ends without a win).
}

// confirm takes the origin's answer to a decision and tells the winner: "win"
// only when the origin accepted it.
func (g *gatherer) confirm(id itemID, accepted bool) {
	s := g.shard(id)
	s.mu.Lock()
	rec, ok := s.recs[id]
	if ok && rec.decided {
		rec.decision, rec.via = nil, nil // answered: never sent again
	}
	if !ok || !rec.decided || rec.winner == "" || rec.confirmed != confirmPending {
		s.mu.Unlock()
		return
	}
	rec.confirmed = confirmRejected
	if accepted {
		rec.confirmed = confirmAccepted
	} else {
		g.r.metrics.rejectedDecisions.Inc()
	}
	sink := rec.winnerSink
	rec.winnerSink = nil
	v := verdict(rec, accepted)
	s.mu.Unlock()
	if sink != nil {
		sink.sendVerdict(v)
	}
}

// keep is how long past its deadline (and its decision) a decided record is
// remembered: Retention, and at least as long as a reporter may still be
// waiting for its verdict (VerdictGrace), so a repeated report is answered
// with the verdict given rather than "lose".
func (g *gatherer) keep() time.Duration { return max(g.r.cfg.Retention, g.r.cfg.VerdictGrace) }

// sweep forgets decided records keep past their deadline and past their
// decision. A record whose winner still waits for the origin's answer is kept
// DecisionGrace longer (until the origin's backstop has surely decided): a
// record forgotten earlier made a late confirmation find nothing, so the
// winner was never told, and answered the winner's repeated report "lose"
// although the origin had taken its win.
func (g *gatherer) sweep(now time.Time) {
	cut := now.Add(-g.keep())
	pendingCut := cut.Add(-g.r.cfg.DecisionGrace)
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for id, rec := range s.recs {
			if !rec.decided || !rec.deadline.Before(cut) || !rec.decidedAt.Before(cut) {
				continue
			}
			if rec.winner != "" && rec.confirmed == confirmPending && !rec.deadline.Before(pendingCut) {
				continue
			}
			delete(s.recs, id)
		}
		s.mu.Unlock()
	}
}
