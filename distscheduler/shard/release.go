package shard

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
)

// The other end of a handover. A member checks that a node is still its
// own just before it posts a Binding, but a Binding under way when the
// leader moves the node can land after the new member has adopted the
// node's pods: the pod then carries the old member's label on a node the
// new member owns, and the new member never counts it. The old member
// still sees that pod (its label selects it), so it hands it on: a pod
// of its own bound to a node it no longer holds gets the label of the
// node's member.

// ReleaserConfig is what a member's Releaser needs.
type ReleaserConfig struct {
	// Member is this member's name (its shard label value). Required.
	Member string
	// Owns reports whether a node is in this member's shard (its node
	// informer). Required.
	Owns    func(node string) bool
	Metrics *AdoptMetrics // required
	Log     zerolog.Logger
	// Delay is how long a pod on a node this member does not hold waits
	// before it is handed on (default 2 s): the new member's adoption,
	// which starts 1 s after the move, relabels most of them first, and a
	// node the member's informer has not delivered yet gets its time.
	Delay time.Duration
}

// podOnNode names a pod and the node it is bound to.
type podOnNode struct{ Namespace, Name, Node string }

// Releaser hands on the pods a member bound to nodes it no longer holds.
type Releaser struct {
	cfg   ReleaserConfig
	queue workqueue.TypedRateLimitingInterface[podOnNode]
}

// NewReleaser validates cfg.
func NewReleaser(cfg ReleaserConfig) (*Releaser, error) {
	if cfg.Member == "" || cfg.Owns == nil || cfg.Metrics == nil {
		return nil, fmt.Errorf("releaser: Member, Owns and Metrics are required")
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 2 * time.Second
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[podOnNode](100*time.Millisecond, 10*time.Second)
	return &Releaser{
		cfg:   cfg,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[podOnNode]{Name: "shard-release"}),
	}, nil
}

// Observe takes a pod from the member's pod informer (pods with its label).
// Finished pods take no room and are left alone.
func (r *Releaser) Observe(p *v1.Pod) {
	if p.Spec.NodeName == "" || p.Labels[Label] != r.cfg.Member || r.cfg.Owns(p.Spec.NodeName) ||
		p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		return
	}
	r.queue.AddAfter(podOnNode{p.Namespace, p.Name, p.Spec.NodeName}, r.cfg.Delay)
}

// Run hands pods on until ctx ends.
func (r *Releaser) Run(ctx context.Context, client metadata.Interface) {
	runQueue(ctx, r.queue, 2, func(ref podOnNode) bool {
		err := r.release(ctx, client, ref)
		if err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn().Err(err).Str("pod", ref.Namespace+"/"+ref.Name).Str("node", ref.Node).Msg("handing on a pod bound to a node this member lost; retrying")
		}
		return err == nil
	})
}

// release hands ref's pod to its node's member, if it still needs it.
func (r *Releaser) release(ctx context.Context, client metadata.Interface, ref podOnNode) error {
	if r.cfg.Owns(ref.Node) {
		return nil // the node came back, or the informer had not seen it yet
	}
	p, err := client.Resource(podsResource).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get pod: %w", err)
	case p.Labels[Label] != r.cfg.Member:
		return nil // adopted already
	}
	n, err := client.Resource(nodesResource).Get(ctx, ref.Node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil // the node is gone; so will the pod be
	case err != nil:
		return fmt.Errorf("get node: %w", err)
	}
	to := n.Labels[Label]
	if to == "" || to == r.cfg.Member {
		// Unsharded, or ours after all and the informer is behind: the
		// leader's next move, or this member, accounts for it.
		return nil
	}
	written, err := setPodLabel(ctx, client, ref.Namespace, ref.Name, p.Labels, to)
	if written {
		r.cfg.Metrics.released.Inc()
		r.cfg.Log.Info().Str("pod", ref.Namespace+"/"+ref.Name).Str("node", ref.Node).Str("to", to).Msg("pod bound to a node this member had lost, handed to the node's member")
	}
	return err
}
