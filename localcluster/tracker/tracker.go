// Package tracker watches a run's pods and nodes through informers and keeps
// what the report needs: when each pod's create request was sent (told by the
// workload), when the watch first saw it bound and to which node, any pod whose
// node changed after binding (a double bind), and how many nodes are Ready.
package tracker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Tracker is safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex           // guards everything below
	sent    map[string]time.Time // pod -> create request sent
	bound   map[string]binding   // pod -> first binding seen
	rebinds []string             // "pod: nodeA -> nodeB"
	ready   map[string]bool      // node -> Ready condition true
}

type binding struct {
	node string
	at   time.Time
}

// New returns an empty tracker; Start feeds it.
func New() *Tracker {
	return &Tracker{
		sent:  map[string]time.Time{},
		bound: map[string]binding{},
		ready: map[string]bool{},
	}
}

// Start runs pod (namespace ns, label selector podSelector) and node (label
// selector nodeSelector) informers until ctx ends, and waits for their first
// list.
func (t *Tracker) Start(ctx context.Context, c kubernetes.Interface, ns, podSelector, nodeSelector string) error {
	pods := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = podSelector }))
	nodes := informers.NewSharedInformerFactoryWithOptions(c, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = nodeSelector }))
	if _, err := pods.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observePod(obj) },
		UpdateFunc: func(_, obj any) { t.observePod(obj) },
	}); err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	if _, err := nodes.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observeNode(obj) },
		UpdateFunc: func(_, obj any) { t.observeNode(obj) },
		DeleteFunc: func(obj any) { t.forgetNode(obj) },
	}); err != nil {
		return fmt.Errorf("node informer: %w", err)
	}
	pods.Start(ctx.Done())
	nodes.Start(ctx.Done())
	for typ, ok := range pods.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("%v informer did not sync", typ)
		}
	}
	for typ, ok := range nodes.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("%v informer did not sync", typ)
		}
	}
	return nil
}

// Sent records that pod's create request was sent at at.
func (t *Tracker) Sent(pod string, at time.Time) {
	t.mu.Lock()
	t.sent[pod] = at
	t.mu.Unlock()
}

func (t *Tracker) observePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b, seen := t.bound[pod.Name]
	switch {
	case !seen:
		t.bound[pod.Name] = binding{node: pod.Spec.NodeName, at: now}
	case b.node != pod.Spec.NodeName:
		t.rebinds = append(t.rebinds, fmt.Sprintf("%s: %s -> %s", pod.Name, b.node, pod.Spec.NodeName))
	}
}

func (t *Tracker) observeNode(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	t.mu.Lock()
	t.ready[node.Name] = ready
	t.mu.Unlock()
}

func (t *Tracker) forgetNode(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		t.mu.Lock()
		delete(t.ready, node.Name)
		t.mu.Unlock()
	}
}

// Counts is a snapshot for progress lines.
type Counts struct {
	NodesReady, PodsSent, PodsBound int
}

// Counts returns the current counts.
func (t *Tracker) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	ready := 0
	for _, r := range t.ready {
		if r {
			ready++
		}
	}
	return Counts{NodesReady: ready, PodsSent: len(t.sent), PodsBound: len(t.bound)}
}

// Result is the final view of the pods.
type Result struct {
	// Latencies are bound-seen minus create-sent, one per bound pod this run sent.
	Latencies []time.Duration
	// BoundAt are the times bindings were seen, sorted.
	BoundAt []time.Time
	// FirstSent is when the first create request went out.
	FirstSent time.Time
	// PerNode counts pods per node.
	PerNode map[string]int
	// Rebinds lists pods whose node changed after binding (must be empty).
	Rebinds []string
	// Unbound lists sent pods never seen bound (sorted).
	Unbound []string
}

// Result returns the final view.
func (t *Tracker) Result() Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Result{PerNode: map[string]int{}, Rebinds: slices.Clone(t.rebinds)}
	for pod, at := range t.sent {
		if r.FirstSent.IsZero() || at.Before(r.FirstSent) {
			r.FirstSent = at
		}
		b, ok := t.bound[pod]
		if !ok {
			r.Unbound = append(r.Unbound, pod)
			continue
		}
		r.Latencies = append(r.Latencies, max(b.at.Sub(at), 0))
	}
	for _, b := range t.bound {
		r.BoundAt = append(r.BoundAt, b.at)
		r.PerNode[b.node]++
	}
	slices.Sort(r.Unbound)
	slices.SortFunc(r.BoundAt, func(a, b time.Time) int { return a.Compare(b) })
	slices.Sort(r.Latencies)
	return r
}
