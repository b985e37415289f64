// Package tree lays out the scatter tree: which member forwards work to which.
//
// The layout is a pure function of the member list, the root the caller names and
// the fanout, so every member that sees the same membership computes the same tree
// without talking to anyone. Leadership is not decided here: the caller names the
// root (distscheduler takes it from a Kubernetes Lease), so gossip can never
// produce two roots.
//
// Shape: the tree has the minimal depth for the fanout, and each level holds as few
// members as can still carry everything below it, so most members are leaves.
// Relay-only members are placed first (inner levels), scheduling members after, so
// forwarding work lands on members that do not schedule.
package tree

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Node is one member as the tree sees it.
type Node struct {
	// Name identifies the member; names are unique.
	Name string
	// Relay is true for relay-only members, which are placed on inner levels first.
	Relay bool
}

// Tree is one computed layout. It is immutable and safe for concurrent use.
type Tree struct {
	root     string
	fanout   int
	depth    int
	parent   map[string]string
	children map[string][]string
	level    map[string]int
	order    []string // breadth-first order, root first
}

// ErrNoRoot is returned when the named root is not a member.
var ErrNoRoot = errors.New("root is not a member")

// Build lays out nodes under root with at most fanout children per member.
// The order of nodes does not matter; duplicate names are an error.
func Build(nodes []Node, root string, fanout int) (*Tree, error) {
	if fanout < 1 {
		return nil, fmt.Errorf("fanout %d: must be at least 1", fanout)
	}
	rest := make([]Node, 0, len(nodes))
	found := false
	for _, n := range nodes {
		if n.Name == root {
			if found {
				return nil, fmt.Errorf("duplicate member %q", n.Name)
			}
			found = true
			continue
		}
		rest = append(rest, n)
	}
	if !found {
		return nil, fmt.Errorf("build tree rooted at %q: %w", root, ErrNoRoot)
	}
	// Relay-only members first, then by name: the order that fills the levels.
	slices.SortFunc(rest, func(a, b Node) int {
		if a.Relay != b.Relay {
			if a.Relay {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := 1; i < len(rest); i++ {
		if rest[i].Name == rest[i-1].Name {
			return nil, fmt.Errorf("duplicate member %q", rest[i].Name)
		}
	}

	sizes := LevelSizes(len(rest)+1, fanout)
	t := &Tree{
		root:     root,
		fanout:   fanout,
		depth:    len(sizes) - 1,
		parent:   make(map[string]string, len(rest)),
		children: make(map[string][]string),
		level:    make(map[string]int, len(rest)+1),
		order:    make([]string, 0, len(rest)+1),
	}
	t.level[root] = 0
	t.order = append(t.order, root)
	prev := []string{root}
	next := 0
	for l := 1; l < len(sizes); l++ {
		cur := make([]string, sizes[l])
		for i := range cur {
			cur[i] = rest[next].Name
			next++
		}
		// Spread the level evenly over the parents above it: parent p takes the
		// contiguous block [p*c/s, (p+1)*c/s), which is at most fanout long
		// because LevelSizes keeps c <= fanout*s.
		s, c := len(prev), len(cur)
		for p, parent := range prev {
			lo, hi := p*c/s, (p+1)*c/s
			if lo == hi {
				continue
			}
			kids := cur[lo:hi:hi]
			t.children[parent] = kids
			for _, k := range kids {
				t.parent[k] = parent
				t.level[k] = l
			}
		}
		t.order = append(t.order, cur...)
		prev = cur
	}
	return t, nil
}

// LevelSizes returns how many members sit on each level (index 0 is the root)
// of the tree Build makes for n members: the minimal depth for fanout, and each
// level as small as it can be while the levels below can still hold the rest.
func LevelSizes(n, fanout int) []int {
	if n <= 0 {
		return nil
	}
	if fanout < 1 {
		fanout = 1
	}
	depth := MinDepth(n, fanout)
	sizes := []int{1}
	remaining := n - 1
	for l := 1; l <= depth; l++ {
		// A member on level l carries itself and up to fanout+...+fanout^(depth-l)
		// descendants: sub = 1 + fanout + ... + fanout^(depth-l).
		sub := subtreeCapacity(depth-l, fanout, remaining)
		s := (remaining + sub - 1) / sub
		sizes = append(sizes, s)
		remaining -= s
	}
	return sizes
}

// subtreeCapacity is 1 + f + f^2 + ... + f^k, capped at limit (enough for the
// division above, and it cannot overflow).
func subtreeCapacity(k, f, limit int) int {
	total, pow := 1, 1
	for i := 0; i < k && total < limit; i++ {
		pow *= f
		total += pow
	}
	return total
}

// MinDepth is the smallest depth (edges from the root to the deepest member) of
// any tree holding n members with at most fanout children each.
func MinDepth(n, fanout int) int {
	if n <= 1 {
		return 0
	}
	if fanout <= 1 {
		return n - 1
	}
	depth, capacity, pow := 0, 1, 1
	for capacity < n {
		pow *= fanout
		capacity += pow
		depth++
	}
	return depth
}

// Root is the member the tree hangs from.
func (t *Tree) Root() string { return t.root }

// Fanout is the most children any member has.
func (t *Tree) Fanout() int { return t.fanout }

// Depth is the number of edges from the root to the deepest member.
func (t *Tree) Depth() int { return t.depth }

// Len is the number of members in the tree.
func (t *Tree) Len() int { return len(t.order) }

// Children of name, in order; nil for leaves and non-members. Callers must not
// modify the slice.
func (t *Tree) Children(name string) []string { return t.children[name] }

// Parent of name; ok is false for the root and for non-members.
func (t *Tree) Parent(name string) (parent string, ok bool) {
	parent, ok = t.parent[name]
	return parent, ok
}

// Level of name (0 for the root); ok is false for non-members.
func (t *Tree) Level(name string) (level int, ok bool) {
	level, ok = t.level[name]
	return level, ok
}

// Contains reports whether name is in the tree.
func (t *Tree) Contains(name string) bool {
	_, ok := t.level[name]
	return ok
}

// Members in breadth-first order, root first. Callers must not modify the slice.
func (t *Tree) Members() []string { return t.order }
