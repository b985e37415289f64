package shard

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
)

// A node's handover from one member to another. A member counts a node's
// pods through its informer of pods carrying its shard label, so a node the
// leader moves to it arrives with pods it cannot see yet: they still carry
// the label of the member that bound them. Placing a pod there before they
// are counted could overcommit the node or break its pods' anti-affinity.
// So the leader marks every move on the node itself (HandoffAnnotation, in
// the same write as the new label), and the member that receives the node
// holds it back from its searches until it has adopted the node's pods:
// given them its label and seen each in its scheduler cache. Then it
// removes the mark. The mark lives on the node, so a member that restarts,
// or one that receives a node whose earlier handover never finished,
// adopts it all the same.

// HandoffAnnotation marks a node the leader moved from one member to
// another, until the new member has adopted the pods bound to it. Its value
// is the member the node came from.
const HandoffAnnotation = "k8s1m.io/dist-scheduler-shard-from"

// AdopterConfig is what a member's Adopter needs.
type AdopterConfig struct {
	// Member is this member's name (its shard label value). Required.
	Member  string
	Metrics *AdoptMetrics // required
	Log     zerolog.Logger
	// Workers is how many nodes are adopted at once (default 8).
	Workers int
	// Settle is how long after a handover the member first lists the
	// node's pods (default 1 s): a Binding the old member decided on just
	// before it saw the node go lands meanwhile, and is adopted with the
	// rest.
	Settle time.Duration
}

// Adopter is a scheduling member's side of node handovers: Observe, in the
// member's node informer, notes each handed-over node before upstream's
// cache can see it; Pending tells the member's searches to pass over it;
// Run adopts the nodes' pods and ends each handover.
type Adopter struct {
	cfg   AdopterConfig
	queue workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// pending holds the nodes not adopted yet, with when each was handed
	// over; count mirrors its size, so Pending (every search asks it for
	// every node) is a load while none is.
	pending map[string]time.Time
	count   atomic.Int64
	// cleared is the resource version at which this member removed a
	// node's mark: events older than it (still marked) are echoes, not a
	// new handover. clearedN mirrors its size.
	cleared  map[string]int64
	clearedN atomic.Int64
}

// NewAdopter validates cfg. Observe and Pending may be used at once; Run
// starts the adoptions.
func NewAdopter(cfg AdopterConfig) (*Adopter, error) {
	if cfg.Member == "" || cfg.Metrics == nil {
		return nil, fmt.Errorf("adopter: Member and Metrics are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	// Retries wait 20 ms, doubling to 2 s: a pod relabelled a moment ago
	// reaches the cache in milliseconds; an API server in trouble is not
	// asked again at once.
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 2*time.Second)
	return &Adopter{
		cfg:     cfg,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: "shard-adopt"}),
		pending: map[string]time.Time{},
		cleared: map[string]int64{},
	}, nil
}

// Observe notes a Node the member's informer is about to store. It must run
// before the node reaches upstream's cache (the informer's transform), so
// that no search sees a handed-over node before Pending names it.
func (a *Adopter) Observe(n *v1.Node) {
	from, marked := n.Annotations[HandoffAnnotation]
	if !marked {
		if a.clearedN.Load() > 0 {
			a.mu.Lock()
			if _, ok := a.cleared[n.Name]; ok {
				delete(a.cleared, n.Name)
				a.clearedN.Add(-1)
			}
			a.mu.Unlock()
		}
		return
	}
	if n.Labels[Label] != a.cfg.Member {
		return
	}
	rv, rvErr := strconv.ParseInt(n.ResourceVersion, 10, 64)
	a.mu.Lock()
	if c, ok := a.cleared[n.Name]; ok && rvErr == nil && rv < c {
		a.mu.Unlock()
		return // still marked only because this event predates the removal
	}
	_, already := a.pending[n.Name]
	if !already {
		a.pending[n.Name] = time.Now()
		a.cfg.Metrics.pending.Set(float64(a.count.Add(1)))
	}
	a.mu.Unlock()
	if !already {
		a.cfg.Log.Debug().Str("node", n.Name).Str("from", from).Msg("node handed over; holding it back until its pods are adopted")
		a.queue.AddAfter(n.Name, a.cfg.Settle)
	}
}

// Metrics are the handover metrics the Adopter counts on (a member's
// Releaser counts on them too).
func (a *Adopter) Metrics() *AdoptMetrics { return a.cfg.Metrics }

// Pending reports whether node is handed over and not adopted yet.
func (a *Adopter) Pending(node string) bool {
	if a.count.Load() == 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.pending[node]
	return ok
}

// done ends node's hold; clearedAt is the resource version of the node
// without its mark (0: unknown).
func (a *Adopter) done(node string, clearedAt int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.pending[node]; ok {
		delete(a.pending, node)
		a.cfg.Metrics.pending.Set(float64(a.count.Add(-1)))
	}
	if clearedAt > 0 {
		if _, ok := a.cleared[node]; !ok {
			a.clearedN.Add(1)
		}
		a.cleared[node] = clearedAt
	}
}

