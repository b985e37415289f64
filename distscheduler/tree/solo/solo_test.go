package solo

import (
	"errors"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
)

// decisions collects a tree's decisions.
func decisions(t *Tree) chan tree.Decision {
	ch := make(chan tree.Decision, 16)
	t.OnDecision(func(d tree.Decision) { ch <- d })
	return ch
}

func next(t *testing.T, ch chan tree.Decision) tree.Decision {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no decision")
		return tree.Decision{}
	}
}

func none(t *testing.T, ch chan tree.Decision, wait time.Duration) {
	t.Helper()
	select {
	case d := <-ch:
		t.Fatalf("a second decision: %+v", d)
	case <-time.After(wait):
	}
}

// An item the member takes and never bids on (it dropped it from a full
// queue, or reached it after its deadline) must still be decided, or the
// root waits for it for ever: seen as pods left pending at 10K and 50K
// nodes. A bid arriving after that decision loses and decides nothing.
func TestUnreportedItemIsDecidedAtItsDeadline(t *testing.T) {
	tr := New("m0")
	ds := decisions(tr)
	items := make(chan tree.Item, 1)
	tr.OnItem(func(it tree.Item) { items <- it })

	ids, err := tr.Submit(50*time.Millisecond, tree.Item{Key: "ns/p/uid"})
	if err != nil {
		t.Fatal(err)
	}
	it := <-items
	d := next(t, ds)
	if d.RequestID != ids[0] || d.Winner != "" || d.NoWinner != relay.NoReports || d.Reports != 0 {
		t.Fatalf("decision at the deadline = %+v, want no reports for request %d", d, ids[0])
	}

	verdict := make(chan tree.Verdict, 1)
	tr.Report(it, tree.Bid{Node: "n1", Score: 7}, func(v tree.Verdict) { verdict <- v })
	if v := <-verdict; v.Win {
		t.Fatalf("a bid after the decision won: %+v", v)
	}
	none(t, ds, 100*time.Millisecond)
}

// A bid decides its item at once; its deadline then decides nothing more.
func TestBidDecidesOnce(t *testing.T) {
	tr := New("m0")
	ds := decisions(tr)
	bids := []tree.Bid{{Node: "n1", Score: 7}, {Reason: "0/3 nodes are available"}}
	tr.OnItem(func(it tree.Item) {
		b := bids[0]
		bids = bids[1:]
		tr.Report(it, b, func(v tree.Verdict) {
			if v.Win != b.Feasible() {
				t.Errorf("verdict %+v for bid %+v", v, b)
			}
		})
	})
	ids, err := tr.Submit(50*time.Millisecond, tree.Item{Key: "ns/a/1"}, tree.Item{Key: "ns/b/2"})
	if err != nil {
		t.Fatal(err)
	}
	if d := next(t, ds); d.RequestID != ids[0] || d.Winner != "m0" || d.Node != "n1" || d.Score != 7 {
		t.Fatalf("first decision = %+v", d)
	}
	if d := next(t, ds); d.RequestID != ids[1] || d.NoWinner != relay.NoFeasibleNode || d.Reason != "0/3 nodes are available" || d.Reports != 1 {
		t.Fatalf("second decision = %+v", d)
	}
	none(t, ds, 200*time.Millisecond)
}

func TestNoReceiverAndClose(t *testing.T) {
	tr := New("m0")
	ds := decisions(tr)
	if _, err := tr.Submit(time.Minute, tree.Item{Key: "ns/p/uid"}); err != nil {
		t.Fatal(err)
	}
	if d := next(t, ds); d.NoWinner != relay.NoReports || d.Reason != "the member does not schedule" {
		t.Fatalf("decision without a receiver = %+v", d)
	}
	tr.OnItem(func(tree.Item) {})
	if _, err := tr.Submit(time.Minute, tree.Item{Key: "ns/q/uid"}); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if _, err := tr.Submit(time.Minute, tree.Item{Key: "ns/r/uid"}); !errors.Is(err, tree.ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
	if n := len(tr.open); n != 0 {
		t.Fatalf("%d items still open after close", n)
	}
}
