// Package selector is distscheduler's node selection on one member's shard:
// for one pod it runs upstream's own PreFilter, Filter, PreScore and Score
// plugins (through the profile's framework) over the nodes of the member's
// shard, the way upstream's schedulePod does, and returns the best node and
// its score (the member's bid), or upstream's FitError when none fits.
package selector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"
)

// Upstream's floor on feasible nodes to find (pkg/scheduler/schedule_one.go):
// percentageOfNodesToScore never cuts the search below these.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// Config is what a Selector needs.
type Config struct {
	// Members returns how many scheduling members share the cluster's
	// nodes (the search target is split among them). Required.
	Members func() int
	// PercentageOfNodesToScore is the configuration-wide value, used when the
	// profile does not set its own (nil or 0 means upstream's adaptive rule).
	PercentageOfNodesToScore *int32
	// Metrics receives the selector's measurements. Required.
	Metrics *Metrics
	// DisableLabelIndex makes every pod's search visit the shard's nodes
	// in turn, as upstream's does, instead of only the nodes whose labels
	// can satisfy the pod's nodeSelector and required node affinity.
	DisableLabelIndex bool
	// Rotation is where the next search starts, shared by the selectors of
	// a member's scheduling loops so that searches under way at once start
	// at different nodes (nil: the selector's own).
	Rotation *Rotation
	Log      zerolog.Logger
}

// Rotation moves where each search starts, as upstream's nextStartNodeIndex
// does, so every node of the shard gets examined across pods. A search
// takes its start and moves the rotation on by the nodes it expects to
// filter before it begins, then by the difference once it knows how many
// it filtered: one loop moves exactly as upstream's, and loops searching at
// once get different starts instead of finding, and contending for, the
// same best node.
type Rotation struct{ next atomic.Int64 }

// take returns a search's start (a position on the ring, any integer) and
// moves the rotation on by expect.
func (r *Rotation) take(expect int) int64 { return r.next.Add(int64(expect)) - int64(expect) }

// moved corrects the rotation once the search knows it moved by moved
// nodes, not the expected.
func (r *Rotation) moved(expected, moved int) {
	if d := moved - expected; d != 0 {
		r.next.Add(int64(d))
	}
}

// ringPos is position p on a ring of n nodes.
func ringPos(p int64, n int) int { return int((p%int64(n) + int64(n)) % int64(n)) }

// Selector finds a member's best node for a pod. It is used from one
// goroutine at a time (one scheduling loop), which is what makes the index
// safe without a lock; each loop has its own Selector.
type Selector struct {
	cfg Config

	rotation *Rotation
	// index and nodeAffinityFilter (by profile name: does the profile run
	// upstream's NodeAffinity filter, without which the index must not
	// skip nodes) are used from the scheduling goroutine only.
	index              labelIndex
	nodeAffinityFilter map[string]bool
}

// New returns a Selector.
func New(cfg Config) (*Selector, error) {
	if cfg.Members == nil || cfg.Metrics == nil {
		return nil, errors.New("selector: Members and Metrics are required")
	}
	rot := cfg.Rotation
	if rot == nil {
		rot = &Rotation{}
	}
	return &Selector{cfg: cfg, rotation: rot, nodeAffinityFilter: map[string]bool{}}, nil
}

// Busy names nodes the search must pass over for now, with the status they
// get in place of their filters' (nil: the node is free). Package cycle
// passes over nodes another of the member's scheduling loops is claiming,
// and nodes handed over to the member whose pods it has not counted yet.
type Busy func(node string) *fwk.Status

// Result is this shard's answer for one pod.
type Result struct {
	Node      string
	Score     int64
	Evaluated int
	Feasible  int
	// FitErr explains why no node of this shard fits; nil when one does.
	FitErr *framework.FitError
}

// BestLocal finds the pod's best node on this shard. The framework's
// snapshot must be current; busy (may be nil) names nodes to pass over.
func (s *Selector) BestLocal(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, busy Busy) (Result, error) {
	start := time.Now()
	r, err := s.bestLocal(ctx, fw, state, pod, busy)
	s.cfg.Metrics.localDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		s.cfg.Metrics.nodesEvaluated.Add(float64(r.Evaluated))
	}
	return r, err
}

