// Package selector is distscheduler's node-selection step: it replaces the
// upstream scheduler's SchedulePod hook. Each member runs upstream's own
// PreFilter, Filter, PreScore and Score plugins (through the profile's
// framework) over the nodes of its shard, bids its best node and score into
// the tree, and waits for the gatherer's verdict. The winner returns the
// ScheduleResult and proceeds through Reserve, Permit (DistPermit) and Bind as
// upstream does; the others drop the pod without touching the API.
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

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
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
	// Tree carries bids and verdicts between members. Required.
	Tree tree.Tree
	// PercentageOfNodesToScore is the configuration-wide value, used when the
	// profile does not set its own (nil or 0 means upstream's adaptive rule).
	PercentageOfNodesToScore *int32
	// Metrics receives the selector's measurements. Required.
	Metrics *Metrics
	// VerdictTimeout bounds how long a bid waits for its verdict (item wait
	// plus gather deadline and slack); past it the pod is retried. Default
	// 30s.
	VerdictTimeout time.Duration
	// DisableLabelIndex makes every pod's search visit the shard's nodes
	// in turn, as upstream's does, instead of only the nodes whose labels
	// can satisfy the pod's nodeSelector and required node affinity.
	DisableLabelIndex bool
	Log               zerolog.Logger
}

// Selector implements the scheduler's SchedulePod and wraps its
// FailureHandler. SchedulePod is only called from the scheduler's single
// scheduling goroutine, which is what makes nextStart safe without a lock.
type Selector struct {
	cfg Config

	// nextStart rotates where the filter pass starts, as upstream does, so
	// every node of the shard gets examined across pods.
	nextStart int
	// index and nodeAffinityFilter (by profile name: does the profile run
	// upstream's NodeAffinity filter, without which the index must not
	// skip nodes) are used from the scheduling goroutine only, as nextStart.
	index              labelIndex
	nodeAffinityFilter map[string]bool

	lostMu sync.Mutex // guards lost, retry and dropped
	// lost holds pods this member just lost a gather for, between
	// the verdict and the FailureHandler that drops them.
	lost map[types.UID]time.Time
	// retry holds pods whose gather failed (no verdict, or one that missed
	// this member's feasible bid), between the verdict and the
	// FailureHandler that requeues them with backoff.
	retry map[types.UID]failedGather
	// dropped remembers pods given up to a winner, so they can be requeued
	// if the winner never binds them (it died, or its binding failed).
	dropped map[types.UID]droppedPod
}

// failedGather is why a pod's gather failed and when.
type failedGather struct {
	msg string
	at  time.Time
}

// droppedPod is a pod this member left to another member's win.
type droppedPod struct {
	namespace, name string
	at              time.Time
}

// New returns a Selector.
func New(cfg Config) (*Selector, error) {
	if cfg.Tree == nil || cfg.Metrics == nil {
		return nil, errors.New("selector: Tree and Metrics are required")
	}
	if cfg.VerdictTimeout <= 0 {
		cfg.VerdictTimeout = 30 * time.Second
	}
	return &Selector{
		cfg:                cfg,
		nodeAffinityFilter: map[string]bool{},
		lost:               map[types.UID]time.Time{},
		retry:              map[types.UID]failedGather{},
		dropped:            map[types.UID]droppedPod{},
	}, nil
}

// PodKey names a pod in the tree. The UID makes a re-created pod of the same
// name a different gather.
func PodKey(pod *v1.Pod) string {
	return pod.Namespace + "/" + pod.Name + "/" + string(pod.UID)
}

