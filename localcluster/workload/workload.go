// Package workload creates what a localcluster run schedules: kwok-managed
// Node objects (spread over kwok controllers by the kwok-group label) and
// unscheduled pods, with a pool of concurrent clients, reporting each pod's
// creation time to the caller so scheduling latency can be measured from the
// moment the create request was sent.
package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels and annotations on the objects this package creates.
const (
	// NodeLabel marks nodes created by localcluster (node informers select it).
	NodeLabel = "k8s1m.io/localcluster"
	// KwokGroupLabel assigns a node to one kwok controller, as the original did.
	KwokGroupLabel = "kwok-group"
	// KwokNodeAnnotation is what kwok looks for on nodes it fakes.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// PodLabel marks pods created by localcluster.
	PodLabel = "app.kubernetes.io/created-by"
	// PodLabelValue is PodLabel's value.
	PodLabelValue = "localcluster"
)

// Config sizes the workload.
type Config struct {
	Nodes, Pods int
	// Workers is the number of concurrent create calls.
	Workers int
	// PerKwokGroup nodes share one kwok-group label value (one kwok controller).
	PerKwokGroup int
	// Zones spreads the nodes over that many zones (topology.kubernetes.io/zone
	// by node index, round robin), as a cloud region's nodes are; 0 leaves
	// the zone and region labels off.
	Zones int
	// Spread labels node i with each entry's Key = Values[i mod
	// len(Values)] (for example distscheduler's shard label over its
	// members, so that a node is created with its shard).
	Spread []LabelSpread
	// Namespace holds the pods.
	Namespace string
	// SchedulerName is the pods' spec.schedulerName.
	SchedulerName string
}

// LabelSpread is one label whose values go round the nodes in turn.
type LabelSpread struct {
	Key    string
	Values []string
}

// NodeName and PodName are the generated object names.
func NodeName(i int) string { return fmt.Sprintf("lc-node-%06d", i) }

// PodName is the name of pod i.
func PodName(i int) string { return fmt.Sprintf("lc-pod-%06d", i) }

// KwokGroups returns how many kwok-group values cfg's nodes use.
func (c Config) KwokGroups() int {
	if c.Nodes == 0 || c.PerKwokGroup <= 0 {
		return 1
	}
	return (c.Nodes + c.PerKwokGroup - 1) / c.PerKwokGroup
}

// Region is the topology.kubernetes.io/region of every zoned node.
const Region = "local"

// ZoneName is the name of zone z (0-based).
func ZoneName(z int) string { return fmt.Sprintf("%s-%d", Region, z) }

// Node returns node i of cfg: kwok-managed, roomy enough that capacity never
// limits a run (32 CPUs, 256 GiB, 110 pods, like a large cloud VM), in zone
// i mod cfg.Zones, with cfg.Spread's labels.
func Node(i int, cfg Config) *corev1.Node {
	group := 0
	if cfg.PerKwokGroup > 0 {
		group = i / cfg.PerKwokGroup
	}
	name := NodeName(i)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	labels := map[string]string{
		NodeLabel:              "true",
		KwokGroupLabel:         fmt.Sprint(group),
		"type":                 "kwok",
		corev1.LabelHostname:   name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
	}
	if cfg.Zones > 0 {
		labels[corev1.LabelTopologyRegion] = Region
		labels[corev1.LabelTopologyZone] = ZoneName(i % cfg.Zones)
	}
	for _, sp := range cfg.Spread {
		if len(sp.Values) > 0 {
			labels[sp.Key] = sp.Values[i%len(sp.Values)]
		}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: labels,
			Annotations: map[string]string{
				KwokNodeAnnotation:             "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Phase:       corev1.NodeRunning,
		},
	}
}

// Pod returns pod i of cfg: one small container, no service-account token (no
// controller-manager runs to mint one), unscheduled.
func Pod(i int, cfg Config) *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(i),
			Namespace: cfg.Namespace,
			Labels:    map[string]string{PodLabel: PodLabelValue},
		},
		Spec: corev1.PodSpec{
			SchedulerName:                cfg.SchedulerName,
			AutomountServiceAccountToken: &no,
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("100m"),
					corev1.ResourceMemory: resource.MustParse("128Mi"),
				}},
			}},
		},
	}
}

// PrepareNamespace creates the pods' namespace and its default service account
// (the ServiceAccount admission plugin rejects pods without one, and no
// controller-manager runs to create it).
func PrepareNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/default: %w", ns, err)
	}
	return nil
}

// CreateNodes creates cfg.Nodes nodes. done is called after each success with
// the running count.
func CreateNodes(ctx context.Context, c kubernetes.Interface, cfg Config, done func(n int64)) error {
	return parallel(ctx, cfg.Nodes, cfg.Workers, func(ctx context.Context, i int) error {
		_, err := c.CoreV1().Nodes().Create(ctx, Node(i, cfg), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create node %s: %w", NodeName(i), err)
		}
		return nil
	}, done)
}

// CreatePods creates cfg.Pods pods. sent is called just before each create
// request goes out (the start of that pod's scheduling latency).
func CreatePods(ctx context.Context, c kubernetes.Interface, cfg Config, sent func(name string, at time.Time), done func(n int64)) error {
	return parallel(ctx, cfg.Pods, cfg.Workers, func(ctx context.Context, i int) error {
		pod := Pod(i, cfg)
		sent(pod.Name, time.Now())
		if _, err := c.CoreV1().Pods(cfg.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		return nil
	}, done)
}

// parallel runs fn for 0..n-1 on workers goroutines, retrying each item a few
// times on errors the apiserver marks as transient (throttling, timeouts), and
// stops at the first lasting error.
func parallel(ctx context.Context, n, workers int, fn func(context.Context, int) error, done func(int64)) error {
	if workers <= 0 {
		workers = 1
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, finished atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := retry(ctx, func() error { return fn(ctx, i) }); err != nil {
					cancel(err)
					return
				}
				if k := finished.Add(1); done != nil {
					done(k)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func retry(ctx context.Context, f func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || attempt == 5 || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func transient(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}
