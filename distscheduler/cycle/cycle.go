// Package cycle is a scheduling member's end of a pod's path (package
// podpath). A pending pod reaches the member inside its tree item (the
// leader put the pod itself there), so no member watches pending pods. The
// member decodes it, finds its best node on its own shard (package selector,
// upstream's plugins), holds that node, bids, and goes on to the next item
// while the bid waits for its verdict. A loser frees the node and does
// nothing else: no assume or forget in upstream's cache, no Reserve, Permit
// or Unreserve, and the pod never entered its queue. Only the winner assumes
// the pod and runs upstream's binding steps through the profile's
// framework: Reserve, Permit (DistPermit lets the recorded win through),
// PreBind, and the Binding, which carries the member's shard label so that
// the pod, once bound, reaches the informer of this member alone.
//
// A member runs several scheduling loops (Config.Lanes, the original's
// --num-concurrent-schedulers), each on its own snapshot of the one shared
// cache, taking items from one queue. Several bids are in flight at once
// (Config.InFlight). A node with a bid in flight is held (busy) until the
// verdict, so two pods of one member never count on the same free room; a
// search that finds no node while bids hold some assumes those bids' pods
// and searches again, so a crowded shard still takes every pod that fits
// (holds.go). A loop whose snapshot predates another loop's assume is kept
// off that node (claims.go).
package cycle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/k8s1m/k8s1m/distscheduler/selector"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	internalcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// Config is what a member's pod path needs.
type Config struct {
	// Tree delivers items and carries bids and verdicts. Required.
	Tree tree.Member
	// Lanes are the member's scheduling loops, one goroutine each. At
	// least one is required.
	Lanes []Lane
	// Cache is the scheduler cache (upstream's, fed by the member's
	// informers), shared by every lane. Required.
	Cache internalcache.Cache
	// Client posts Bindings.
	Client kubernetes.Interface
	// BindingLabels are put on every Binding this member posts; the API
	// server copies them onto the pod (the shard label).
	BindingLabels map[string]string
	// Adopting names nodes just handed over to this member whose bound
	// pods it has not counted yet (shard.Adopter's Pending): searches pass
	// over them until it has. Nil: no node is ever held back.
	Adopting func(node string) bool
	// Owns reports whether a node is still in this member's shard; a won
	// pod is not bound to a node the member has lost meanwhile (the leader
	// moved it), but given back. Nil: every node is.
	Owns func(node string) bool
	// InFlight is the most feasible bids awaiting verdicts at once
	// (default 32), split evenly among the lanes; the item queue holds
	// 4 × InFlight items.
	InFlight int
	// Bindings is the most Bindings (with their PreBind) in flight at once
	// (default 128); a won pod waits for room on its scheduling loop. A
	// kube-apiserver serves 100 streams on one HTTP/2 connection, and a
	// client past that opens another connection, each with its TLS
	// handshake: a member binding hundreds of pods at once under load
	// opened up to 615 connections and spent a third of its CPU on
	// handshakes.
	Bindings int
	Metrics  *Metrics
	Log      zerolog.Logger
}

// Lane is what one scheduling loop owns: a snapshot of the shared cache,
// the profiles' frameworks (by scheduler name) whose plugins read that
// snapshot, and a selector, whose rotation and label index follow it.
type Lane struct {
	Frameworks map[string]framework.Framework
	Snapshot   *internalcache.Snapshot
	Selector   *selector.Selector
}

// Cycle runs one member's pod path.
type Cycle struct {
	cfg Config
	log klog.Logger

	items  chan tree.Item
	claims *claims
	holds  *holds
	loops  []*loop
	// inFlight is the bids awaiting verdicts over all loops (a gauge).
	inFlight atomic.Int64

	binds sync.WaitGroup
	// bindSlots has room for Bindings bindings in flight.
	bindSlots chan struct{}
	// giveBacks has room for the give-backs under way (see bindFailed).
	giveBacks chan struct{}
}

// loop is one lane's scheduling goroutine and its bids.
type loop struct {
	c    *Cycle
	id   int
	lane Lane
	// verdicts has room for one verdict per bid the loop may have in
	// flight, so the tree's callbacks never block.
	verdicts chan verdict
	budget   int
	inFlight int // this loop's alone
	// busy is the selector's Busy for this loop's searches; it notes in
	// passedHeld that the search passed over a node a bid holds.
	busy       selector.Busy
	passedHeld atomic.Bool
}

