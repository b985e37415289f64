// Package cycle is a scheduling member's pod path. A pending pod reaches the
// member inside its tree item (the leader put the pod itself there), so no
// member watches pending pods. The member decodes it, finds its best node on
// its own shard (package selector, upstream's plugins), bids, and goes on to
// the next item while the bid waits for its verdict. Only the winner then
// runs upstream's binding steps through the profile's framework: assume the
// pod in the scheduler cache, Reserve, Permit (DistPermit lets the recorded
// win through), PreBind, and the Binding, which carries the member's shard
// label so that the pod, once bound, reaches the informer of this member
// alone. A member that loses a pod has nothing to undo: the pod never entered
// its queue or its cache.
//
// Several bids are in flight at once (Config.InFlight). Each holds its node:
// the member's later pods pass over nodes with a bid in flight until the
// verdict, so two pods of one member never count on the same free room. A
// won pod is assumed on its node before the node is released.
package cycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"github.com/k8s1m/k8s1m/distscheduler/podstatus"
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
	// Frameworks are upstream's profiles by scheduler name. Required.
	Frameworks map[string]framework.Framework
	// Cache is the scheduler cache (upstream's, fed by the member's
	// informers) and Snapshot the snapshot every profile's plugins read.
	Cache    internalcache.Cache
	Snapshot *internalcache.Snapshot
	// Selector finds the member's best node. Required.
	Selector *selector.Selector
	// Client posts Bindings.
	Client kubernetes.Interface
	// BindingLabels are put on every Binding this member posts; the API
	// server copies them onto the pod (the shard label).
	BindingLabels map[string]string
	// InFlight is the most feasible bids awaiting verdicts at once
	// (default 32); the item queue holds 4 × InFlight items.
	InFlight int
	Metrics  *Metrics
	Log      zerolog.Logger
}

// Cycle runs one member's pod path.
type Cycle struct {
	cfg Config
	log klog.Logger

	items chan tree.Item
	// verdicts has room for one verdict per bid in flight, so the tree's
	// callbacks never block.
	verdicts chan verdict

	// busy (nodes with bids in flight, by count) and inFlight are the
	// scheduling loop's alone.
	busy     map[string]int
	inFlight int

	binds sync.WaitGroup
}

// bid is one feasible bid in flight.
type bid struct {
	pod   *v1.Pod
	fw    framework.Framework
	state fwk.CycleState
	node  string
	at    time.Time
}

type verdict struct {
	b *bid
	v tree.Verdict
}

