package selector

import (
	"maps"
	"slices"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// labelIndex maps node labels to the positions of the nodes that carry them
// in the shard's snapshot list, so that a pod whose nodeSelector or required
// node affinity names label values is run through the filter plugins only on
// the nodes that have them. The nodes it skips are ones upstream's
// NodeAffinity filter rejects anyway. The search still finds upstream's
// number of feasible nodes, and the Filter and Score plugins on those are
// upstream's own. It just stops paying a full filter pass for every node
// the pod cannot go to. (A pod that fits 2% of the nodes made upstream's
// search walk the whole cluster to find its feasible-node target.)
//
// The index is checked against the snapshot before every use (a pointer
// comparison per node) and rebuilt when a node's labels or the node count
// changed. It is not safe for concurrent use: the selector calls it from the
// scheduling goroutine only.
type labelIndex struct {
	// nodes is the node at each position of the list the index describes.
	nodes []*v1.Node
	// byPair holds the ascending positions of the nodes with label
	// key=value; byKey those of the nodes with the key at all.
	byPair map[labelPair][]int32
	byKey  map[string][]int32
}

type labelPair struct{ key, value string }

// sync makes the index describe all and reports whether it had to rebuild.
// Node objects are replaced, never changed in place, so a node whose pointer
// is unchanged has unchanged labels. A new pointer with equal labels (a
// status update) only updates the check.
func (x *labelIndex) sync(all []fwk.NodeInfo) bool {
	if x.byKey != nil && len(all) == len(x.nodes) {
		stale := false
		for i, ni := range all {
			n := ni.Node()
			if n == x.nodes[i] {
				continue
			}
			if n == nil || x.nodes[i] == nil || !maps.Equal(n.Labels, x.nodes[i].Labels) {
				stale = true
				break
			}
			x.nodes[i] = n
		}
		if !stale {
			return false
		}
	}
	x.build(all)
	return true
}

func (x *labelIndex) build(all []fwk.NodeInfo) {
	x.nodes = make([]*v1.Node, len(all))
	x.byPair = make(map[labelPair][]int32)
	x.byKey = make(map[string][]int32)
	for i, ni := range all {
		n := ni.Node()
		x.nodes[i] = n
		if n == nil {
			continue
		}
		for k, v := range n.Labels {
			p := labelPair{k, v}
			x.byPair[p] = append(x.byPair[p], int32(i))
			x.byKey[k] = append(x.byKey[k], int32(i))
		}
	}
}

// candidates returns, ascending, the positions of the nodes that may satisfy
// pod's nodeSelector and required node affinity. They are a superset of
// the nodes that do: what the index cannot answer (NotIn, DoesNotExist,
// Gt, Lt, matchFields, a term with no In or Exists requirement) is left to
// the filter plugins. narrowed is false when nothing the pod requires can be
// looked up; then pos is nil and every node is a candidate.
func (x *labelIndex) candidates(pod *v1.Pod) (pos []int32, narrowed bool) {
	var sets [][]int32
	for k, v := range pod.Spec.NodeSelector {
		sets = append(sets, x.byPair[labelPair{k, v}])
	}
	if terms, ok := x.affinityTerms(pod); ok {
		sets = append(sets, terms)
	}
	if len(sets) == 0 {
		return nil, false
	}
	return intersectAll(sets), true
}

// affinityTerms is the union over the pod's required node selector terms
// (which are ORed) of each term's candidates. ok is false when some term
// cannot be narrowed, so the terms together cannot either.
func (x *labelIndex) affinityTerms(pod *v1.Pod) ([]int32, bool) {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil, false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return nil, false
	}
	var union []int32
	for _, t := range terms {
		var sets [][]int32
		for _, r := range t.MatchExpressions {
			switch r.Operator {
			case v1.NodeSelectorOpIn:
				if len(r.Values) == 0 {
					continue // invalid; leave it to the filter
				}
				var any []int32
				for _, v := range r.Values {
					any = unionSorted(any, x.byPair[labelPair{r.Key, v}])
				}
				sets = append(sets, any)
			case v1.NodeSelectorOpExists:
				sets = append(sets, x.byKey[r.Key])
			}
		}
		if len(sets) == 0 {
			return nil, false
		}
		union = unionSorted(union, intersectAll(sets))
	}
	return union, true
}

// intersectAll intersects ascending position lists, smallest first. The
// result is a new slice: the index's own lists are never handed out.
func intersectAll(sets [][]int32) []int32 {
	slices.SortFunc(sets, func(a, b []int32) int { return len(a) - len(b) })
	out := slices.Clone(sets[0])
	for _, s := range sets[1:] {
		if len(out) == 0 {
			break
		}
		out = intersectSorted(out, s)
	}
	return out
}

// intersectSorted keeps in a (reused) the positions also in b.
func intersectSorted(a, b []int32) []int32 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// unionSorted merges two ascending lists into a new one, without duplicates.
func unionSorted(a, b []int32) []int32 {
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
