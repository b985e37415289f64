// Package nodes creates and deletes fake Node objects in bulk, shaped for kwok to
// adopt: each carries kwok's annotation and a kwok-group=<index/perKwokGroup>
// label, so one kwok controller per group keeps its share alive.
package nodes

import (
	"context"
	"fmt"
	"strconv"

	"github.com/k8s1m/k8s1m/makenodes/bulk"
	"github.com/k8s1m/k8s1m/makenodes/kube"
	"github.com/k8s1m/k8s1m/makenodes/progress"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations makenodes puts on every node.
const (
	// GroupLabel names the kwok controller that manages the node.
	GroupLabel = "kwok-group"
	// KwokAnnotation is what kwok's default node selector
	// (--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake) matches.
	KwokAnnotation = "kwok.x-k8s.io/node"
	// TypeLabel marks nodes as simulated for anyone listing them.
	TypeLabel = "type"
)

// reservedLabels are set per node by Build and cannot be given in a shape.
var reservedLabels = []string{GroupLabel, corev1.LabelHostname}

// Config says which nodes a run is about.
type Config struct {
	Prefix       string // node i is named Prefix + i
	Count        int    // nodes [Skip, Count) are created
	Skip         int    // first index; the original's -skip
	PerKwokGroup int    // nodes per kwok controller
	Shape        Shape
}

// DefaultPrefix is the original's node name prefix.
const DefaultPrefix = "kwok-node-"

// Validate checks the config before any API call.
func (c Config) Validate() error {
	switch {
	case c.Count < 0:
		return fmt.Errorf("--count %d: must not be negative", c.Count)
	case c.Skip < 0 || c.Skip > c.Count:
		return fmt.Errorf("--skip %d: must be between 0 and --count (%d)", c.Skip, c.Count)
	case c.PerKwokGroup <= 0:
		return fmt.Errorf("--per-kwok-group %d: must be positive", c.PerKwokGroup)
	}
	if errs := validation.IsDNS1123Subdomain(c.Name(c.Count)); len(errs) > 0 {
		return fmt.Errorf("--prefix %q: node names would be invalid: %v", c.Prefix, errs)
	}
	return nil
}

// Name is node i's name.
func (c Config) Name(i int) string { return c.Prefix + strconv.Itoa(i) }

// Group is the kwok group node i belongs to.
func (c Config) Group(i int) int { return i / c.PerKwokGroup }

// Groups is how many kwok controllers Count nodes need.
func (c Config) Groups() int { return (c.Count + c.PerKwokGroup - 1) / c.PerKwokGroup }

// Build returns node i. Status is set at creation so a scheduler sees capacity
// at once; kwok's node-initialize stage then adds conditions and addresses.
func (c Config) Build(i int) *corev1.Node {
	name := c.Name(i)
	labels := map[string]string{
		corev1.LabelHostname:            name,
		corev1.LabelOSStable:            "linux",
		corev1.LabelArchStable:          "amd64",
		"node-role.kubernetes.io/agent": "",
		TypeLabel:                       "kwok",
	}
	for k, v := range c.Shape.Labels {
		labels[k] = v
	}
	labels[GroupLabel] = strconv.Itoa(c.Group(i))
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    canonical(c.Shape.CPU),
		corev1.ResourceMemory: canonical(c.Shape.Memory),
		corev1.ResourcePods:   canonical(c.Shape.Pods),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: labels,
			Annotations: map[string]string{
				KwokAnnotation: "fake",
				// ttl 0: nothing caches objects for this node's kubelet; there is none.
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{Taints: c.Shape.Taints},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources,
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    "amd64",
				OperatingSystem: "linux",
				KubeletVersion:  "fake",
			},
			Phase: corev1.NodeRunning,
		},
	}
}

// canonical returns q with its canonical string form computed and kept in it,
// so encoding a node does not format the quantity again every time.
func canonical(q resource.Quantity) resource.Quantity {
	_ = q.String()
	return q
}

// Options are the run settings shared by Create and Delete.
type Options struct {
	Bulk     bulk.Config
	Progress *progress.Reporter // nil: silent
	// NoList skips listing existing nodes first; creates then rely on
	// AlreadyExists alone (one wasted request per existing node).
	NoList bool
}

// Create creates nodes [Skip, Count) that do not exist yet.
func Create(ctx context.Context, log zerolog.Logger, clients *kube.Clients, cfg Config, opts Options) (bulk.Result, error) {
	if err := cfg.Validate(); err != nil {
		return bulk.Result{}, err
	}
	if err := clients.Warm(ctx); err != nil {
		return bulk.Result{}, err
	}
	existing := map[string]struct{}{}
	if !opts.NoList {
		var err error
		if existing, err = kube.NamesWithPrefix(ctx, clients.Metadata, kube.Nodes, "", cfg.Prefix); err != nil {
			return bulk.Result{}, err
		}
	}
	var (
		names   []string
		indices []int
	)
	for i := cfg.Skip; i < cfg.Count; i++ {
		if _, ok := existing[cfg.Name(i)]; ok {
			continue
		}
		names = append(names, cfg.Name(i))
		indices = append(indices, i)
	}
	already := cfg.Count - cfg.Skip - len(names)
	log.Info().Int("count", cfg.Count).Int("skip", cfg.Skip).Int("existing", already).Int("to_create", len(names)).
		Int("kwok_groups", cfg.Groups()).Msg("creating nodes")
	b := newBodies(cfg)
	res := bulk.Run(ctx, log, opts.Bulk, names, already, func(ctx context.Context, w, i int) (bulk.Outcome, error) {
		body, err := b.body(indices[i])
		if err != nil {
			return bulk.Changed, err
		}
		err = clients.Create(ctx, w, kube.Nodes, "", body)
		if apierrors.IsAlreadyExists(err) {
			return bulk.Already, nil
		}
		return bulk.Changed, err
	}, opts.Progress)
	return res, res.Err()
}

// Delete deletes every node whose name starts with prefix.
func Delete(ctx context.Context, log zerolog.Logger, clients *kube.Clients, prefix string, opts Options) (bulk.Result, error) {
	if prefix == "" {
		return bulk.Result{}, fmt.Errorf("--prefix is empty: refusing to delete every node")
	}
	if err := clients.Warm(ctx); err != nil {
		return bulk.Result{}, err
	}
	existing, err := kube.NamesWithPrefix(ctx, clients.Metadata, kube.Nodes, "", prefix)
	if err != nil {
		return bulk.Result{}, err
	}
	names := make([]string, 0, len(existing))
	for n := range existing {
		names = append(names, n)
	}
	log.Info().Str("prefix", prefix).Int("to_delete", len(names)).Msg("deleting nodes")
	res := bulk.Run(ctx, log, opts.Bulk, names, 0, func(ctx context.Context, w, i int) (bulk.Outcome, error) {
		err := clients.Delete(ctx, w, kube.Nodes, "", names[i], nil)
		if apierrors.IsNotFound(err) {
			return bulk.Already, nil
		}
		return bulk.Changed, err
	}, opts.Progress)
	return res, res.Err()
}