// Run adopts the handed-over nodes until ctx ends. client reads and labels
// pod and node metadata; holds reports whether upstream's scheduler cache
// holds a pod (by UID).
func (a *Adopter) Run(ctx context.Context, client metadata.Interface, holds func(*v1.Pod) bool) {
	runQueue(ctx, a.queue, a.cfg.Workers, func(node string) bool {
		finished, err := a.adopt(ctx, client, holds, node)
		if err != nil && ctx.Err() == nil {
			a.cfg.Log.Warn().Err(err).Str("node", node).Msg("adopting a handed-over node; retrying")
		}
		return finished
	})
}

// runQueue takes q's items with workers goroutines until ctx ends (which
// shuts q down). handle reports whether an item is done; one that is not
// comes back after q's rate limiter's wait.
func runQueue[T comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[T], workers int, handle func(T) bool) {
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				item, quit := q.Get()
				if quit {
					return
				}
				switch {
				case handle(item):
					q.Forget(item)
				case ctx.Err() == nil:
					q.AddRateLimited(item)
				}
				q.Done(item)
			}
		}()
	}
	wg.Wait()
}

// adopt takes one step towards ending node's handover: it reports whether
// the handover is over (or no longer this member's), or why not yet.
func (a *Adopter) adopt(ctx context.Context, client metadata.Interface, holds func(*v1.Pod) bool, node string) (bool, error) {
	nodes := client.Resource(nodesResource)
	n, err := nodes.Get(ctx, node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		a.done(node, 0)
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get node: %w", err)
	case n.Labels[Label] != a.cfg.Member:
		// Moved on again: its new member adopts it.
		a.done(node, 0)
		return true, nil
	}
	if _, marked := n.Annotations[HandoffAnnotation]; !marked {
		a.done(node, rvOf(n.ResourceVersion))
		return true, nil
	}

	pods, err := client.Resource(podsResource).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		// Finished pods take no room, and the member's informer skips them.
		FieldSelector: fmt.Sprintf("spec.nodeName=%s,status.phase!=%s,status.phase!=%s", node, v1.PodSucceeded, v1.PodFailed),
	})
	if err != nil {
		return false, fmt.Errorf("list its pods: %w", err)
	}
	counted := true
	for _, p := range pods.Items {
		if p.Labels[Label] != a.cfg.Member {
			if err := a.relabel(ctx, client, &p); err != nil {
				return false, err
			}
			counted = false // its event is on the way
			continue
		}
		if !holds(&v1.Pod{ObjectMeta: p.ObjectMeta}) {
			counted = false
		}
	}
	if !counted {
		return false, nil
	}
	// Every pod is counted: end the handover, unless the node moved on
	// meanwhile (then the test fails and the next step finds out).
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/labels/" + jsonPointerEscape(Label), "value": a.cfg.Member},
		{"op": "remove", "path": "/metadata/annotations/" + jsonPointerEscape(HandoffAnnotation)},
	})
	if err != nil {
		return false, err
	}
	cleared, err := nodes.Patch(ctx, node, types.JSONPatchType, patch, metav1.PatchOptions{})
	if apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
		return false, nil // the label or the mark changed: look again
	}
	if err != nil {
		return false, fmt.Errorf("remove its handover mark: %w", err)
	}
	a.done(node, rvOf(cleared.ResourceVersion))
	a.cfg.Metrics.adopted.Inc()
	a.cfg.Log.Debug().Str("node", node).Int("pods", len(pods.Items)).Msg("handed-over node adopted")
	return true, nil
}

// relabel gives a pod on an adopted node this member's label, provided it
// still has the label it was listed with (another member adopting the
// same node, moved on meanwhile, must not have it taken back).
func (a *Adopter) relabel(ctx context.Context, client metadata.Interface, p *metav1.PartialObjectMetadata) error {
	written, err := setPodLabel(ctx, client, p.Namespace, p.Name, p.Labels, a.cfg.Member)
	if written {
		a.cfg.Metrics.podLabels.Inc()
	}
	return err
}

// setPodLabel gives a pod the shard label to, provided its shard label is
// still the one in seen (nil or absent: none). A pod gone or changed since
// is not an error (written is false): the caller looks again.
func setPodLabel(ctx context.Context, client metadata.Interface, ns, name string, seen map[string]string, to string) (written bool, err error) {
	// A pod seen with another member's label is relabelled only if it still
	// has it (JSON patch test); one seen without gets the label as the
	// leader's mending gives it (merge patch: its other labels stay).
	kind, patch, err := types.MergePatchType, []byte(nil), error(nil)
	if old, ok := seen[Label]; ok {
		path := "/metadata/labels/" + jsonPointerEscape(Label)
		kind = types.JSONPatchType
		patch, err = json.Marshal([]map[string]any{{"op": "test", "path": path, "value": old}, {"op": "replace", "path": path, "value": to}})
	} else {
		patch, err = json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{Label: to}}})
	}
	if err != nil {
		return false, err
	}
	_, err = client.Resource(podsResource).Namespace(ns).Patch(ctx, name, kind, patch, metav1.PatchOptions{})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsConflict(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("label pod %s/%s for %s: %w", ns, name, to, err)
	}
	return true, nil
}

// jsonPointerEscape escapes a key for a JSON pointer (RFC 6901).
func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// rvOf is a resource version as a number, 0 when it is not one.
func rvOf(rv string) int64 {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