// New returns a member's pod path; Run runs it.
func New(cfg Config) (*Cycle, error) {
	if cfg.Tree == nil || cfg.Selector == nil || cfg.Cache == nil || cfg.Snapshot == nil ||
		cfg.Client == nil || cfg.Metrics == nil || len(cfg.Frameworks) == 0 {
		return nil, errors.New("cycle: Tree, Frameworks, Cache, Snapshot, Selector, Client and Metrics are required")
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 32
	}
	return &Cycle{
		cfg:      cfg,
		log:      klog.Background(),
		items:    make(chan tree.Item, 4*cfg.InFlight),
		verdicts: make(chan verdict, cfg.InFlight),
		busy:     map[string]int{},
	}, nil
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

// Run schedules items until ctx ends, then waits for bindings under way.
func (c *Cycle) Run(ctx context.Context) {
	defer c.binds.Wait()
	for {
		// Verdicts first: they free nodes and slots.
		select {
		case v := <-c.verdicts:
			c.settle(ctx, v)
			continue
		default:
		}
		items := c.items
		if c.inFlight >= c.cfg.InFlight {
			items = nil // full: wait for a verdict
		}
		select {
		case <-ctx.Done():
			return
		case v := <-c.verdicts:
			c.settle(ctx, v)
		case it := <-items:
			c.cfg.Metrics.queued.Set(float64(len(c.items)))
			c.schedule(ctx, it)
		}
	}
}

// schedule decodes one item's pod, selects this shard's best node and bids.
func (c *Cycle) schedule(ctx context.Context, it tree.Item) {
	if time.Until(it.Deadline) <= 0 {
		c.cfg.Metrics.items.WithLabelValues(resultExpired).Inc()
		return // its gather has decided without this member
	}
	pod := &v1.Pod{}
	if err := pod.Unmarshal(it.Pod); err != nil {
		c.noFit(it, resultInvalid, fmt.Sprintf("member %s cannot decode the pod: %v", c.cfg.Tree.Self(), err))
		return
	}
	fw, ok := c.cfg.Frameworks[pod.Spec.SchedulerName]
	if !ok {
		c.noFit(it, resultInvalid, fmt.Sprintf("member %s has no profile for scheduler name %q", c.cfg.Tree.Self(), pod.Spec.SchedulerName))
		return
	}
	if err := c.cfg.Cache.UpdateSnapshot(c.log, c.cfg.Snapshot); err != nil {
		c.noFit(it, resultError, fmt.Sprintf("member %s: node snapshot: %v", c.cfg.Tree.Self(), err))
		return
	}
	state := framework.NewCycleState()
	res, err := c.cfg.Selector.BestLocal(ctx, fw, state, pod, c.isBusy)
	switch {
	case err != nil:
		c.noFit(it, resultError, fmt.Sprintf("member %s: %v", c.cfg.Tree.Self(), err))
		return
	case res.FitErr != nil:
		c.noFit(it, resultUnschedulable, res.FitErr.Error())
		return
	}
	b := &bid{pod: pod, fw: fw, state: state, node: res.Node, at: time.Now()}
	c.busy[b.node]++
	c.inFlight++
	c.cfg.Metrics.inFlight.Set(float64(c.inFlight))
	c.cfg.Tree.Report(it, tree.Bid{Node: res.Node, Score: res.Score}, func(v tree.Verdict) {
		c.verdicts <- verdict{b: b, v: v}
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

func (c *Cycle) isBusy(node string) bool { return c.busy[node] > 0 }

// settle applies one verdict: a loss frees the node; a win runs upstream's
// assume, Reserve and Permit here, on the scheduling loop as upstream's
// scheduling cycle does, then binds in the background.
func (c *Cycle) settle(ctx context.Context, v verdict) {
	b := v.b
	c.inFlight--
	c.cfg.Metrics.inFlight.Set(float64(c.inFlight))
	c.cfg.Metrics.verdictWait.Observe(time.Since(b.at).Seconds())
	defer func() {
		if c.busy[b.node]--; c.busy[b.node] <= 0 {
			delete(c.busy, b.node)
		}
	}()
	switch {
	case v.v.Win:
	case v.v.Reason != "":
		c.cfg.Metrics.items.WithLabelValues(resultNoVerdict).Inc()
		c.cfg.Log.Debug().Str("pod", Key(b.pod)).Str("reason", v.v.Reason).Msg("no verdict; the leader submits the pod again")
		return
	default:
		c.cfg.Metrics.items.WithLabelValues(resultLost).Inc()
		return
	}
	pod := b.pod // decoded for this member alone: safe to assign in place
	pod.Spec.NodeName = b.node
	if err := c.cfg.Cache.AssumePod(c.log, pod); err != nil {
		c.bindFailed(pod, b.node, fmt.Errorf("assume: %w", err))
		return
	}
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
	c.binds.Add(1)
	go func() {
		defer c.binds.Done()
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
	if ferr := c.cfg.Cache.ForgetPod(c.log, b.pod); ferr != nil {
		c.cfg.Log.Debug().Err(ferr).Str("pod", Key(b.pod)).Msg("forget pod")
	}
	c.bindFailed(b.pod, b.node, err)
}

// bindFailed gives a won pod back to the leader: it marks the pod
// PodScheduled=False with reason SchedulerError (as upstream's failure
// handler does), which the leader's pending-pod watch sees, so the pod is
// submitted again at once. Not when the Binding was refused because the pod
// is bound already or gone: then there is nothing to give back.
func (c *Cycle) bindFailed(pod *v1.Pod, node string, err error) {
	c.cfg.Metrics.items.WithLabelValues(resultBindFailed).Inc()
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		c.cfg.Log.Info().Err(err).Str("pod", Key(pod)).Str("node", node).Msg("won pod already bound or gone")
		return
	}
	c.cfg.Log.Warn().Err(err).Str("pod", Key(pod)).Str("node", node).Msg("won pod not bound; giving it back to the leader")
	msg := fmt.Sprintf("member %s could not bind the pod to node %s: %v", c.cfg.Tree.Self(), node, err)
	c.binds.Add(1)
	go func() {
		defer c.binds.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := podstatus.MarkNotScheduled(ctx, c.cfg.Client, pod, v1.PodReasonSchedulerError, msg); err != nil {
			c.cfg.Log.Warn().Err(err).Str("pod", Key(pod)).Msg("could not give the pod back; the leader's recheck will")
		}
	}()
}