// SchedulePod has the signature of scheduler.Scheduler.SchedulePod.
func (s *Selector) SchedulePod(ctx context.Context, fw framework.Framework, state fwk.CycleState, podInfo *framework.QueuedPodInfo) (scheduler.ScheduleResult, error) {
	pod := podInfo.Pod
	localStart := time.Now()
	local, err := s.bestLocal(ctx, fw, state, pod)
	s.cfg.Metrics.localDuration.Observe(time.Since(localStart).Seconds())
	if err != nil {
		s.cfg.Metrics.pods.WithLabelValues(resultError).Inc()
		return scheduler.ScheduleResult{}, fmt.Errorf("filter and score %s/%s on this shard: %w", pod.Namespace, pod.Name, err)
	}
	s.cfg.Metrics.nodesEvaluated.Add(float64(local.evaluated))

	key := PodKey(pod)
	gatherStart := time.Now()
	bid := tree.Bid{Node: local.node, Score: local.score}
	if local.fitErr == nil && len(s.cfg.Tree.Members()) > 1 {
		// Bid and go on; DistPermit holds the pod until the verdict. (A
		// member alone gets its verdict at once: it takes the plain path.)
		pend := distpermit.NewPending(local.node, s.cfg.VerdictTimeout+5*time.Second)
		distpermit.RecordPending(state, pend)
		go s.awaitVerdict(context.WithoutCancel(ctx), pod, key, bid, pend, gatherStart)
		return scheduler.ScheduleResult{
			SuggestedHost:  local.node,
			EvaluatedNodes: local.evaluated,
			FeasibleNodes:  local.feasible,
		}, nil
	}
	if local.fitErr != nil {
		bid.Reason = local.fitErr.Error()
	}
	v, err := s.cfg.Tree.Gather(ctx, key, bid)
	s.cfg.Metrics.gatherDuration.Observe(time.Since(gatherStart).Seconds())
	if err != nil {
		// The pod stays this member's: upstream requeues it with backoff.
		s.cfg.Metrics.pods.WithLabelValues(resultError).Inc()
		return scheduler.ScheduleResult{}, fmt.Errorf("gather %s: %w", key, err)
	}
	s.cfg.Metrics.stragglers.Add(float64(v.Stragglers()))

	switch {
	case v.Winner == s.cfg.Tree.Self():
		s.cfg.Metrics.pods.WithLabelValues(resultWon).Inc()
		distpermit.RecordWin(state, v.Node)
		return scheduler.ScheduleResult{
			SuggestedHost:  v.Node,
			EvaluatedNodes: local.evaluated,
			FeasibleNodes:  local.feasible,
		}, nil
	case v.Winner != "":
		s.cfg.Metrics.pods.WithLabelValues(resultLost).Inc()
		s.markLost(pod.UID)
		// ErrNoNodesAvailable takes upstream's quiet path straight to the
		// FailureHandler (no error log, no PostFilter/preemption); the
		// wrapped FailureHandler recognises the lost pod and drops it.
		return scheduler.ScheduleResult{}, scheduler.ErrNoNodesAvailable
	case local.fitErr != nil:
		// No member could place the pod: upstream's unschedulable path
		// (PostFilter, PodScheduled=False, event, requeue on cluster events)
		// with this shard's diagnosis.
		s.cfg.Metrics.pods.WithLabelValues(resultUnschedulable).Inc()
		return scheduler.ScheduleResult{}, local.fitErr
	default:
		// This member had a node but the verdict saw no feasible bid: its bid
		// missed the decision. Retry through the queue's backoff.
		s.cfg.Metrics.pods.WithLabelValues(resultError).Inc()
		return scheduler.ScheduleResult{}, fmt.Errorf("gather %s decided without this member's feasible bid", key)
	}
}

// awaitVerdict waits for the verdict of a feasible bid and resolves pend:
// DistPermit then lets the pod bind (won) or rejects it, and the
// FailureHandler drops it (lost) or requeues it with backoff (no verdict).
func (s *Selector) awaitVerdict(ctx context.Context, pod *v1.Pod, key string, bid tree.Bid, pend *distpermit.Pending, start time.Time) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.VerdictTimeout)
	defer cancel()
	v, err := s.cfg.Tree.Gather(ctx, key, bid)
	s.cfg.Metrics.gatherDuration.Observe(time.Since(start).Seconds())
	s.cfg.Log.Debug().Str("pod", key).Str("bid", bid.Node).Str("winner", v.Winner).Err(err).
		Dur("took", time.Since(start)).Msg("verdict")
	switch {
	case err != nil:
		s.cfg.Metrics.pods.WithLabelValues(resultError).Inc()
		s.markRetry(pod.UID, fmt.Sprintf("gather %s: %v", key, err))
		pend.Lose(fmt.Sprintf("no verdict for this member's bid: %v", err))
		return
	case v.Winner == s.cfg.Tree.Self():
		s.cfg.Metrics.stragglers.Add(float64(v.Stragglers()))
		s.cfg.Metrics.pods.WithLabelValues(resultWon).Inc()
		pend.Win()
	case v.Winner != "":
		s.cfg.Metrics.stragglers.Add(float64(v.Stragglers()))
		s.cfg.Metrics.pods.WithLabelValues(resultLost).Inc()
		s.markLost(pod.UID)
		pend.Lose("another distscheduler member won the pod")
	default:
		s.cfg.Metrics.pods.WithLabelValues(resultError).Inc()
		msg := fmt.Sprintf("gather %s decided without this member's feasible bid", key)
		s.markRetry(pod.UID, msg)
		pend.Lose(msg)
	}
}

