package relaytree

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/rs/zerolog"
)

// cluster starts n real relay members on loopback (real memberlist, real
// gRPC); member 0 is the root and the others join through it.
func cluster(t *testing.T, n int, deadline time.Duration) []*Member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var ms []*Member
	for i := 0; i < n; i++ {
		rc := relay.DefaultLocalConfig()
		rc.Name = fmt.Sprintf("m%d", i)
		rc.Role = relay.RoleLeaderEligible
		rc.DefaultDeadline = deadline
		var seeds []string
		if i > 0 {
			seeds = []string{ms[0].GossipAddr()}
		}
		m, err := Start(ctx, Config{Relay: rc, Seeds: seeds, JoinRetry: 200 * time.Millisecond, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Shutdown)
		ms = append(ms, m)
	}
	waitFor(t, 30*time.Second, "every member sees every member", func() bool {
		for _, m := range ms {
			if len(m.Members()) != n {
				return false
			}
		}
		return true
	})
	return ms
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decisions collects the root's decisions by key.
type decisions struct {
	mu sync.Mutex
	by map[string]relay.Decision
}

func watchDecisions(m *Member) *decisions {
	d := &decisions{by: map[string]relay.Decision{}}
	m.OnDecision(func(dec relay.Decision) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.by[dec.Key] = dec
	})
	return d
}

func (d *decisions) get(key string) (relay.Decision, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.by[key]
	return v, ok
}

// items records the items reaching each member.
type items struct {
	mu sync.Mutex
	by map[string][]tree.Item // member -> items in arrival order
}

func watchItems(ms []*Member) *items {
	it := &items{by: map[string][]tree.Item{}}
	for _, m := range ms {
		name := m.Self()
		m.OnItem(func(x tree.Item) {
			it.mu.Lock()
			defer it.mu.Unlock()
			it.by[name] = append(it.by[name], x)
		})
	}
	return it
}

func (it *items) of(member, key string) (tree.Item, bool) {
	it.mu.Lock()
	defer it.mu.Unlock()
	for _, x := range it.by[member] {
		if x.Key == key {
			return x, true
		}
	}
	return tree.Item{}, false
}

// reportAll waits for key's item on every member and reports its bid,
// returning the verdicts.
func reportAll(t *testing.T, ms []*Member, seen *items, key string, bids []tree.Bid) []tree.Verdict {
	t.Helper()
	out := make([]tree.Verdict, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		var it tree.Item
		waitFor(t, 10*time.Second, m.Self()+" receives "+key, func() bool {
			var ok bool
			it, ok = seen.of(m.Self(), key)
			return ok
		})
		wg.Add(1)
		m.Report(it, bids[i], func(v tree.Verdict) {
			out[i] = v
			wg.Done()
		})
	}
	wg.Wait()
	return out
}

// The item carries the pod to every member; the best bid wins, the others
// hear they lost, and the root's decision names the winner.
func TestPodTravelsBestBidWins(t *testing.T) {
	ms := cluster(t, 3, 5*time.Second)
	dec := watchDecisions(ms[0])
	seen := watchItems(ms)
	const key = "default/p1/uid-1"
	pod := []byte("the pod, encoded")
	if _, err := ms[0].Submit(5*time.Second, tree.Item{Key: key, Pod: pod}); err != nil {
		t.Fatal(err)
	}
	vs := reportAll(t, ms, seen, key, []tree.Bid{{Node: "n0", Score: 10}, {Node: "n1", Score: 30}, {Node: "n2", Score: 20}})
	for i, m := range ms {
		it, _ := seen.of(m.Self(), key)
		if string(it.Pod) != string(pod) {
			t.Errorf("member %d got pod %q", i, it.Pod)
		}
	}
	if !vs[1].Win || vs[0].Win || vs[2].Win {
		t.Fatalf("verdicts %+v: want only m1 to win", vs)
	}
	waitFor(t, 10*time.Second, "the root's decision", func() bool { _, ok := dec.get(key); return ok })
	if d, _ := dec.get(key); d.Winner != "m1" || d.Node != "n1" || d.Reports != 3 {
		t.Fatalf("decision %+v", d)
	}
}

// Nobody fits: every member hears it lost, and the root's decision has no
// winner and carries a member's reason.
func TestNoFeasibleNode(t *testing.T) {
	ms := cluster(t, 3, 5*time.Second)
	dec := watchDecisions(ms[0])
	seen := watchItems(ms)
	const key = "default/big/uid-3"
	if _, err := ms[0].Submit(5*time.Second, tree.Item{Key: key}); err != nil {
		t.Fatal(err)
	}
	bid := tree.Bid{Reason: "0/10 nodes are available: 10 Insufficient cpu."}
	vs := reportAll(t, ms, seen, key, []tree.Bid{bid, bid, bid})
	for i, v := range vs {
		if v.Win {
			t.Fatalf("member %d: %+v", i, v)
		}
	}
	waitFor(t, 10*time.Second, "the root's decision", func() bool { _, ok := dec.get(key); return ok })
	if d, _ := dec.get(key); d.Winner != "" || !strings.Contains(d.Reason, "Insufficient cpu") || d.Reports != 3 {
		t.Fatalf("decision %+v", d)
	}
}

// A member that leaves mid-flight is not waited for.
func TestMemberLeaving(t *testing.T) {
	ms := cluster(t, 3, 20*time.Second)
	dec := watchDecisions(ms[0])
	seen := watchItems(ms)
	const key = "default/leave/uid-4"
	if _, err := ms[0].Submit(20*time.Second, tree.Item{Key: key}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the item reaches m2", func() bool { _, ok := seen.of("m2", key); return ok })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ms[2].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	vs := reportAll(t, ms[:2], seen, key, []tree.Bid{{Node: "a", Score: 5}, {Node: "b", Score: 1}})
	if !vs[0].Win || vs[1].Win {
		t.Fatalf("verdicts %+v", vs)
	}
	waitFor(t, 10*time.Second, "the root's decision", func() bool { _, ok := dec.get(key); return ok })
	// Decided on m2's leave, not at the deadline with m2 as a straggler.
	if d, _ := dec.get(key); d.Winner != "m0" || d.Stragglers != 0 {
		t.Fatalf("decision %+v", d)
	}
}
