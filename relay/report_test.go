package relay

import (
	"context"
	"fmt"
	"testing"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// bareRelay is a member without network: its view holds self and the named
// schedulers, its deadlines run, and nothing else does; enough for the
// gatherer and the reporter on their own.
func bareRelay(t *testing.T, cfg Config, self string, others ...string) *Relay {
	t.Helper()
	cfg.Name = self
	r := &Relay{cfg: cfg, self: Member{Name: self, Role: RoleScheduler}, metrics: newMetrics(nil), deadlines: newDeadlines(), peers: map[string]*peer{}}
	r.gather = newGatherer(r)
	r.reports = newReporter(r)
	r.origin = newOriginTable(r)
	r.setView(append([]string{self}, others...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.deadlines.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// setView makes the named schedulers the bare member's view.
func (r *Relay) setView(names ...string) *view {
	byName := map[string]Member{}
	for _, n := range names {
		byName[n] = Member{Name: n, Role: RoleScheduler}
	}
	r.seq++
	v := newView(r.seq, byName)
	r.cur.Store(v)
	return v
}

// TestReachableTakesBackScores: once the report link to a gatherer that was
// counted unreachable opens again, the scores the origin meant for it (moved
// to another gatherer meanwhile) point at it again, and only those.
func TestReachableTakesBackScores(t *testing.T) {
	r := bareRelay(t, DefaultLocalConfig(), "self", "g1", "g2")
	giveUp := time.Now().Add(time.Hour)
	add := func(id uint64, gatherer, stamped string) {
		r.reports.add(&relayv1.Score{RequestId: id, Key: fmt.Sprintf("ns/pod-%d", id), Origin: "o", Member: "self"}, gatherer, stamped, giveUp, func(Verdict) {})
	}
	add(1, "g2", "g1") // moved off g1
	add(2, "g1", "g1") // never moved
	add(3, "g1", "g2") // moved off g2 onto g1
	add(4, "g2", "g2")
	r.reports.reachable("g1")
	ids := func(g string) map[uint64]bool {
		out := map[uint64]bool{}
		for _, sc := range r.reports.pendingFor(g) {
			out[sc.GetRequestId()] = true
		}
		return out
	}
	if got := ids("g1"); len(got) != 3 || !got[1] || !got[2] || !got[3] {
		t.Fatalf("pending for g1 %v, want 1, 2 and 3", got)
	}
	if got := ids("g2"); len(got) != 1 || !got[4] {
		t.Fatalf("pending for g2 %v, want 4", got)
	}
	// A gatherer gone from the view takes nothing back (membersChanged
	// re-routes its scores).
	r.setView("self", "g1")
	r.reports.reachable("g2")
	if got := ids("g2"); len(got) != 1 || !got[4] {
		t.Fatalf("pending for g2 %v after it left, want only 4", got)
	}
}
