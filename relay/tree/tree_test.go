package tree

import (
	"errors"
	"fmt"
	"testing"
)

// names makes n member names whose sort order differs from creation order, and
// marks every relayEvery-th one relay-only (0: none).
func names(n, relayEvery int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("m-%04d", (i*7919)%100003), Relay: relayEvery > 0 && i%relayEvery == 0}
	}
	return nodes
}

// check verifies every structural promise of a tree built from nodes.
func check(t *testing.T, tr *Tree, nodes []Node, root string, fanout int) {
	t.Helper()
	n := len(nodes)
	if tr.Len() != n {
		t.Fatalf("n=%d f=%d: tree holds %d members", n, fanout, tr.Len())
	}
	seen := make(map[string]int, n)
	for _, m := range tr.Members() {
		seen[m]++
	}
	relay := make(map[string]bool, n)
	for _, nd := range nodes {
		relay[nd.Name] = nd.Relay
		if seen[nd.Name] != 1 {
			t.Fatalf("n=%d f=%d: member %s appears %d times", n, fanout, nd.Name, seen[nd.Name])
		}
	}
	if tr.Members()[0] != root || tr.Root() != root {
		t.Fatalf("n=%d f=%d: root is %s, want %s", n, fanout, tr.Members()[0], root)
	}
	// Minimal depth, computed independently: a tree of depth d-1 cannot hold n.
	want := 0
	for capacity, pow := 1, 1; capacity < n; want++ {
		pow *= fanout
		capacity += pow
	}
	if tr.Depth() != want {
		t.Fatalf("n=%d f=%d: depth %d, minimal is %d", n, fanout, tr.Depth(), want)
	}
	reached := 1 // the root
	maxLevel := 0
	innerScheduler, leafRelay := false, false
	for _, m := range tr.Members() {
		kids := tr.Children(m)
		if len(kids) > fanout {
			t.Fatalf("n=%d f=%d: %s has %d children", n, fanout, m, len(kids))
		}
		lvl, _ := tr.Level(m)
		maxLevel = max(maxLevel, lvl)
		for _, k := range kids {
			if p, ok := tr.Parent(k); !ok || p != m {
				t.Fatalf("n=%d f=%d: parent of %s is %q, want %s", n, fanout, k, p, m)
			}
			if kl, _ := tr.Level(k); kl != lvl+1 {
				t.Fatalf("n=%d f=%d: %s on level %d under %s on level %d", n, fanout, k, kl, m, lvl)
			}
			reached++
		}
		if m == root {
			continue
		}
		if len(kids) > 0 && !relay[m] {
			innerScheduler = true
		}
		if len(kids) == 0 && relay[m] {
			leafRelay = true
		}
	}
	if reached != n {
		t.Fatalf("n=%d f=%d: %d members reachable from the root", n, fanout, reached)
	}
	if maxLevel != tr.Depth() {
		t.Fatalf("n=%d f=%d: deepest level %d, depth %d", n, fanout, maxLevel, tr.Depth())
	}
	if innerScheduler && leafRelay {
		t.Fatalf("n=%d f=%d: a scheduler forwards while a relay-only member is a leaf", n, fanout)
	}
}

// TestBuildAllSizes is the property test: every member count 1..1000 and every
// fanout 2..32, with and without relay-only members.
func TestBuildAllSizes(t *testing.T) {
	all := names(1000, 13)
	plain := names(1000, 0)
	for fanout := 2; fanout <= 32; fanout++ {
		for n := 1; n <= 1000; n++ {
			nodes := all[:n]
			if fanout%2 == 0 {
				nodes = plain[:n]
			}
			root := nodes[n/2].Name
			tr, err := Build(nodes, root, fanout)
			if err != nil {
				t.Fatalf("n=%d f=%d: %v", n, fanout, err)
			}
			check(t, tr, nodes, root, fanout)
		}
	}
}

func TestBuildShapes(t *testing.T) {
	relays := []Node{{Name: "relay-a", Relay: true}, {Name: "relay-b", Relay: true}, {Name: "relay-c", Relay: true}}
	sched := make([]Node, 30)
	for i := range sched {
		sched[i] = Node{Name: fmt.Sprintf("sched-%02d", i)}
	}
	tests := []struct {
		name   string
		nodes  []Node
		root   string
		fanout int
		levels []int
	}{
		{"root alone", []Node{{Name: "leader"}}, "leader", 8, []int{1}},
		{"one relay level", append(append([]Node{{Name: "leader"}}, relays...), sched...), "leader", 10, []int{1, 3, 30}},
		{"flat", append([]Node{{Name: "leader"}}, sched[:8]...), "leader", 8, []int{1, 8}},
		{"binary", append([]Node{{Name: "leader"}}, sched[:6]...), "leader", 2, []int{1, 2, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Build(tc.nodes, tc.root, tc.fanout)
			if err != nil {
				t.Fatal(err)
			}
			check(t, tr, tc.nodes, tc.root, tc.fanout)
			got := LevelSizes(len(tc.nodes), tc.fanout)
			if fmt.Sprint(got) != fmt.Sprint(tc.levels) {
				t.Fatalf("levels %v, want %v", got, tc.levels)
			}
		})
	}
	// The benchmark tree: the leader feeds the three relays, each relay ten schedulers.
	tr, _ := Build(append(append([]Node{{Name: "leader"}}, relays...), sched...), "leader", 10)
	if got := tr.Children("leader"); fmt.Sprint(got) != "[relay-a relay-b relay-c]" {
		t.Fatalf("leader's children %v", got)
	}
	for _, r := range relays {
		if len(tr.Children(r.Name)) != 10 {
			t.Fatalf("%s has %d children", r.Name, len(tr.Children(r.Name)))
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []Node
		root   string
		fanout int
		is     error
	}{
		{"root missing", []Node{{Name: "a"}}, "b", 4, ErrNoRoot},
		{"bad fanout", []Node{{Name: "a"}}, "a", 0, nil},
		{"duplicate", []Node{{Name: "a"}, {Name: "b"}, {Name: "b"}}, "a", 4, nil},
		{"duplicate root", []Node{{Name: "a"}, {Name: "a"}}, "a", 4, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.nodes, tc.root, tc.fanout)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
		})
	}
}
