package shard

import (
	"fmt"
	"maps"
	"testing"
)

func nodes(n int, member func(i int) string) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out[fmt.Sprintf("node-%04d", i)] = member(i)
	}
	return out
}

func TestAssign(t *testing.T) {
	tests := []struct {
		name      string
		current   map[string]string
		members   []string
		wantMoves int
	}{
		{"no members", nodes(10, func(int) string { return "" }), nil, 0},
		{"no nodes", map[string]string{}, []string{"a"}, 0},
		{"all unassigned", nodes(10, func(int) string { return "" }), []string{"a", "b", "c"}, 10},
		{"already even", nodes(9, func(i int) string { return []string{"a", "b", "c"}[i%3] }), []string{"a", "b", "c"}, 0},
		{"uneven remainder kept", nodes(10, func(i int) string { return []string{"a", "b", "c"}[i%3] }), []string{"a", "b", "c"}, 0},
		// a joins b and c: it takes a third of 12 = 4 nodes.
		{"member joins", nodes(12, func(i int) string { return []string{"b", "c"}[i%2] }), []string{"a", "b", "c"}, 4},
		// c leaves: only c's 4 nodes move.
		{"member leaves", nodes(12, func(i int) string { return []string{"a", "b", "c"}[i%3] }), []string{"a", "b"}, 4},
		{"unknown member", nodes(6, func(i int) string { return []string{"a", "gone"}[i%2] }), []string{"a", "b"}, 3},
		{"all on one", nodes(8, func(int) string { return "a" }), []string{"a", "b", "c", "d"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moves := Assign(tt.current, tt.members)
			if len(moves) != tt.wantMoves {
				t.Fatalf("moves = %d, want %d: %v", len(moves), tt.wantMoves, moves)
			}
			if len(tt.members) == 0 {
				return
			}
			final := maps.Clone(tt.current)
			for n, m := range moves {
				if tt.current[n] == m {
					t.Errorf("node %s moved to the member it already had", n)
				}
				final[n] = m
			}
			count := map[string]int{}
			for _, m := range final {
				count[m]++
			}
			if !Even(count, tt.members, len(final)) {
				t.Errorf("uneven after the moves: %v over %v", count, tt.members)
			}
			if again := Assign(final, tt.members); len(again) != 0 {
				t.Errorf("assignment not stable: second pass moves %v", again)
			}
		})
	}
}

func TestAssignDeterministic(t *testing.T) {
	cur := nodes(100, func(i int) string { return []string{"", "a", "x"}[i%3] })
	first := Assign(cur, []string{"c", "a", "b"})
	for range 20 {
		if got := Assign(cur, []string{"b", "c", "a"}); !maps.Equal(got, first) {
			t.Fatal("Assign depends on map or member order")
		}
	}
}
