// Package shard splits the cluster's nodes among the scheduling members. The
// leader writes one label on every node (key Label, value the member's name);
// each member's informers then select only nodes carrying its own name, so a
// member's memory and work grow with its shard, not the cluster.
package shard

import (
	"cmp"
	"slices"
)

// Label is the node label that names a node's scheduling member.
const Label = "k8s1m.io/dist-scheduler-shard"

// Assign returns the moves that make the assignment even: every member ends
// with ⌊n/m⌋ or ⌈n/m⌉ nodes. current maps every eligible node to its member
// ("" or a name that is not in members means unassigned). The result maps
// each node that must change to its new member; nodes that keep their
// member are absent. It moves as few nodes as possible: members keep nodes up
// to their quota, and the larger quotas go to members already holding the
// most nodes. The outcome depends only on the inputs, never on map order.
func Assign(current map[string]string, members []string) map[string]string {
	if len(members) == 0 || len(current) == 0 {
		return nil
	}
	isMember := make(map[string]bool, len(members))
	for _, m := range members {
		isMember[m] = true
	}
	held := make(map[string][]string, len(members))
	var pool []string
	for node, m := range current {
		if isMember[m] {
			held[m] = append(held[m], node)
		} else {
			pool = append(pool, node)
		}
	}

	order := slices.Clone(members)
	slices.Sort(order)
	order = slices.Compact(order)
	slices.SortStableFunc(order, func(a, b string) int {
		return cmp.Compare(len(held[b]), len(held[a])) // most held first
	})
	base, extra := len(current)/len(order), len(current)%len(order)
	quota := make(map[string]int, len(order))
	for i, m := range order {
		quota[m] = base
		if i < extra {
			quota[m]++
		}
	}

	for _, m := range order {
		nodes := held[m]
		slices.Sort(nodes)
		if len(nodes) > quota[m] {
			pool = append(pool, nodes[quota[m]:]...)
			held[m] = nodes[:quota[m]]
		}
	}
	slices.Sort(pool)

	moves := make(map[string]string, len(pool))
	slices.Sort(order)
	for _, m := range order {
		for need := quota[m] - len(held[m]); need > 0; need-- {
			moves[pool[0]] = m
			pool = pool[1:]
		}
	}
	return moves
}

// Even reports whether counts (member -> nodes) spread total nodes the way
// Assign leaves them: every one of members holds ⌊total/m⌋ or ⌈total/m⌉ and
// together they hold all total.
func Even(counts map[string]int, members []string, total int) bool {
	if len(members) == 0 {
		return total == 0
	}
	lo, hi := total/len(members), (total+len(members)-1)/len(members)
	sum := 0
	for _, m := range members {
		if counts[m] < lo || counts[m] > hi {
			return false
		}
		sum += counts[m]
	}
	return sum == total
}