// bid is one feasible bid in flight.
type bid struct {
	pod   *v1.Pod
	fw    framework.Framework
	state fwk.CycleState
	node  string
	at    time.Time
	// assumed: the pod is in the cache on node (guarded by holds.mu).
	assumed bool
}

type verdict struct {
	b *bid
	v tree.Verdict
}

// claimAttempts bounds how often one pod is searched for again because
// another loop took its node meanwhile.
const claimAttempts = 5

// New returns a member's pod path; Run runs it.
func New(cfg Config) (*Cycle, error) {
	if cfg.Tree == nil || len(cfg.Lanes) == 0 || cfg.Cache == nil || cfg.Client == nil || cfg.Metrics == nil {
		return nil, errors.New("cycle: Tree, Lanes, Cache, Client and Metrics are required")
	}
	for i, l := range cfg.Lanes {
		if len(l.Frameworks) == 0 || l.Snapshot == nil || l.Selector == nil {
			return nil, fmt.Errorf("cycle: lane %d needs Frameworks, Snapshot and Selector", i)
		}
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 32
	}
	if cfg.Bindings <= 0 {
		cfg.Bindings = 128
	}
	c := &Cycle{
		cfg:    cfg,
		log:    klog.Background(),
		items:  make(chan tree.Item, 4*cfg.InFlight),
		claims: newClaims(len(cfg.Lanes)),
		holds:  newHolds(),

		bindSlots: make(chan struct{}, cfg.Bindings),
		giveBacks: make(chan struct{}, maxGiveBacks),
	}
	cfg.Metrics.lanes.Set(float64(len(cfg.Lanes)))
	budget := (cfg.InFlight + len(cfg.Lanes) - 1) / len(cfg.Lanes)
	for i, l := range cfg.Lanes {
		lp := &loop{c: c, id: i, lane: l, verdicts: make(chan verdict, budget), budget: budget}
		lp.busy = func(node string) *fwk.Status {
			st := c.busy(node)
			if st == claimedStatus {
				lp.passedHeld.Store(true)
			}
			return st
		}
		c.loops = append(c.loops, lp)
	}
	return c, nil
}

// Offer queues an item that reached the member. It never blocks: with the
// queue full the item is dropped and its gather decides without this member.
func (c *Cycle) Offer(it tree.Item) {
	select {
	case c.items <- it:
		c.cfg.Metrics.queued.Set(float64(len(c.items)))
	default:
		c.cfg.Metrics.items.WithLabelValues(resultDropped).Inc()
	}
}

// Run schedules items on every lane until ctx ends, then waits for
// bindings under way.
func (c *Cycle) Run(ctx context.Context) {
	defer c.binds.Wait()
	var loops sync.WaitGroup
	for _, l := range c.loops {
		loops.Add(1)
		go func() {
			defer loops.Done()
			l.run(ctx)
		}()
	}
	loops.Wait()
}

// run is one scheduling loop: verdicts first (they free nodes and slots),
// then the next item while the loop has room for another bid.
func (l *loop) run(ctx context.Context) {
	for {
		select {
		case v := <-l.verdicts:
			l.settle(ctx, v)
			continue
		default:
		}
		items := l.c.items
		if l.inFlight >= l.budget {
			items = nil // full: wait for a verdict
		}
		select {
		case <-ctx.Done():
			return
		case v := <-l.verdicts:
			l.settle(ctx, v)
		case it := <-items:
			l.c.cfg.Metrics.queued.Set(float64(len(l.c.items)))
			l.schedule(ctx, it)
		}
	}
}

