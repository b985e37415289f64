package relay

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// scorer decides what a test member answers for an item: its score, and
// whether it answers at all (a stalled member does not).
type scorer func(member string, it Item) (s Score, answer bool)

// testCluster is many real members in one process: real memberlist gossip on
// 127.0.0.1 and real gRPC on loopback, each on ports the kernel picks.
type testCluster struct {
	t      *testing.T
	mu     sync.Mutex
	byName map[string]*testMember
	score  scorer
	// record of everything that happened, for the assertions.
	decisions map[uint64][]Decision
	wins      map[uint64][]string
	verdicts  map[uint64]int
	heard     map[uint64]map[string]Verdict // by member, for failure messages
	arrived   map[uint64]time.Time          // when each item's (first) decision arrived
	tune      func(*Config)
	// detectFailures is set by tests that kill members: their gossip declares
	// a silent member dead in about half a minute (DefaultLocalConfig). The
	// others kill nobody, so their gossip waits minutes: in a process starved
	// to a quarter of a core or less (-race next to compiles), half a minute
	// still saw live members declared dead and back, and a gatherer stops
	// waiting for a member out of its view.
	detectFailures bool
	// leaves counts every "member left" any member was told, false failure
	// detections included (each flap of a live member counts once per
	// member that saw it); logged at the end of the test.
	leaves atomic.Int64
	// stopped is set once every member was shut down: memberlist's goroutines
	// may still log for a moment, and logging to a finished test panics.
	stopped atomic.Bool
}

// quietAfter drops log lines once stopped is set.
type quietAfter struct {
	stopped *atomic.Bool
	w       io.Writer
}

func (q quietAfter) Write(p []byte) (int, error) {
	if q.stopped.Load() {
		return len(p), nil
	}
	return q.w.Write(p)
}

type testMember struct {
	name string
	role Role
	r    *Relay
}

func newTestCluster(t *testing.T, score scorer) *testCluster {
	c := &testCluster{
		t: t, byName: map[string]*testMember{}, score: score,
		decisions: map[uint64][]Decision{}, wins: map[uint64][]string{}, verdicts: map[uint64]int{},
		heard:   map[uint64]map[string]Verdict{},
		arrived: map[uint64]time.Time{},
	}
	// What a run got of the machine, and how often gossip changed its mind,
	// say whether a failure is the protocol's or a starved machine's.
	cpu0, start := cpuTime(t), time.Now()
	t.Cleanup(func() {
		cpu, took := cpuTime(t)-cpu0, time.Since(start)
		c.stopAll()
		t.Logf("%v, %.2f cores of CPU; %d member-left events (members that stayed count each time gossip calls them gone)", took.Round(time.Second), float64(cpu)/float64(took), c.leaves.Load())
	})
	return c
}

// countLeaves counts the leaves a member is told about.
type countLeaves struct{ n *atomic.Int64 }

func (e countLeaves) MemberJoined(Member)  {}
func (e countLeaves) MemberLeft(Member)    { e.n.Add(1) }
func (e countLeaves) MemberUpdated(Member) {}

// start starts a member and joins it to the others.
func (c *testCluster) start(name string, role Role) *testMember {
	c.t.Helper()
	cfg := DefaultLocalConfig()
	cfg.Name, cfg.Role = name, role
	cfg.Fanout = 3
	cfg.Logger = zerolog.Nop()
	if testing.Verbose() {
		cfg.Logger = zerolog.New(quietAfter{&c.stopped, zerolog.NewTestWriter(c.t)}).Level(zerolog.InfoLevel)
	}
	cfg.Memberlist.Logger = nil
	// This machine is shared with heavy builds: give answers that are late
	// (not lost) time to arrive, so the assertions see the protocol's
	// decisions rather than the last-resort timeouts.
	cfg.VerdictGrace = 30 * time.Second
	cfg.DecisionGrace = 30 * time.Second
	if !c.detectFailures {
		// 60 x log10(members) x 2 s: 2 min with up to 10 members, 2.8 with 24.
		cfg.Memberlist.SuspicionMult = 60
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	m := &testMember{name: name, role: role}
	cfg.Handler = HandlerFunc(func(it Item) {
		s, answer := c.score(name, it)
		if !answer {
			return
		}
		m.r.Report(it, s, func(v Verdict) { c.verdict(name, v) })
	})
	cfg.Decisions = DecisionFunc(c.decided)
	cfg.Events = countLeaves{&c.leaves}
	r, err := New(cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	m.r = r
	c.mu.Lock()
	var seed string
	for _, o := range c.byName {
		seed = o.r.GossipAddr()
		break
	}
	c.byName[name] = m
	c.mu.Unlock()
	if seed != "" {
		// A join can time out when the machine is busy; members retry, as
		// relayd's join loop does.
		eventually(c.t, 60*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := r.Join(ctx, seed)
			return err
		})
	}
	return m
}

func (c *testCluster) verdict(member string, v Verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verdicts[v.RequestID]++
	if c.heard[v.RequestID] == nil {
		c.heard[v.RequestID] = map[string]Verdict{}
	}
	c.heard[v.RequestID][member] = v
	if v.Win {
		c.wins[v.RequestID] = append(c.wins[v.RequestID], member)
	}
}

func (c *testCluster) decided(d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.decisions[d.RequestID]) == 0 {
		c.arrived[d.RequestID] = time.Now()
	}
	c.decisions[d.RequestID] = append(c.decisions[d.RequestID], d)
}

