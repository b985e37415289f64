package relay

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// uniqueScore gives every (member, item) pair its own score, so there is one
// best member per item and the test can compute it.
func uniqueScore(member string, it Item) (Score, bool) {
	return Score{Node: member + "-node", Score: int64(hashString(member+"|"+it.Key) % 1_000_000_007)}, true
}

// submit sends n items from the leader in batches and returns their ids.
func submit(t *testing.T, r *Relay, prefix string, n, batch int, deadline time.Duration) []uint64 {
	t.Helper()
	var ids []uint64
	for start := 0; start < n; start += batch {
		items := make([]Item, 0, batch)
		for i := start; i < min(n, start+batch); i++ {
			items = append(items, Item{Key: fmt.Sprintf("%s/pod-%05d", prefix, i), Payload: []byte("pod"), Deadline: time.Now().Add(deadline)})
		}
		if err := r.Submit(items...); err != nil {
			t.Fatalf("submit: %v", err)
		}
		for _, it := range items {
			ids = append(ids, it.RequestID)
		}
	}
	return ids
}

// warmUp submits one item for each member to gather and waits until they are
// decided (however: they are not checked), so every link the test's items use
// (scatter down the tree, a report link from every scheduler to every gatherer,
// decide links to the root) is open. Members open links on first use; under
// -race on a busy 2-core machine the ~550 connections of 24 members, opened at
// once by the first items, took longer than those items' 20 s deadline (dials
// on loopback timed out), so a relay's subtree got them after the deadline and
// dropped them. That is start-up time the test did not wait for, not the
// protocol.
func (c *testCluster) warmUp(root *Relay) {
	c.t.Helper()
	want := map[string]bool{}
	for _, m := range root.Members() {
		want[m.Name] = true
	}
	var items []Item
	for i := 0; len(want) > 0 && i < 100000; i++ {
		key := fmt.Sprintf("warm-up/pod-%d", i)
		if g := root.Gatherer(key); want[g] {
			delete(want, g)
			items = append(items, Item{Key: key, Deadline: time.Now().Add(patientDeadline)})
		}
	}
	// One Submit each: items submitted together share a gatherer.
	for i := range items {
		if err := root.Submit(items[i : i+1]...); err != nil {
			c.t.Fatalf("warm-up: %v", err)
		}
	}
	ids := make([]uint64, len(items))
	for i, it := range items {
		ids[i] = it.RequestID
	}
	c.waitDecided(ids, patientWait)
}