// schedule decodes one item's pod, selects this shard's best node and bids.
func (l *loop) schedule(ctx context.Context, it tree.Item) {
	c := l.c
	if time.Until(it.Deadline) <= 0 {
		c.cfg.Metrics.items.WithLabelValues(resultExpired).Inc()
		return // its gather has decided without this member
	}
	pod := &v1.Pod{}
	if err := pod.Unmarshal(it.Pod); err != nil {
		c.noFit(it, resultInvalid, fmt.Sprintf("member %s cannot decode the pod: %v", c.cfg.Tree.Self(), err))
		return
	}
	if node, ok := c.heldOn(pod); ok {
		c.rebid(it, node)
		return
	}
	fw, ok := l.lane.Frameworks[pod.Spec.SchedulerName]
	if !ok {
		c.noFit(it, resultInvalid, fmt.Sprintf("member %s has no profile for scheduler name %q", c.cfg.Tree.Self(), pod.Spec.SchedulerName))
		return
	}
	crowded := false
	for attempt := 1; ; attempt++ {
		state, res, result, reason := l.search(ctx, fw, pod)
		if result == resultUnschedulable && res.passedHeld && !crowded {
			// Nodes held by this member's bids may have room that the
			// search passed over: count those bids' pods instead.
			crowded = true
			if n := c.holds.assumeAll(c); n > 0 {
				c.cfg.Metrics.holdsAssumed.Add(float64(n))
				continue
			}
		}
		if result != "" {
			c.noFit(it, result, reason)
			return
		}
		if res.claimed {
			l.bid(it, &bid{pod: pod, fw: fw, state: state, node: res.Node, at: time.Now()}, res.Score)
			return
		}
		c.cfg.Metrics.claimsRefused.Inc()
		if attempt == claimAttempts {
			c.noFit(it, resultUnschedulable, fmt.Sprintf("member %s: its other scheduling loops took node %s, and the nodes found after it, first", c.cfg.Tree.Self(), res.Node))
			return
		}
	}
}

// heldScore outranks every score a search gives (upstream's totals are
// at most 100 per plugin weight): a member that already holds a pod wins
// it again over any fresh bid, so the pod keeps the node it was given.
const heldScore = math.MaxInt64

// heldOn reports the node this member already holds pod on: by an earlier
// bid of its still awaiting its verdict, assumed by a win whose Binding is
// under way, or bound and seen by its informer. The leader submits such a
// pod again when its pending-pod watch has not seen the Binding by its
// recheck time (a loaded API server).
func (c *Cycle) heldOn(pod *v1.Pod) (string, bool) {
	if node, ok := c.holds.nodeOf(pod.UID); ok {
		return node, true
	}
	cached, err := c.cfg.Cache.GetPod(pod)
	if err != nil || cached.Spec.NodeName == "" {
		return "", false
	}
	return cached.Spec.NodeName, true
}

// rebid answers an item for a pod the member holds without searching:
// the held node at heldScore. Upstream's cache would refuse to assume the
// pod again, and a "no node fits" answer would have the leader mark a
// pod that is being bound unschedulable. Whatever the verdict, the earlier
// bid's own verdict, its win's Binding, or the bound pod stands.
func (c *Cycle) rebid(it tree.Item, node string) {
	c.cfg.Metrics.items.WithLabelValues(resultHeld).Inc()
	c.cfg.Tree.Report(it, tree.Bid{Node: node, Score: heldScore}, func(tree.Verdict) {})
}

// searchResult is one search's best node, whether the loop holds it, and
// whether the search passed over nodes the member's bids hold.
type searchResult struct {
	selector.Result
	claimed, passedHeld bool
}

// search updates the lane's snapshot, finds the best free node on it and
// claims it. A non-empty result means no bid: the item's result and why.
func (l *loop) search(ctx context.Context, fw framework.Framework, pod *v1.Pod) (fwk.CycleState, searchResult, string, string) {
	c := l.c
	seen := c.claims.begin(l.id)
	defer c.claims.end(l.id)
	if err := c.cfg.Cache.UpdateSnapshot(c.log, l.lane.Snapshot); err != nil {
		return nil, searchResult{}, resultError, fmt.Sprintf("member %s: node snapshot: %v", c.cfg.Tree.Self(), err)
	}
	state := framework.NewCycleState()
	l.passedHeld.Store(false)
	res, err := l.lane.Selector.BestLocal(ctx, fw, state, pod, l.busy)
	switch {
	case err != nil:
		return nil, searchResult{}, resultError, fmt.Sprintf("member %s: %v", c.cfg.Tree.Self(), err)
	case res.FitErr != nil:
		return nil, searchResult{passedHeld: l.passedHeld.Load()}, resultUnschedulable, res.FitErr.Error()
	}
	return state, searchResult{Result: res, claimed: c.claims.claim(res.Node, seen)}, "", ""
}

// The Filter statuses of the nodes a search passes over (see busy).
var (
	claimedStatus  = fwk.NewStatus(fwk.Unschedulable, "another pod of this member is being placed on the node")
	adoptingStatus = fwk.NewStatus(fwk.Unschedulable, "the node was just handed over to this member, which is still counting the pods bound to it")
)

