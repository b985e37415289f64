package shard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/trim"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

var nodesResource = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// ControllerConfig configures the leader's shard controller.
type ControllerConfig struct {
	// Client reads and patches node metadata (labels only: the leader never
	// holds whole Node objects).
	Client metadata.Interface
	// Pods reads the few pods bound without a shard label (to learn their
	// node); nil leaves them unlabelled.
	Pods corev1client.PodsGetter
	// NodeSelector limits which nodes are scheduled at all (--node-selector);
	// empty means every node.
	NodeSelector string
	// Members returns the scheduling members, sorted.
	Members func() []string
	// Interval bounds how long a membership change waits to be noticed
	// (Members is polled this often; default 1 s).
	Interval time.Duration
	// Resync is how often a full pass over every node's label runs when
	// neither membership nor any node's shard label changed (default 30 s).
	// Node adds, deletes and label changes start a pass at once.
	Resync time.Duration
	// Workers is how many label patches run at once.
	Workers int
	Metrics *Metrics
	Log     zerolog.Logger
}

// Controller keeps the shard labels even while it runs; only the leader runs it.
type Controller struct {
	cfg      ControllerConfig
	selector labels.Selector
	// counts is this leadership term's tally, nil while not running.
	counts atomic.Pointer[tally]
}

// pendingGrace is how long a webhook assignment may stay unseen by the
// informer before the controller stops waiting for it.
const pendingGrace = 10 * time.Second

// NewController validates cfg.
func NewController(cfg ControllerConfig) (*Controller, error) {
	sel, err := labels.Parse(cfg.NodeSelector)
	if err != nil {
		return nil, fmt.Errorf("parse --node-selector %q: %w", cfg.NodeSelector, err)
	}
	if cfg.Client == nil || cfg.Members == nil || cfg.Metrics == nil {
		return nil, fmt.Errorf("shard controller: Client, Members and Metrics are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	return &Controller{cfg: cfg, selector: sel}, nil
}

// AssignNew names the member a node being created should belong to (the
// node admission webhook labels it so); false when the node is not one
// the controller shards (it does not match --node-selector, or no member
// schedules) or the controller is not running (this member does not lead).
func (c *Controller) AssignNew(node string, nodeLabels map[string]string) (string, bool) {
	t := c.counts.Load()
	if t == nil || !c.selector.Matches(labels.Set(nodeLabels)) {
		return "", false
	}
	m, ok := t.assign(node, c.cfg.Members(), time.Now())
	if ok {
		c.cfg.Metrics.assigned.Inc()
	}
	return m, ok
}

// Run watches node metadata and rebalances until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	inf := metadatainformer.NewFilteredMetadataInformer(c.cfg.Client, nodesResource, metav1.NamespaceAll, 0,
		cache.Indexers{}, func(o *metav1.ListOptions) { o.LabelSelector = c.selector.String() })
	// The tally and the passes read each node's name and labels only.
	if err := inf.Informer().SetTransform(trim.ManagedFields); err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	counts := newTally()
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		// A node the webhook labelled is already balanced: no pass for it.
		AddFunc: func(o any) {
			if !c.count(counts, o, true) {
				poke()
			}
		},
		// Status heartbeats update every node all the time; only a change of
		// its shard label (someone removed or moved it) needs a pass before
		// the next tick. Nodes entering or leaving the selector arrive as
		// adds and deletes.
		UpdateFunc: func(o, n any) {
			if shardLabelChanged(o, n) {
				c.count(counts, n, true)
				poke()
			}
		},
		DeleteFunc: func(o any) {
			c.count(counts, o, false)
			poke()
		},
	}); err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	go inf.Informer().Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	c.counts.Store(counts)
	defer c.counts.Store(nil)
	nodeShard := func(node string) string {
		o, err := inf.Lister().Get(node)
		if err != nil {
			return ""
		}
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok {
			return ""
		}
		return m.Labels[Label]
	}
	if err := c.watchUnlabelledPods(ctx, nodeShard); err != nil {
		return err
	}
	c.cfg.Log.Info().Str("node_selector", c.selector.String()).Msg("shard controller started")

	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	// A pass lists every node, so it runs only when something may have
	// changed: a node event, a membership change seen on a tick, a failed
	// pass, or Resync since the last complete one.
	var (
		passed     []string // members of the last complete pass
		lastPassed time.Time
		needPass   = true
	)
	for {
		if needPass && !counts.settled(time.Now(), pendingGrace) {
			// Nodes the webhook assigned are still being created: their
			// pass would move nodes that are balanced once they land.
			poke()
		} else if needPass {
			members := c.cfg.Members()
			if err := c.reconcile(ctx, inf.Lister(), members); err != nil {
				if ctx.Err() == nil {
					c.cfg.Log.Warn().Err(err).Msg("shard rebalance incomplete; retrying")
				}
			} else {
				passed, lastPassed, needPass = slices.Clone(members), time.Now(), false
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			// Let a burst of node events settle into one pass.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(c.cfg.Interval / 4):
			}
			needPass = true
		case <-tick.C:
			if !slices.Equal(c.cfg.Members(), passed) || time.Since(lastPassed) >= c.cfg.Resync {
				needPass = true
			}
		}
	}
}