// TestEveryItemDecidedOnce: 24 members (leader, 3 relays, 20 schedulers); every
// item is decided exactly once, the best score wins, every reporter hears once.
func TestEveryItemDecidedOnce(t *testing.T) {
	c := newTestCluster(t, uniqueScore)
	leader := c.start("leader", RoleLeaderEligible)
	for i := range 3 {
		c.start(fmt.Sprintf("relay-%d", i), RoleRelayOnly)
	}
	schedulers := []string{"leader"}
	for i := range 20 {
		name := fmt.Sprintf("sched-%02d", i)
		c.start(name, RoleScheduler)
		schedulers = append(schedulers, name)
	}
	c.converge()
	c.warmUp(leader.r)

	keys := map[uint64]string{}
	ids := submit(t, leader.r, "exactly-once", 300, 50, patientDeadline)
	for i, id := range ids {
		keys[id] = fmt.Sprintf("exactly-once/pod-%05d", i)
	}
	c.waitDecided(ids, patientWait)
	eventually(t, time.Minute, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, id := range ids {
			if c.verdicts[id] < len(schedulers) {
				return fmt.Errorf("item %d: %d verdicts, want %d\n%s", id, c.verdicts[id], len(schedulers), c.itemState("leader", id))
			}
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		d := c.onlyDecision(t, id)
		var best string
		var bestScore int64 = -1
		for _, s := range schedulers {
			sc, _ := uniqueScore(s, Item{Key: keys[id]})
			if sc.Score > bestScore {
				best, bestScore = s, sc.Score
			}
		}
		if d.Winner != best || d.Score != bestScore || d.Node != best+"-node" {
			t.Fatalf("item %d: winner %s/%s score %d, want %s score %d: %+v\n%s", id, d.Winner, d.Node, d.Score, best, bestScore, d, c.itemState("leader", id))
		}
		if d.Reports != len(schedulers) || d.Stragglers != 0 || d.Reason != "" {
			t.Fatalf("item %d: %+v\n%s", id, d, c.itemState("leader", id))
		}
		if w := c.wins[id]; len(w) != 1 || w[0] != best {
			t.Fatalf("item %d: told to win: %v, want [%s]\n%s", id, w, best, c.itemState("leader", id))
		}
		if c.verdicts[id] != len(schedulers) {
			t.Fatalf("item %d: %d verdicts, want %d", id, c.verdicts[id], len(schedulers))
		}
	}
	if n := leader.r.InFlight(); n != 0 {
		t.Fatalf("%d items still in flight at the leader", n)
	}
}

// TestTiesSpread: when every member scores the same, the winners spread over
// all of them.
func TestTiesSpread(t *testing.T) {
	c := newTestCluster(t, func(member string, it Item) (Score, bool) {
		return Score{Node: member + "-node", Score: 100}, true
	})
	leader := c.start("leader", RoleLeaderEligible)
	names := []string{"leader"}
	for i := range 8 {
		n := fmt.Sprintf("sched-%d", i)
		c.start(n, RoleScheduler)
		names = append(names, n)
	}
	c.converge()
	ids := submit(t, leader.r, "ties", 450, 50, patientDeadline)
	c.waitDecided(ids, patientWait)

	c.mu.Lock()
	defer c.mu.Unlock()
	won := map[string]int{}
	for _, id := range ids {
		if len(c.decisions[id]) != 1 {
			t.Fatalf("item %d decided %d times", id, len(c.decisions[id]))
		}
		won[c.decisions[id][0].Winner]++
	}
	// 450 items over 9 members: 50 each on average; a member with none would
	// mean ties are not broken at random (chance of that by luck: ~1e-22).
	for _, n := range names {
		if won[n] == 0 {
			t.Fatalf("member %s never won a tie: %v", n, won)
		}
	}
	t.Logf("wins per member: %v", won)
}

// TestSubmittedTogetherShareGatherer: items of one Submit share a gatherer,
// 64 at a time (the gatherer of each run's first key), and that member
// decides them.
func TestSubmittedTogetherShareGatherer(t *testing.T) {
	c := newTestCluster(t, uniqueScore)
	leader := c.start("leader", RoleLeaderEligible)
	for i := range 4 {
		c.start(fmt.Sprintf("sched-%d", i), RoleScheduler)
	}
	c.converge()
	c.warmUp(leader.r)
	items := make([]Item, 100)
	for i := range items {
		items[i] = Item{Key: fmt.Sprintf("together/pod-%03d", i), Deadline: time.Now().Add(patientDeadline)}
	}
	if err := leader.r.Submit(items...); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, len(items))
	for i, it := range items {
		ids[i] = it.RequestID
		want := leader.r.Gatherer(items[i-i%gatherRun].Key)
		if it.Gatherer != want {
			t.Fatalf("item %d: gatherer %s, want %s (that of item %d)", i, it.Gatherer, want, i-i%gatherRun)
		}
	}
	c.waitDecided(ids, patientWait)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, it := range items {
		if d := c.onlyDecision(t, it.RequestID); d.Gatherer != it.Gatherer || d.Winner == "" {
			t.Fatalf("item %d decided by %s (winner %q), want its gatherer %s\n%s", i, d.Gatherer, d.Winner, it.Gatherer, c.itemState("leader", it.RequestID))
		}
	}
}