// bestLocal runs upstream's filter and score plugins over this shard's nodes
// the way upstream's own schedulePod does (PreFilter result narrowing,
// nominated pods, early stop at the feasible-node target, rotating start).
// Extenders and the nominated-node fast path are not used. A pod with a
// nodeSelector or required node affinity is first searched for on the nodes
// the label index names; only if none of those fits does the full pass run,
// so an unschedulable pod's FitError is the one upstream would give.
func (s *Selector) bestLocal(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, busy Busy) (Result, error) {
	lister := fw.SnapshotSharedLister().NodeInfos()
	all, err := lister.List()
	if err != nil {
		return Result{}, fmt.Errorf("list shard nodes: %w", err)
	}
	s.cfg.Metrics.shardNodes.Set(float64(len(all)))
	diagnosis := framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}
	noFit := func(evaluated int) Result {
		return Result{Evaluated: evaluated, FitErr: &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: diagnosis}}
	}
	if len(all) == 0 {
		diagnosis.NodeToStatus.SetAbsentNodesStatus(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "this member has no nodes"))
		return noFit(0), nil
	}

	preRes, st, unschedulablePlugins := fw.RunPreFilterPlugins(ctx, state, pod)
	diagnosis.UnschedulablePlugins = unschedulablePlugins
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return Result{}, st.AsError()
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(st)
		diagnosis.PreFilterMsg = st.Message()
		diagnosis.AddPluginStatus(st)
		return noFit(0), nil
	}

	feasible, evaluated, err := s.search(ctx, fw, state, pod, preRes, lister, all, busy, &diagnosis)
	if err != nil {
		return Result{}, err
	}
	if len(feasible) == 0 {
		return noFit(evaluated), nil
	}

	scores, err := s.score(ctx, fw, state, pod, feasible)
	if err != nil {
		return Result{}, err
	}
	best := framework.NewSortedScoredNodes(scores).Pop()
	return Result{Node: best.Name, Score: best.TotalScore, Evaluated: evaluated, Feasible: len(feasible)}, nil
}

// search runs the filters over the shard until it has found the feasible-
// node target, as upstream's findNodesThatPassFilters does (early stop,
// rotating start): over the PreFilter result's nodes when a plugin narrowed
// them; otherwise first over the nodes the label index names, then over the
// whole shard if none of those fits. It returns the feasible nodes and how
// many nodes it filtered; the statuses behind a FitError go to diagnosis.
func (s *Selector) search(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, preRes *fwk.PreFilterResult,
	lister fwk.NodeInfoLister, all []fwk.NodeInfo, busy Busy, diagnosis *framework.Diagnosis) ([]fwk.NodeInfo, int, error) {
	toFind := s.feasibleTarget(fw, len(all))
	// base is this search's start on the ring; moved is how far the
	// passes move it (upstream's rule), settled with the rotation at the end.
	base := s.rotation.take(toFind)
	moved := 0
	defer func() { s.rotation.moved(toFind, moved) }()
	var feasible []fwk.NodeInfo
	evaluated := 0
	// pass filters n nodes in the order at gives, keeping what it found in
	// feasible, and returns how many nodes it processed.
	pass := func(n int, at func(int) fwk.NodeInfo, diag *framework.Diagnosis) (int, error) {
		found, processed, err := s.filter(ctx, fw, state, pod, n, at, toFind, busy, diag)
		feasible = found
		evaluated += processed
		return processed, err
	}
	// rotating filters nodes from where the rotation stands, as upstream
	// does, and moves it past the nodes it processed.
	rotating := func(nodes []fwk.NodeInfo, diag *framework.Diagnosis) error {
		start := ringPos(base+int64(moved), len(nodes))
		processed, err := pass(len(nodes), func(i int) fwk.NodeInfo { return nodes[(start+i)%len(nodes)] }, diag)
		moved += processed
		return err
	}
	if !preRes.AllNodes() {
		nodes := make([]fwk.NodeInfo, 0, len(preRes.NodeNames))
		for name := range preRes.NodeNames {
			if ni, err := lister.Get(name); err == nil {
				nodes = append(nodes, ni)
			}
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
			fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", sets.List(diagnosis.UnschedulablePlugins))))
		if len(nodes) == 0 {
			return nil, 0, nil
		}
		if err := rotating(nodes, diagnosis); err != nil {
			return nil, evaluated, err
		}
		return feasible, evaluated, nil
	}
	if cands, ok := s.indexed(fw, pod, all); ok {
		s.cfg.Metrics.indexNarrowed.Inc()
		if len(cands) > 0 {
			// Statuses of this pass are not kept: if it finds nothing, the
			// full pass below makes the diagnosis.
			scratch := framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}
			from := ringPos(base, len(all))
			first := sort.Search(len(cands), func(i int) bool { return int(cands[i]) >= from })
			processed, err := pass(len(cands), func(i int) fwk.NodeInfo { return all[cands[(first+i)%len(cands)]] }, &scratch)
			if err != nil {
				return nil, evaluated, err
			}
			if processed > 0 {
				// On past the last candidate processed, as one loop would.
				past := int(cands[(first+processed-1)%len(cands)]) + 1
				moved = ringPos(int64(past-from), len(all))
			}
		}
		if len(feasible) == 0 {
			s.cfg.Metrics.indexFullPasses.Inc()
		}
	}
	if len(feasible) == 0 {
		if err := rotating(all, diagnosis); err != nil {
			return nil, evaluated, err
		}
	}
	return feasible, evaluated, nil
}