// busy is the selector's Busy: a node another loop is claiming, or one
// whose handover is not complete, is passed over.
func (c *Cycle) busy(node string) *fwk.Status {
	if c.claims.isBusy(node) {
		return claimedStatus
	}
	if c.cfg.Adopting != nil && c.cfg.Adopting(node) {
		return adoptingStatus
	}
	return nil
}

// bid reports the node the loop claimed, which stays held until the
// verdict; the verdict comes back to this loop.
func (l *loop) bid(it tree.Item, b *bid, score int64) {
	l.c.holds.add(b)
	l.inFlight++
	l.c.cfg.Metrics.inFlight.Set(float64(l.c.inFlight.Add(1)))
	l.c.cfg.Tree.Report(it, tree.Bid{Node: b.node, Score: score}, func(v tree.Verdict) {
		l.verdicts <- verdict{b: b, v: v}
	})
}

// noFit bids "no feasible node" with reason; there is nothing to wait for.
func (c *Cycle) noFit(it tree.Item, result, reason string) {
	c.cfg.Metrics.items.WithLabelValues(result).Inc()
	if result != resultUnschedulable {
		c.cfg.Log.Warn().Str("pod", it.Key).Str("result", result).Msg(reason)
	}
	c.cfg.Tree.Report(it, tree.Bid{Reason: reason}, func(tree.Verdict) {})
}

// settle applies one verdict. A loss frees the node the bid held; a win
// assumes the pod there and runs upstream's Reserve and Permit here, on the
// scheduling loop as upstream's scheduling cycle does, then binds in the
// background.
func (l *loop) settle(ctx context.Context, v verdict) {
	c := l.c
	b := v.b
	l.inFlight--
	c.cfg.Metrics.inFlight.Set(float64(c.inFlight.Add(-1)))
	c.cfg.Metrics.verdictWait.Observe(time.Since(b.at).Seconds())
	switch {
	case v.v.Win:
		if err := c.holds.won(c, b); err != nil {
			c.bindFailed(b.pod, b.node, err)
			return
		}
	case v.v.Reason != "":
		c.holds.lost(c, b)
		c.cfg.Metrics.items.WithLabelValues(resultNoVerdict).Inc()
		c.cfg.Log.Debug().Str("pod", podpath.Key(b.pod)).Str("reason", v.v.Reason).Msg("no verdict; the leader submits the pod again")
		return
	default:
		c.holds.lost(c, b)
		c.cfg.Metrics.items.WithLabelValues(resultLost).Inc()
		return
	}
	pod := b.pod
	if st := b.fw.RunReservePluginsReserve(ctx, b.state, pod, b.node); !st.IsSuccess() {
		c.undo(ctx, b, fmt.Errorf("reserve: %w", st.AsError()))
		return
	}
	distpermit.RecordWin(b.state, b.node)
	waits, st := b.fw.RunPermitPlugins(ctx, b.state, pod, b.node)
	switch {
	case st.IsWait():
		b.fw.AddWaitingPod(pod, waits)
	case !st.IsSuccess():
		c.undo(ctx, b, fmt.Errorf("permit: %w", st.AsError()))
		return
	}
	select {
	case c.bindSlots <- struct{}{}:
	case <-ctx.Done():
		c.undo(ctx, b, fmt.Errorf("binding: %w", ctx.Err()))
		return
	}
	c.cfg.Metrics.bindings.Set(float64(len(c.bindSlots)))
	c.binds.Add(1)
	go func() {
		defer func() {
			<-c.bindSlots
			c.cfg.Metrics.bindings.Set(float64(len(c.bindSlots)))
			c.binds.Done()
		}()
		c.bind(ctx, b, st.IsWait())
	}()
}