// onlyDecision is item id's one decision; c.mu must be held.
func (c *testCluster) onlyDecision(t *testing.T, id uint64) Decision {
	t.Helper()
	ds := c.decisions[id]
	if len(ds) != 1 {
		t.Fatalf("item %d decided %d times", id, len(ds))
	}
	return ds[0]
}

// TestNoFeasibleNode: when every member reports no feasible node, the
// decision says so as a typed cause, and carries a member's reason as the
// member wrote it, for the origin's user to word.
func TestNoFeasibleNode(t *testing.T) {
	const reason = "0/3 nodes are available: 3 Insufficient cpu."
	c := newTestCluster(t, func(member string, it Item) (Score, bool) {
		return Score{NoFeasibleNode: true, Reason: reason}, true
	})
	leader := c.start("leader", RoleLeaderEligible)
	for i := range 3 {
		c.start(fmt.Sprintf("sched-%d", i), RoleScheduler)
	}
	c.converge()
	ids := submit(t, leader.r, "nofit", 20, 20, patientDeadline)
	c.waitDecided(ids, patientWait)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		d := c.onlyDecision(t, id)
		if d.Winner != "" || d.NoWinner != NoFeasibleNode || d.Reason != reason || d.Reports != 4 {
			t.Fatalf("item %d: %+v, want no winner (%v) with reason %q from 4 reports", id, d, NoFeasibleNode, reason)
		}
	}
}

// TestDeadlineWithStalledMember: a member that never answers is given up on at
// the deadline; the item is still decided, by its gatherer, not before the
// deadline, with the stalled member counted as a straggler.
func TestDeadlineWithStalledMember(t *testing.T) {
	const stalled = "sched-3"
	c := newTestCluster(t, func(member string, it Item) (Score, bool) {
		if member == stalled {
			return Score{}, false
		}
		return uniqueScore(member, it)
	})
	leader := c.start("leader", RoleLeaderEligible)
	for i := range 6 {
		c.start(fmt.Sprintf("sched-%d", i), RoleScheduler)
	}
	c.converge()
	items := make([]Item, 20)
	for i := range items {
		items[i] = Item{Key: fmt.Sprintf("stall/pod-%d", i), Deadline: time.Now().Add(3 * time.Second)}
	}
	if err := leader.r.Submit(items...); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, len(items))
	for i, it := range items {
		ids[i] = it.RequestID
	}
	c.waitDecided(ids, 60*time.Second)

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		ds := c.decisions[it.RequestID]
		if len(ds) != 1 {
			t.Fatalf("%s decided %d times", it.Key, len(ds))
		}
		d := ds[0]
		// The stalled member is always a straggler; on a busy machine others
		// may be too, but every expected member is either.
		if d.Stragglers < 1 || d.Reports+d.Stragglers != 7 || d.Winner == "" || d.Winner == stalled || d.Reason != "" || d.Gatherer == "" {
			t.Fatalf("%s: %+v", it.Key, d)
		}
		if c.arrived[it.RequestID].Before(it.Deadline) {
			t.Fatalf("%s decided before its deadline although %s never reported", it.Key, stalled)
		}
	}
}

