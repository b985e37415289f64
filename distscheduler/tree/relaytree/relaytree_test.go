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

// gatherAll runs one Gather per member concurrently with the given bids.
func gatherAll(t *testing.T, ms []*Member, key string, bids []tree.Bid) []tree.Verdict {
	t.Helper()
	out := make([]tree.Verdict, len(ms))
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out[i], errs[i] = m.Gather(ctx, key, bids[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d gather: %v", i, err)
		}
	}
	return out
}

func TestBestBidWinsOthersDrop(t *testing.T) {
	ms := cluster(t, 3, 5*time.Second)
	dec := watchDecisions(ms[0])
	const key = "default/p1/uid-1"
	if _, err := ms[0].Submit(5*time.Second, key); err != nil {
		t.Fatal(err)
	}
	vs := gatherAll(t, ms, key, []tree.Bid{{Node: "n0", Score: 10}, {Node: "n1", Score: 30}, {Node: "n2", Score: 20}})
	if vs[1].Winner != "m1" || vs[1].Node != "n1" || vs[1].Score != 30 {
		t.Fatalf("m1 should win with n1/30, got %+v", vs[1])
	}
	for _, i := range []int{0, 2} {
		if vs[i].Winner != tree.Elsewhere {
			t.Fatalf("member %d: want %q, got %+v", i, tree.Elsewhere, vs[i])
		}
	}
	waitFor(t, 10*time.Second, "the root's decision", func() bool { _, ok := dec.get(key); return ok })
	if d, _ := dec.get(key); d.Winner != "m1" || d.Node != "n1" || d.Reports != 3 {
		t.Fatalf("decision %+v", d)
	}
}

// A member whose queue reaches the pod before its item arrived waits for
// the item; a Gather for a pod nobody submits gives up after ItemWait.
func TestGatherBeforeItemAndWithoutItem(t *testing.T) {
	ms := cluster(t, 2, 5*time.Second)
	const key = "default/early/uid-2"
	done := make(chan []tree.Verdict, 1)
	go func() { done <- gatherAll(t, ms, key, []tree.Bid{{Node: "a", Score: 1}, {Node: "b", Score: 2}}) }()
	time.Sleep(300 * time.Millisecond) // both are waiting for the item
	if _, err := ms[0].Submit(5*time.Second, key); err != nil {
		t.Fatal(err)
	}
	vs := <-done
	if vs[1].Winner != "m1" || vs[0].Winner != tree.Elsewhere {
		t.Fatalf("verdicts %+v", vs)
	}

	// The item was reported: a second Gather (the pod came back to the
	// queue) waits for a newer item and, with none, gives the pod up.
	v, err := ms[1].Gather(context.Background(), key, tree.Bid{Node: "b", Score: 2})
	if err != nil || v.Winner != tree.Elsewhere {
		t.Fatalf("second gather without a new item: %+v %v", v, err)
	}
}

// Nobody fits: every member hears it lost, and the root's decision has no
// winner and carries a member's reason.
func TestNoFeasibleNode(t *testing.T) {
	ms := cluster(t, 3, 5*time.Second)
	dec := watchDecisions(ms[0])
	const key = "default/big/uid-3"
	if _, err := ms[0].Submit(5*time.Second, key); err != nil {
		t.Fatal(err)
	}
	bid := tree.Bid{Reason: "0/10 nodes are available: 10 Insufficient cpu."}
	vs := gatherAll(t, ms, key, []tree.Bid{bid, bid, bid})
	for i, v := range vs {
		if v.Winner != tree.Elsewhere {
			t.Fatalf("member %d: %+v", i, v)
		}
	}
	waitFor(t, 10*time.Second, "the root's decision", func() bool { _, ok := dec.get(key); return ok })
	if d, _ := dec.get(key); d.Winner != "" || !strings.Contains(d.Reason, "Insufficient cpu") || d.Reports != 3 {
		t.Fatalf("decision %+v", d)
	}
}

// Items reach every member's OnItem hook; a member that leaves mid-flight
// is not waited for.
func TestItemHookAndMemberLeaving(t *testing.T) {
	ms := cluster(t, 3, 20*time.Second)
	dec := watchDecisions(ms[0])
	seen := make(chan string, 10)
	ms[2].OnItem(func(key string) { seen <- key })
	const key = "default/leave/uid-4"
	if _, err := ms[0].Submit(20*time.Second, key); err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-seen:
		if k != key {
			t.Fatalf("hook got %q", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("item never reached m2's hook")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ms[2].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	vs := gatherAll(t, ms[:2], key, []tree.Bid{{Node: "a", Score: 5}, {Node: "b", Score: 1}})
	if vs[0].Winner != "m0" || vs[1].Winner != tree.Elsewhere {
		t.Fatalf("verdicts %+v", vs)
	}
	waitFor(t, 10*time.Second, "the root's decision", func() bool { _, ok := dec.get(key); return ok })
	// Decided on m2's leave, not at the deadline with m2 as a straggler.
	if d, _ := dec.get(key); d.Winner != "m0" || d.Stragglers != 0 {
		t.Fatalf("decision %+v", d)
	}
	if _, err := ms[2].Gather(context.Background(), key, tree.Bid{}); err != tree.ErrClosed {
		t.Fatalf("gather after leave: %v", err)
	}
}