// count feeds a node event to the tally; it reports whether the node
// carries the label of a current member (nothing to do for it).
func (c *Controller) count(t *tally, o any, present bool) bool {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	m, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return false
	}
	label, has := m.Labels[Label]
	t.set(m.Name, label, present && has)
	return has && slices.Contains(c.cfg.Members(), label)
}

func (c *Controller) reconcile(ctx context.Context, lister cache.GenericLister, members []string) error {
	if len(members) == 0 {
		// Without members there is nothing to balance towards; keeping the
		// labels avoids a full relabel when members reappear.
		return nil
	}
	objs, err := lister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	current := make(map[string]string, len(objs))
	for _, o := range objs {
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok {
			continue
		}
		current[m.Name] = m.Labels[Label]
	}
	moves := Assign(current, members)
	counts := make(map[string]int, len(members))
	for n, m := range current {
		if nm, ok := moves[n]; ok {
			m = nm
		}
		counts[m]++
	}
	c.cfg.Metrics.setSizes(members, counts)
	if len(moves) == 0 {
		return nil
	}
	c.cfg.Log.Info().Int("moves", len(moves)).Int("nodes", len(current)).Strs("members", members).Msg("rebalancing shards")
	return c.apply(ctx, moves, current)
}

// apply patches the moved nodes' labels with a bounded number of workers.
// A node that had a member's label before is marked as handed over from
// it, in the same write: its new member adopts its pods (adopt.go). A node
// that had none has no pods a member accounts for.
func (c *Controller) apply(ctx context.Context, moves, before map[string]string) error {
	work := make(chan [2]string)
	var mu sync.Mutex
	var firstErr error
	failed := 0
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for mv := range work {
				if err := c.label(ctx, mv[0], mv[1], before[mv[0]]); err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				c.cfg.Metrics.moves.Inc()
			}
		}()
	}
	for n, m := range moves {
		select {
		case work <- [2]string{n, m}:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%d of %d label patches failed, first: %w", failed, len(moves), firstErr)
	}
	return nil
}

// label gives node member's label; from, when not empty, is the member it
// had, named in the node's handover mark.
func (c *Controller) label(ctx context.Context, node, member, from string) error {
	md := map[string]any{"labels": map[string]string{Label: member}}
	if from != "" {
		md["annotations"] = map[string]string{HandoffAnnotation: from}
	}
	patch, err := json.Marshal(map[string]any{"metadata": md})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Client.Resource(nodesResource).Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label node %s for %s: %w", node, member, err)
	}
	return nil
}

// shardLabelChanged says whether an update changed the node's shard label
// (objects that are not node metadata count as changed).
func shardLabelChanged(old, cur any) bool {
	o, ok1 := old.(*metav1.PartialObjectMetadata)
	n, ok2 := cur.(*metav1.PartialObjectMetadata)
	if !ok1 || !ok2 {
		return true
	}
	ov, oset := o.Labels[Label]
	nv, nset := n.Labels[Label]
	return ov != nv || oset != nset
}