// TestKillAndRestartMidStream: members die (no goodbye) while items flow, one
// comes back under the same name; every item is still decided exactly once,
// nobody is told to win an item twice, and the returning member is in the new
// tree and takes part again.
func TestKillAndRestartMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("kills members and waits for failure detection")
	}
	c := newTestCluster(t, uniqueScore)
	c.detectFailures = true
	leader := c.start("leader", RoleLeaderEligible)
	for i := range 3 {
		c.start(fmt.Sprintf("relay-%d", i), RoleRelayOnly)
	}
	for i := range 12 {
		c.start(fmt.Sprintf("sched-%02d", i), RoleScheduler)
	}
	c.converge()

	var ids []uint64
	var idsMu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); <-done }
	t.Cleanup(halt) // runs before the cluster's cleanup stops the members
	// 20 items every 20 ms, with at most window undecided: a fixed rate
	// outran a starved -race process (items missed their deadlines on the
	// way down, whatever the kills did). Items in flight when a member dies
	// wait up to their deadline.
	const window = 200
	go func() {
		defer close(done)
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if leader.r.InFlight() >= window {
				continue
			}
			items := make([]Item, 20)
			for i := range items {
				items[i] = Item{Key: fmt.Sprintf("churn-%d/pod-%d", round, i), Deadline: time.Now().Add(10 * time.Second)}
			}
			if err := leader.r.Submit(items...); err != nil {
				t.Errorf("submit: %v", err)
				return
			}
			got := make([]uint64, len(items))
			for i, it := range items {
				got[i] = it.RequestID
			}
			idsMu.Lock()
			ids = append(ids, got...)
			idsMu.Unlock()
		}
	}()
	count := func() int { idsMu.Lock(); defer idsMu.Unlock(); return len(ids) }
	eventually(t, time.Minute, func() error {
		if n := count(); n < 200 {
			return fmt.Errorf("%d items submitted", n)
		}
		return nil
	})
	// relay-1 forwards to a third of the schedulers; sched-05 schedules and
	// gathers some keys.
	c.kill("relay-1")
	c.kill("sched-05")
	c.converge()
	restarted := c.start("sched-05", RoleScheduler)
	c.converge()
	eventually(t, 2*time.Minute, func() error {
		if n := count(); n < 1200 {
			return fmt.Errorf("%d items submitted", n)
		}
		return nil
	})
	halt()

	idsMu.Lock()
	all := append([]uint64(nil), ids...)
	idsMu.Unlock()
	c.waitDecided(all, patientWait)
	// Let late verdicts land before counting wins.
	time.Sleep(100 * time.Millisecond)

	c.mu.Lock()
	winners, backstops := 0, 0
	for _, id := range all {
		ds := c.decisions[id]
		if len(ds) != 1 {
			c.mu.Unlock()
			t.Fatalf("item %d decided %d times: %+v", id, len(ds), ds)
		}
		if w := c.wins[id]; len(w) > 1 {
			c.mu.Unlock()
			t.Fatalf("item %d: %v all told to win", id, w)
		}
		d := ds[0]
		if d.Winner != "" {
			winners++
			if w := c.wins[id]; len(w) == 1 && w[0] != d.Winner {
				c.mu.Unlock()
				t.Fatalf("item %d: decision %+v, %s was told to win; gathers: %s", id, d, w[0], c.gathersOf("leader", id))
			}
		}
		if d.Gatherer == "leader" && d.NoWinner == NoDecision {
			backstops++
		}
	}
	c.mu.Unlock()
	t.Logf("%d items, %d with a winner, %d decided by the origin's backstop", len(all), winners, backstops)
	// Items gathered by a killed member, or stuck under a killed relay, until
	// gossip notices the death, may end without a winner (decided "no winner",
	// for the caller to retry); that must stay the exception.
	if winners < len(all)*2/3 {
		t.Fatalf("only %d of %d items found a winner", winners, len(all))
	}

	// The returning member computes the same tree as the leader and takes part.
	lt, err := leader.r.Tree("leader")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := restarted.r.Tree("leader")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lt.Members()) != fmt.Sprint(rt.Members()) || !rt.Contains("sched-05") {
		t.Fatalf("trees differ:\nleader    %v\nrestarted %v", lt.Members(), rt.Members())
	}
	after := submit(t, leader.r, "after", 30, 30, patientDeadline)
	c.waitDecided(after, patientWait)
	c.mu.Lock()
	defer c.mu.Unlock()
	live := 1 + 12 // the leader and all 12 schedulers (sched-05 is back)
	for _, id := range after {
		if d := c.decisions[id][0]; d.Reports != live || d.Stragglers != 0 {
			t.Fatalf("after restart: %+v, want %d reports", d, live)
		}
	}
}