// FailureHandler wraps upstream's failure handler: pods lost to another
// member are dropped from this member's queue (done marks them finished, no
// requeue, no status update, no event); pods whose gather failed go to next
// as an error (requeued with backoff); everything else goes to next as is.
func (s *Selector) FailureHandler(next scheduler.FailureHandlerFn, done func(types.UID)) scheduler.FailureHandlerFn {
	return func(ctx context.Context, fw framework.Framework, podInfo *framework.QueuedPodInfo, status *fwk.Status, nominatingInfo *fwk.NominatingInfo, start time.Time) {
		if podInfo != nil && podInfo.Pod != nil {
			if s.takeLost(podInfo.Pod) {
				done(podInfo.Pod.UID)
				return
			}
			if msg, ok := s.takeRetry(podInfo.Pod.UID); ok {
				status = fwk.AsStatus(errors.New(msg))
			}
		}
		next(ctx, fw, podInfo, status, nominatingInfo, start)
	}
}

func (s *Selector) markRetry(uid types.UID, msg string) {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	s.retry[uid] = failedGather{msg: msg, at: time.Now()}
}

func (s *Selector) takeRetry(uid types.UID) (string, bool) {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	f, ok := s.retry[uid]
	delete(s.retry, uid)
	return f.msg, ok
}

func (s *Selector) markLost(uid types.UID) {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	s.lost[uid] = time.Now()
}

func (s *Selector) takeLost(pod *v1.Pod) bool {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	_, ok := s.lost[pod.UID]
	if ok {
		delete(s.lost, pod.UID)
		s.dropped[pod.UID] = droppedPod{namespace: pod.Namespace, name: pod.Name, at: time.Now()}
	}
	return ok
}

// Undrop forgets that this member dropped the pod and reports whether it had:
// the pod came back (its tree item arrived again) and the caller puts it
// back in the scheduling queue.
func (s *Selector) Undrop(uid types.UID) bool {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	_, ok := s.dropped[uid]
	delete(s.dropped, uid)
	return ok
}

// PodGetter reads a pod from the member's informer cache.
type PodGetter func(namespace, name string) (*v1.Pod, error)

// RecoverDropped runs until ctx ends. Every interval it looks at the pods
// this member dropped at least after ago: a pod that is still unassigned
// (same UID) was never bound by its winner — the winner died or its binding
// failed — so it is handed back to requeue (upstream's queue Update, which
// adds a pod that is in no queue). Bound, deleted or re-created pods are
// forgotten. This is what keeps a pod from being lost when a winner fails.
func (s *Selector) RecoverDropped(ctx context.Context, get PodGetter, requeue func(*v1.Pod), interval, after time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range s.dueDropped(get, after) {
			s.cfg.Metrics.recovered.Inc()
			s.cfg.Log.Info().Str("pod", p.Namespace+"/"+p.Name).Msg("winner never bound the pod; requeueing it")
			requeue(p)
		}
	}
}

func (s *Selector) dueDropped(get PodGetter, after time.Duration) []*v1.Pod {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	var due []*v1.Pod
	now := time.Now()
	// A lost or failed pod that upstream already took out of the queue
	// (bound or deleted while parked at Permit) never reaches the
	// FailureHandler: forget it.
	for uid, at := range s.lost {
		if now.Sub(at) >= after {
			delete(s.lost, uid)
		}
	}
	for uid, f := range s.retry {
		if now.Sub(f.at) >= after {
			delete(s.retry, uid)
		}
	}
	for uid, d := range s.dropped {
		if now.Sub(d.at) < after {
			continue
		}
		delete(s.dropped, uid)
		p, err := get(d.namespace, d.name)
		if err != nil || p.UID != uid || p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
			continue
		}
		due = append(due, p)
	}
	return due
}

// localResult is this shard's answer for one pod.
type localResult struct {
	node      string
	score     int64
	evaluated int
	feasible  int
	// fitErr explains why no node of this shard fits; nil when one does.
	fitErr *framework.FitError
}

