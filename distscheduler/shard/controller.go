package shard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
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
}

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

// Run watches node metadata and rebalances until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	inf := metadatainformer.NewFilteredMetadataInformer(c.cfg.Client, nodesResource, metav1.NamespaceAll, 0,
		cache.Indexers{}, func(o *metav1.ListOptions) { o.LabelSelector = c.selector.String() })
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke,
		// Status heartbeats update every node all the time; only a change of
		// its shard label (someone removed or moved it) needs a pass before
		// the next tick. Nodes entering or leaving the selector arrive as
		// adds and deletes.
		UpdateFunc: func(o, n any) {
			if shardLabelChanged(o, n) {
				poke(n)
			}
		},
		DeleteFunc: poke,
	}); err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	go inf.Informer().Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
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
		if needPass {
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
	return c.apply(ctx, moves)
}

// apply patches the moved nodes' labels with a bounded number of workers.
func (c *Controller) apply(ctx context.Context, moves map[string]string) error {
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
				if err := c.label(ctx, mv[0], mv[1]); err != nil {
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

func (c *Controller) label(ctx context.Context, node, member string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{Label: member}}})
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
