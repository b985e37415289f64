package inproc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
)

// gatherAll has every member bid concurrently and returns the verdicts by member.
func gatherAll(t *testing.T, members []*Member, key string, bids map[string]tree.Bid) map[string]tree.Verdict {
	t.Helper()
	var mu sync.Mutex
	out := map[string]tree.Verdict{}
	var wg sync.WaitGroup
	for _, m := range members {
		b, ok := bids[m.Self()]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := m.Gather(context.Background(), key, b)
			if err != nil {
				t.Errorf("%s: gather: %v", m.Self(), err)
				return
			}
			mu.Lock()
			out[m.Self()] = v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func TestGather(t *testing.T) {
	tests := []struct {
		name       string
		bids       map[string]tree.Bid
		wantWinner string
		wantStrag  int
	}{
		{"highest score wins", map[string]tree.Bid{"a": {Node: "n1", Score: 10}, "b": {Node: "n2", Score: 30}, "c": {Node: "n3", Score: 20}}, "b", 0},
		{"infeasible bids never win", map[string]tree.Bid{"a": {}, "b": {Node: "n2", Score: 0}, "c": {}}, "b", 0},
		{"nobody fits", map[string]tree.Bid{"a": {}, "b": {}, "c": {}}, "", 0},
		{"straggler left out at deadline", map[string]tree.Bid{"a": {Node: "n1", Score: 5}, "b": {Node: "n2", Score: 1}}, "a", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := NewHub(200 * time.Millisecond)
			members := []*Member{hub.Join("a", true), hub.Join("b", true), hub.Join("c", true), hub.Join("relay", false)}
			got := gatherAll(t, members, "ns/pod/uid", tt.bids)
			if len(got) != len(tt.bids) {
				t.Fatalf("got %d verdicts, want %d", len(got), len(tt.bids))
			}
			for m, v := range got {
				if v.Winner != tt.wantWinner {
					t.Errorf("%s saw winner %q, want %q", m, v.Winner, tt.wantWinner)
				}
				if v.Stragglers() != tt.wantStrag {
					t.Errorf("%s saw %d stragglers, want %d", m, v.Stragglers(), tt.wantStrag)
				}
			}
		})
	}
}

func TestLateBidderLoses(t *testing.T) {
	hub := NewHub(50 * time.Millisecond)
	a, b := hub.Join("a", true), hub.Join("b", true)
	v, err := a.Gather(context.Background(), "k", tree.Bid{Node: "n1", Score: 1})
	if err != nil || v.Winner != "a" {
		t.Fatalf("first gather: %+v, %v", v, err)
	}
	// b arrives after the deadline with a better score: the pod is a's.
	v, err = b.Gather(context.Background(), "k", tree.Bid{Node: "n2", Score: 100})
	if err != nil || v.Winner != "a" {
		t.Fatalf("late gather: %+v, %v", v, err)
	}
}

func TestRetryAfterNoFitStartsNewRound(t *testing.T) {
	hub := NewHub(50 * time.Millisecond)
	a := hub.Join("a", true)
	hub.Join("b", true)
	if v, _ := a.Gather(context.Background(), "k", tree.Bid{}); v.Winner != "" {
		t.Fatalf("want no winner, got %+v", v)
	}
	// A node was added on a's shard: its retry must be able to win.
	if v, _ := a.Gather(context.Background(), "k", tree.Bid{Node: "new", Score: 1}); v.Winner != "a" {
		t.Fatalf("retry: want a to win, got %+v", v)
	}
}

func TestLeaveEndsWaiting(t *testing.T) {
	hub := NewHub(time.Hour)
	a, b := hub.Join("a", true), hub.Join("b", true)
	done := make(chan tree.Verdict)
	go func() {
		v, _ := a.Gather(context.Background(), "k", tree.Bid{Node: "n", Score: 1})
		done <- v
	}()
	for {
		hub.mu.Lock()
		_, open := hub.rounds["k"]
		hub.mu.Unlock()
		if open {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.Leave()
	if v := <-done; v.Winner != "a" || v.Expected != 1 {
		t.Fatalf("verdict after leave: %+v", v)
	}
	if _, err := b.Gather(context.Background(), "k2", tree.Bid{}); !errors.Is(err, tree.ErrClosed) {
		t.Fatalf("gather after leave: %v, want ErrClosed", err)
	}
}

func TestGatherHonoursContext(t *testing.T) {
	hub := NewHub(time.Hour)
	a := hub.Join("a", true)
	hub.Join("b", true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Gather(ctx, "k", tree.Bid{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestPickTieBreakIsSpread(t *testing.T) {
	wins := map[string]int{}
	for i := range 300 {
		key := string(rune('a'+i%26)) + string(rune('a'+i/26))
		v := tree.Pick(key, []tree.Bid{{Member: "x", Node: "1", Score: 7}, {Member: "y", Node: "2", Score: 7}, {Member: "z", Node: "3", Score: 7}}, 3)
		wins[v.Winner]++
	}
	for _, m := range []string{"x", "y", "z"} {
		if wins[m] < 50 {
			t.Errorf("member %s won %d of 300 ties: %v", m, wins[m], wins)
		}
	}
}