// bind runs upstream's binding cycle for a won pod: wait on Permit if a
// plugin asked for it, PreBind, the Binding (with the shard label),
// PostBind, and the Scheduled event upstream records. The assumed pod stays
// in the cache until the member's informer sees it bound.
func (c *Cycle) bind(ctx context.Context, b *bid, waitPermit bool) {
	pod := b.pod
	start := time.Now()
	if waitPermit {
		if st := b.fw.WaitOnPermit(ctx, pod); !st.IsSuccess() {
			c.undo(ctx, b, fmt.Errorf("permit: %w", st.AsError()))
			return
		}
	}
	if st := b.fw.RunPreBindPlugins(ctx, b.state, pod, b.node); !st.IsSuccess() {
		c.undo(ctx, b, fmt.Errorf("prebind: %w", st.AsError()))
		return
	}
	if c.cfg.Owns != nil && !c.cfg.Owns(b.node) {
		c.undo(ctx, b, fmt.Errorf("node %s left member %s's shard before the Binding", b.node, c.cfg.Tree.Self()))
		return
	}
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Labels: c.cfg.BindingLabels},
		Target:     v1.ObjectReference{Kind: "Node", Name: b.node},
	}
	if err := c.postBinding(ctx, binding); err != nil {
		c.undo(ctx, b, fmt.Errorf("binding: %w", err))
		return
	}
	b.fw.RunPostBindPlugins(ctx, b.state, pod, b.node)
	b.fw.EventRecorder().Eventf(pod, nil, v1.EventTypeNormal, "Scheduled", "Binding",
		"Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, b.node)
	c.cfg.Metrics.bindDuration.Observe(time.Since(start).Seconds())
	c.cfg.Metrics.items.WithLabelValues(resultWon).Inc()
}

// notStoredRetries spaces the Binding retries of a pod the API server does
// not have yet (about 1.5 s in all).
var notStoredRetries = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}

// postBinding posts the Binding. A pod the leader learned of from its
// admission webhook can reach the winner before the API server has stored
// it: a NotFound is retried for a moment (the Binding's UID precondition
// still binds only that pod).
func (c *Cycle) postBinding(ctx context.Context, binding *v1.Binding) error {
	for i := 0; ; i++ {
		err := c.cfg.Client.CoreV1().Pods(binding.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
		if err == nil || !apierrors.IsNotFound(err) || i == len(notStoredRetries) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(notStoredRetries[i]):
		}
	}
}

// undo unreserves and forgets a won pod whose binding steps failed; the
// leader submits it again while it stays pending.
func (c *Cycle) undo(ctx context.Context, b *bid, err error) {
	b.fw.RunReservePluginsUnreserve(ctx, b.state, b.pod, b.node)
	c.forget(b)
	c.bindFailed(b.pod, b.node, err)
}

// forget drops the pod a bid held from the cache: its room is free again.
func (c *Cycle) forget(b *bid) {
	if err := c.cfg.Cache.ForgetPod(c.log, b.pod); err != nil {
		c.cfg.Log.Debug().Err(err).Str("pod", podpath.Key(b.pod)).Msg("forget pod")
	}
}

// maxGiveBacks bounds the give-backs (status patches) under way at once.
const maxGiveBacks = 16

// bindFailed gives a won pod back to the leader: it marks the pod
// PodScheduled=False with reason SchedulerError (as upstream's failure
// handler does), which the leader's pending-pod watch sees, so the pod is
// submitted again at once. Not when the Binding was refused because the pod
// is bound already or gone: then there is nothing to give back.
func (c *Cycle) bindFailed(pod *v1.Pod, node string, err error) {
	c.cfg.Metrics.items.WithLabelValues(resultBindFailed).Inc()
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		c.cfg.Log.Info().Err(err).Str("pod", podpath.Key(pod)).Str("node", node).Msg("won pod already bound or gone")
		return
	}
	select {
	case c.giveBacks <- struct{}{}:
	default:
		// Many failing at once (an API server in trouble): the leader's
		// recheck of pods still pending after their item submits them again.
		c.cfg.Log.Warn().Err(err).Str("pod", podpath.Key(pod)).Str("node", node).Msg("won pod not bound; too many give-backs under way, the leader's recheck will submit it again")
		return
	}
	c.cfg.Log.Warn().Err(err).Str("pod", podpath.Key(pod)).Str("node", node).Msg("won pod not bound; giving it back to the leader")
	msg := fmt.Sprintf("member %s could not bind the pod to node %s: %v", c.cfg.Tree.Self(), node, err)
	c.binds.Add(1)
	go func() {
		defer c.binds.Done()
		defer func() { <-c.giveBacks }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := podpath.MarkNotScheduled(ctx, c.cfg.Client, pod, v1.PodReasonSchedulerError, msg); err != nil {
			c.cfg.Log.Warn().Err(err).Str("pod", podpath.Key(pod)).Msg("could not give the pod back; the leader's recheck will")
		}
	}()
}