// kill stops a member without telling anyone (a crash).
func (c *testCluster) kill(name string) {
	c.mu.Lock()
	m := c.byName[name]
	delete(c.byName, name)
	c.mu.Unlock()
	_ = m.r.Shutdown()
}

func (c *testCluster) stopAll() {
	c.mu.Lock()
	ms := make([]*testMember, 0, len(c.byName))
	for _, m := range c.byName {
		ms = append(ms, m)
	}
	c.byName = map[string]*testMember{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.r.Shutdown() }()
	}
	wg.Wait()
	c.stopped.Store(true)
}

// members is how many live members the test started.
func (c *testCluster) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byName)
}

// converge waits until every live member sees exactly the live members.
func (c *testCluster) converge() {
	c.t.Helper()
	want := c.size()
	eventually(c.t, 120*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.byName {
			got := m.r.Members()
			if len(got) != want {
				return fmt.Errorf("%s sees %d members, want %d", m.name, len(got), want)
			}
			for _, g := range got {
				if _, ok := c.byName[g.Name]; !ok {
					return fmt.Errorf("%s still sees %s", m.name, g.Name)
				}
			}
		}
		return nil
	})
}

// waitDecided waits until every id has at least one decision.
func (c *testCluster) waitDecided(ids []uint64, within time.Duration) {
	c.t.Helper()
	eventually(c.t, within, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		missing := 0
		for _, id := range ids {
			if len(c.decisions[id]) == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d items undecided", missing, len(ids))
		}
		return nil
	})
}

// patientDeadline is the deadline of items a test expects every scheduler to
// report on. Their gatherer decides as soon as all have, so a long deadline
// costs nothing when things go well; on a starved machine (-race next to
// compiles: this process got a tenth to a half of a core) the first items
// took 15 s to reach every member and their scores as long to come back, and
// with a quarter of a core one score of 6,300 took over a minute to reach its
// gatherer (BENCHMARKS.md, "Many members in one process").
const patientDeadline = 2 * time.Minute

// patientWait is how long a test waits for such items to be decided: past
// the origin's backstop (deadline + DecisionGrace), which decides any item
// no gatherer did, so a wait that runs out means the protocol is stuck.
const patientWait = patientDeadline + 45*time.Second

// eventually polls cond until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gathersOf describes every live member's gather record of an item (for
// failure messages); c.mu must be held.
func (c *testCluster) gathersOf(origin string, id uint64) string {
	var out []string
	iid := itemID{origin: origin, id: id}
	for name, m := range c.byName {
		sh := m.r.gather.shard(iid)
		sh.mu.Lock()
		if rec := sh.recs[iid]; rec != nil {
			out = append(out, fmt.Sprintf("%s: decided=%v winner=%s confirmed=%d reports=%d", name, rec.decided, rec.winner, rec.confirmed, rec.reports))
		}
		sh.mu.Unlock()
	}
	return strings.Join(out, "; ")
}

// itemState describes an item across the live members (for failure messages):
// its decisions, who heard which verdict, and each member's gather record,
// pending report and whether it saw the item; c.mu must be held.
func (c *testCluster) itemState(origin string, id uint64) string {
	iid := itemID{origin: origin, id: id}
	var b strings.Builder
	fmt.Fprintf(&b, "decisions %+v\n", c.decisions[id])
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.byName[name]
		fmt.Fprintf(&b, "  %s:", name)
		if v, ok := c.heard[id][name]; ok {
			fmt.Fprintf(&b, " heard win=%v reason=%q", v.Win, v.Reason)
		}
		fs := m.r.flights.shard(iid)
		fs.mu.Lock()
		_, seen := fs.m[iid]
		fs.mu.Unlock()
		fmt.Fprintf(&b, " seen=%v", seen)
		rs := m.r.reports.shard(iid)
		rs.mu.Lock()
		if pr := rs.m[iid]; pr != nil {
			fmt.Fprintf(&b, " pending-to=%s", pr.gatherer)
		}
		rs.mu.Unlock()
		gs := m.r.gather.shard(iid)
		gs.mu.Lock()
		if rec := gs.recs[iid]; rec != nil {
			fmt.Fprintf(&b, " gather{decided=%v winner=%s confirmed=%d reports=%d remaining=%d}", rec.decided, rec.winner, rec.confirmed, rec.reports, rec.remaining)
		}
		gs.mu.Unlock()
		b.WriteString("\n")
	}
	return b.String()
}