// indexed returns the positions in all of the nodes the label index says
// may satisfy pod's node selector and required affinity, when it can narrow
// the search at all: the index is enabled, the profile runs upstream's
// NodeAffinity filter (which rejects every node the index leaves out), and
// the pod requires labels the index can look up.
func (s *Selector) indexed(fw framework.Framework, pod *v1.Pod, all []fwk.NodeInfo) ([]int32, bool) {
	if s.cfg.DisableLabelIndex || !requiresNodeLabels(pod) || !s.runsNodeAffinityFilter(fw) {
		return nil, false
	}
	if s.index.sync(all) {
		s.cfg.Metrics.indexRebuilds.Inc()
	}
	cands, ok := s.index.candidates(pod)
	if !ok || len(cands) == len(all) {
		return nil, false
	}
	return cands, true
}

// requiresNodeLabels is the cheap test for pods the index may help.
func requiresNodeLabels(pod *v1.Pod) bool {
	if len(pod.Spec.NodeSelector) > 0 {
		return true
	}
	a := pod.Spec.Affinity
	return a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil
}

func (s *Selector) runsNodeAffinityFilter(fw framework.Framework) bool {
	name := fw.ProfileName()
	on, ok := s.nodeAffinityFilter[name]
	if !ok {
		if pl := fw.ListPlugins(); pl != nil {
			on = slices.ContainsFunc(pl.Filter.Enabled, func(p config.Plugin) bool { return p.Name == names.NodeAffinity })
		}
		s.nodeAffinityFilter[name] = on
	}
	return on
}

// serialFilterTarget: a search that must find at most this many feasible
// nodes filters on the scheduling loop's own goroutine, in ring order. With
// members splitting the cluster's search target, a member's share is often
// this small (1,600 nodes over 16 members: 7 each), and starting the
// framework's workers for it (a goroutine each whose stack grows through
// the plugins, a chunk channel, a cancellable context) cost more than the
// filtering; the member's other scheduling loops keep the cores busy.
const serialFilterTarget = 16

// filter runs the Filter plugins over the n nodes at(0..n-1) until toFind
// feasible ones are found: in parallel with the framework's parallelism, or
// in order on this goroutine for a small target (serialFilterTarget). It
// returns them and how many nodes it processed (feasible or not), from
// which the caller moves the rotation.
func (s *Selector) filter(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, n int, at func(int) fwk.NodeInfo, toFind int, busy Busy, diagnosis *framework.Diagnosis) ([]fwk.NodeInfo, int, error) {
	target := int32(min(toFind, n))
	feasible := make([]fwk.NodeInfo, target)
	// The nodes that did not fit, kept as they come (under mu): a search
	// stops after a small share of the shard, so an n-sized slice would
	// cost a shard-sized allocation and scan per pod (as upstream, which
	// records failures under a lock).
	var mu sync.Mutex
	var failed []nodeStatus
	fail := func(ni fwk.NodeInfo, st *fwk.Status) {
		mu.Lock()
		failed = append(failed, nodeStatus{ni: ni, st: st})
		mu.Unlock()
	}
	var found int32
	var errOnce sync.Once
	var filterErr error
	serial := target <= serialFilterTarget
	cancel := func() {}
	if !serial {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		cancel = stop
	}
	check := func(i int) {
		ni := at(i)
		if busy != nil {
			if st := busy(ni.Node().Name); st != nil {
				fail(ni, st)
				return
			}
		}
		st := runFilters(ctx, fw, state, pod, ni)
		switch {
		case st.Code() == fwk.Error:
			errOnce.Do(func() { filterErr = st.AsError() })
			cancel()
		case st.IsSuccess():
			k := atomic.AddInt32(&found, 1)
			if k > target {
				cancel()
				atomic.AddInt32(&found, -1)
				return
			}
			feasible[k-1] = ni
		default:
			fail(ni, st)
		}
	}
	if serial {
		for i := 0; i < n && found < target && filterErr == nil && ctx.Err() == nil; i++ {
			check(i)
		}
	} else {
		fw.Parallelizer().Until(ctx, n, check, "Filter")
	}
	feasible = feasible[:found]
	processed := len(feasible) + len(failed)
	for _, f := range failed {
		diagnosis.NodeToStatus.Set(f.ni.Node().Name, f.st)
		diagnosis.AddPluginStatus(f.st)
	}
	if filterErr != nil {
		return nil, processed, filterErr
	}
	return feasible, processed, nil
}