// TestGathererStable: the gatherer depends only on the key and the member set,
// and when a member leaves only its own keys move.
func TestGathererStable(t *testing.T) {
	mk := func(names ...string) *view {
		m := map[string]Member{}
		for _, n := range names {
			m[n] = Member{Name: n, Role: RoleScheduler}
		}
		return newView(1, m)
	}
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("m-%02d", i)
	}
	a := mk(names...)
	shuffled := append([]string(nil), names...)
	sort.Sort(sort.Reverse(sort.StringSlice(shuffled)))
	b := mk(shuffled...)
	without := mk(names[1:]...)
	counts := map[string]int{}
	for i := range 5000 {
		key := fmt.Sprintf("ns/pod-%d", i)
		g := a.gatherer(key)
		counts[g]++
		if b.gatherer(key) != g {
			t.Fatalf("%s: gatherer depends on member order", key)
		}
		if g != names[0] && without.gatherer(key) != g {
			t.Fatalf("%s moved from %s to %s when %s left", key, g, without.gatherer(key), names[0])
		}
	}
	if len(counts) != len(names) {
		t.Fatalf("only %d of %d members gather anything", len(counts), len(names))
	}
}

// TestDecisionWaitsForOrigin: a gatherer that decides while the item's origin
// is out of its view (a false failure suspicion; the link to it closed) keeps
// the decision and delivers it once the origin is back, and the winner hears
// "win". Before, the decision was dropped: the winner was never told and the
// origin's backstop decided "no decision from the gatherer".
func TestDecisionWaitsForOrigin(t *testing.T) {
	const gatherer, winner = "sched-a", "sched-b"
	c := newTestCluster(t, func(member string, it Item) (Score, bool) {
		s := Score{Node: member + "-node", Score: 1}
		if member == winner {
			s.Score = 100
		}
		return s, true
	})
	leader := c.start("leader", RoleLeaderEligible)
	g := c.start(gatherer, RoleScheduler)
	c.start(winner, RoleScheduler)
	c.converge()
	var key string
	for i := 0; ; i++ {
		key = fmt.Sprintf("origin-away/pod-%d", i)
		if leader.r.Gatherer(key) == gatherer {
			break
		}
	}
	// The gatherer's view loses the origin, as when gossip wrongly declares
	// it dead; memberlist tells it when the origin is alive again.
	g.r.memberDown("leader")
	if got := g.r.Gatherer(key); got != gatherer {
		t.Fatalf("without the leader %s gathers %s, want %s", got, key, gatherer)
	}
	items := []Item{{Key: key, Deadline: time.Now().Add(2 * time.Second)}}
	if err := leader.r.Submit(items...); err != nil {
		t.Fatal(err)
	}
	id := items[0].RequestID
	iid := itemID{origin: "leader", id: id}
	eventually(t, time.Minute, func() error {
		s := g.r.gather.shard(iid)
		s.mu.Lock()
		defer s.mu.Unlock()
		if rec := s.recs[iid]; rec == nil || !rec.decided {
			return fmt.Errorf("%s has not decided %s", gatherer, key)
		}
		return nil
	})
	meta, err := encodeMeta(leader.r.Self())
	if err != nil {
		t.Fatal(err)
	}
	g.r.memberUp(&memberlist.Node{Name: "leader", Meta: meta}, false)

	// The origin's backstop (deadline + DecisionGrace, 30 s here) would
	// decide "no decision from the gatherer": the check below tells.
	c.waitDecided([]uint64{id}, time.Minute)
	eventually(t, time.Minute, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if w := c.wins[id]; len(w) != 1 || w[0] != winner {
			return fmt.Errorf("told to win: %v, want [%s]", w, winner)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if ds := c.decisions[id]; len(ds) != 1 || ds[0].Winner != winner || ds[0].Gatherer != gatherer || ds[0].Reason != "" {
		t.Fatalf("decisions %+v, want one by %s naming %s", ds, gatherer, winner)
	}
}