// bestLocal runs upstream's filter and score plugins over this shard's nodes
// the way upstream's own schedulePod does (PreFilter result narrowing,
// nominated pods, early stop at the feasible-node target, rotating start).
// Extenders and the nominated-node fast path are not used. A pod with a
// nodeSelector or required node affinity is first searched for on the nodes
// the label index names; only if none of those fits does the full pass run,
// so an unschedulable pod's FitError is the one upstream would give.
func (s *Selector) bestLocal(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod) (localResult, error) {
	lister := fw.SnapshotSharedLister().NodeInfos()
	all, err := lister.List()
	if err != nil {
		return localResult{}, fmt.Errorf("list shard nodes: %w", err)
	}
	s.cfg.Metrics.shardNodes.Set(float64(len(all)))
	diagnosis := framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}
	noFit := func(evaluated int) localResult {
		return localResult{evaluated: evaluated, fitErr: &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: diagnosis}}
	}
	if len(all) == 0 {
		diagnosis.NodeToStatus.SetAbsentNodesStatus(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "this member has no nodes"))
		return noFit(0), nil
	}

	preRes, st, unschedulablePlugins := fw.RunPreFilterPlugins(ctx, state, pod)
	diagnosis.UnschedulablePlugins = unschedulablePlugins
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return localResult{}, st.AsError()
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(st)
		diagnosis.PreFilterMsg = st.Message()
		diagnosis.AddPluginStatus(st)
		return noFit(0), nil
	}

	toFind := s.feasibleTarget(fw, len(all))
	var feasible []fwk.NodeInfo
	evaluated := 0
	// pass filters n nodes in the order at gives, keeping what it found in
	// feasible, and returns how many nodes it processed.
	pass := func(n int, at func(int) fwk.NodeInfo, diag *framework.Diagnosis) (int, error) {
		found, processed, err := s.filter(ctx, fw, state, pod, n, at, toFind, diag)
		feasible = found
		evaluated += processed
		return processed, err
	}
	switch {
	case !preRes.AllNodes():
		nodes := make([]fwk.NodeInfo, 0, len(preRes.NodeNames))
		for name := range preRes.NodeNames {
			if ni, err := lister.Get(name); err == nil {
				nodes = append(nodes, ni)
			}
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
			fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", sets.List(unschedulablePlugins))))
		if len(nodes) == 0 {
			return noFit(0), nil
		}
		start := s.nextStart % len(nodes)
		processed, err := pass(len(nodes), func(i int) fwk.NodeInfo { return nodes[(start+i)%len(nodes)] }, &diagnosis)
		if err != nil {
			return localResult{}, err
		}
		s.nextStart = (start + processed) % len(all)
	default:
		if cands, ok := s.indexed(fw, pod, all); ok {
			s.cfg.Metrics.indexNarrowed.Inc()
			if len(cands) > 0 {
				// Statuses of this pass are not kept: if it finds nothing,
				// the full pass below makes the diagnosis.
				scratch := framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}
				first := sort.Search(len(cands), func(i int) bool { return int(cands[i]) >= s.nextStart })
				processed, err := pass(len(cands), func(i int) fwk.NodeInfo { return all[cands[(first+i)%len(cands)]] }, &scratch)
				if err != nil {
					return localResult{}, err
				}
				if processed > 0 {
					s.nextStart = (int(cands[(first+processed-1)%len(cands)]) + 1) % len(all)
				}
			}
			if len(feasible) == 0 {
				s.cfg.Metrics.indexFullPasses.Inc()
			}
		}
		if len(feasible) == 0 {
			start := s.nextStart % len(all)
			processed, err := pass(len(all), func(i int) fwk.NodeInfo { return all[(start+i)%len(all)] }, &diagnosis)
			if err != nil {
				return localResult{}, err
			}
			s.nextStart = (start + processed) % len(all)
		}
	}
	if len(feasible) == 0 {
		return noFit(evaluated), nil
	}

	scores, err := s.score(ctx, fw, state, pod, feasible)
	if err != nil {
		return localResult{}, err
	}
	best := framework.NewSortedScoredNodes(scores).Pop()
	return localResult{node: best.Name, score: best.TotalScore, evaluated: evaluated, feasible: len(feasible)}, nil
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

// filter runs the Filter plugins in parallel over the n nodes at(0..n-1)
// until toFind feasible ones are found. It returns them and how many nodes
// it processed (feasible or not), from which the caller moves nextStart.
func (s *Selector) filter(ctx context.Context, fw framework.Framework, state fwk.CycleState, pod *v1.Pod, n int, at func(int) fwk.NodeInfo, toFind int, diagnosis *framework.Diagnosis) ([]fwk.NodeInfo, int, error) {
	target := int32(min(toFind, n))
	feasible := make([]fwk.NodeInfo, target)
	statuses := make([]*fwk.Status, n)
	var found int32
	var errOnce sync.Once
	var filterErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	check := func(i int) {
		ni := at(i)
		st := fw.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
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
			statuses[i] = st
		}
	}
	fw.Parallelizer().Until(ctx, n, check, "Filter")
	feasible = feasible[:found]
	processed := len(feasible)
	for i, st := range statuses {
		if st == nil {
			continue
		}
		processed++
		diagnosis.NodeToStatus.Set(at(i).Node().Name, st)
		diagnosis.AddPluginStatus(st)
	}
	if filterErr != nil {
		return nil, processed, filterErr
	}
	return feasible, processed, nil
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
	members := len(s.cfg.Tree.Members())
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