// runFilters is upstream's RunFilterPluginsWithNominatedPods for one node.
// For a node with no nominated pods that runs RunFilterPlugins once, after
// naming a logger for the node and putting it in a new context: two
// allocations per node filtered, ~5% of a member's CPU at 50,000 nodes
// (distscheduler/BENCHMARKS.md). Such a node gets RunFilterPlugins directly,
// the same filters on the same state; the full path stays for the rest.
func runFilters(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) *fwk.Status {
	if len(fw.NominatedPodsForNode(ni.Node().Name)) == 0 {
		return fw.RunFilterPlugins(ctx, state, pod, ni)
	}
	return fw.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
}

// nodeStatus is one node the filters rejected (or passed over as busy).
type nodeStatus struct {
	ni fwk.NodeInfo
	st *fwk.Status
}

// feasibleTarget is this shard's share of what upstream would search for
// across the whole cluster: upstream's numFeasibleNodesToFind over the
// cluster's node count (estimated as shard size times scheduling members),
// divided evenly among members. Searching each shard with upstream's rule
// over the shard alone would multiply the total work by the member count.
func (s *Selector) feasibleTarget(fw framework.Framework, shardSize int) int {
	if !fw.HasScorePlugins() {
		return 1
	}
	members := s.cfg.Members()
	if members < 1 {
		members = 1
	}
	total := int32(shardSize * members)
	pct := fw.PercentageOfNodesToScore()
	if pct == nil {
		pct = s.cfg.PercentageOfNodesToScore
	}
	global := numFeasibleNodesToFind(pct, total)
	share := (int(global) + members - 1) / members
	if share < 1 {
		share = 1
	}
	return share
}

// numFeasibleNodesToFind is upstream's rule (pkg/scheduler/schedule_one.go).
func numFeasibleNodesToFind(percentageOfNodesToScore *int32, numAllNodes int32) int32 {
	if numAllNodes < minFeasibleNodesToFind {
		return numAllNodes
	}
	var percentage int32
	if percentageOfNodesToScore != nil {
		percentage = *percentageOfNodesToScore
	}
	if percentage == 0 {
		percentage = int32(50) - numAllNodes/125
		if percentage < minFeasibleNodesPercentageToFind {
			percentage = minFeasibleNodesPercentageToFind
		}
	}
	numNodes := numAllNodes * percentage / 100
	if numNodes < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return numNodes
}

// score runs PreScore and Score; without score plugins every node scores 1,
// as upstream's prioritizeNodes does.
func (s *Selector) score(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) ([]fwk.NodePluginScores, error) {
	if !fw.HasScorePlugins() {
		out := make([]fwk.NodePluginScores, 0, len(nodes))
		for _, n := range nodes {
			out = append(out, fwk.NodePluginScores{Name: n.Node().Name, TotalScore: 1})
		}
		return out, nil
	}
	if st := fw.RunPreScorePlugins(ctx, state, pod, nodes); !st.IsSuccess() {
		return nil, st.AsError()
	}
	scores, st := fw.RunScorePlugins(ctx, state, pod, nodes)
	if !st.IsSuccess() {
		return nil, st.AsError()
	}
	return scores, nil
}
