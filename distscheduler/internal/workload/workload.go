// Package workload builds the nodes and pods the integration tests and
// benchmarks schedule, creates them with many concurrent clients, and checks
// a finished placement against the constraints the pods carry.
package workload

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Labels and taints the generated nodes carry.
const (
	ZoneLabel = "topology.kubernetes.io/zone"
	DiskLabel = "k8s1m.io/disk"
	GPULabel  = "k8s1m.io/gpu"
	GPUTaint  = "k8s1m.io/dedicated"
	AppLabel  = "app"
)

// Node returns node i: 4 CPUs, 16Gi, 110 pods; zone z0..z3; every 5th has an
// ssd label; every 50th is a tainted gpu node.
func Node(i int) *v1.Node {
	name := fmt.Sprintf("node-%06d", i)
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name,
			ZoneLabel:                fmt.Sprintf("z%d", i%4),
		}},
		Status: v1.NodeStatus{
			Capacity:    capacity("4", "16Gi", "110"),
			Allocatable: capacity("4", "16Gi", "110"),
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	if i%5 == 0 {
		n.Labels[DiskLabel] = "ssd"
	}
	if i%50 == 0 {
		n.Labels[GPULabel] = "true"
		n.Spec.Taints = []v1.Taint{{Key: GPUTaint, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}
	}
	return n
}

// BigNode is a node large enough for Unfittable pods.
func BigNode(name string) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, ZoneLabel: "z0"}},
		Status: v1.NodeStatus{
			Capacity:    capacity("256", "1Ti", "110"),
			Allocatable: capacity("256", "1Ti", "110"),
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
}

func capacity(cpu, mem, pods string) v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(cpu),
		v1.ResourceMemory: resource.MustParse(mem),
		v1.ResourcePods:   resource.MustParse(pods),
	}
}

// Kinds of generated pods, cycled by index.
const (
	KindPlain = iota
	KindSSD
	KindGPU
	KindZoneAffinity
	KindSpread
	KindAntiAffinity
	numKinds
)

// Pod returns pod i of the mixed workload for schedulerName. plainOnly
// gives every pod the plain shape (resource requests only).
func Pod(ns string, i int, schedulerName string, plainOnly bool) *v1.Pod {
	kind := i % numKinds
	if plainOnly {
		kind = KindPlain
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("pod-%06d", i), Labels: map[string]string{}},
		Spec: v1.PodSpec{
			SchedulerName:                 schedulerName,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []v1.Container{{
				Name:  "c",
				Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
					v1.ResourceCPU:    resource.MustParse("200m"),
					v1.ResourceMemory: resource.MustParse("256Mi"),
				}},
			}},
		},
	}
	req := p.Spec.Containers[0].Resources.Requests
	switch kind {
	case KindSSD:
		p.Spec.NodeSelector = map[string]string{DiskLabel: "ssd"}
		req[v1.ResourceCPU] = resource.MustParse("300m")
	case KindGPU:
		p.Spec.NodeSelector = map[string]string{GPULabel: "true"}
		p.Spec.Tolerations = []v1.Toleration{{Key: GPUTaint, Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}
		req[v1.ResourceCPU] = resource.MustParse("500m")
	case KindZoneAffinity:
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: ZoneLabel, Operator: v1.NodeSelectorOpIn, Values: []string{"z1", "z2"}}},
			}}},
		}}
		req[v1.ResourceCPU] = resource.MustParse("250m")
	case KindSpread:
		p.Labels[AppLabel] = "spread"
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{AppLabel: "spread"}},
		}}
		req[v1.ResourceCPU] = resource.MustParse("100m")
	case KindAntiAffinity:
		p.Labels[AppLabel] = "anti"
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				TopologyKey:   "kubernetes.io/hostname",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{AppLabel: "anti"}},
			}},
		}}
		req[v1.ResourceCPU] = resource.MustParse("100m")
	}
	return p
}

// Unfittable returns a pod no generated node can hold (64 CPUs).
func Unfittable(ns, name, schedulerName string) *v1.Pod {
	p := Pod(ns, 0, schedulerName, true)
	p.Name = name
	p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("64")
	return p
}

// Parallel runs fn(i) for i in [0,n) on workers goroutines and returns the
// first error.
func Parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case idx <- i:
		case <-ctx.Done():
			i = n
		}
	}
	close(idx)
	wg.Wait()
	return first
}

// CreateNodes creates nodes [from, to) with the given workers.
func CreateNodes(ctx context.Context, cs kubernetes.Interface, from, to, workers int) error {
	return Parallel(ctx, to-from, workers, func(ctx context.Context, i int) error {
		if _, err := cs.CoreV1().Nodes().Create(ctx, Node(from+i), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %d: %w", from+i, err)
		}
		return nil
	})
}

// Problem is one violated constraint in a placement.
type Problem struct{ Pod, Node, What string }

func (p Problem) String() string { return p.Pod + " on " + p.Node + ": " + p.What }

// Check verifies that every bound pod sits on a node its constraints accept
// (node selector, required node affinity, taints, resources, hostname
// anti-affinity and hostname spread among the pods given) and returns the
// problems found. Unbound pods are not problems; callers count them.
func Check(pods []v1.Pod, nodes []v1.Node) []Problem {
	byName := make(map[string]*v1.Node, len(nodes))
	for i := range nodes {
		byName[nodes[i].Name] = &nodes[i]
	}
	var out []Problem
	used := map[string]v1.ResourceList{}
	apps := map[string]map[string]int{} // app -> node -> count
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" {
			continue
		}
		key := p.Namespace + "/" + p.Name
		n, ok := byName[p.Spec.NodeName]
		if !ok {
			out = append(out, Problem{key, p.Spec.NodeName, "node does not exist"})
			continue
		}
		if !labels.SelectorFromSet(p.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
			out = append(out, Problem{key, n.Name, "nodeSelector does not match"})
		}
		if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			if !matchesRequired(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, n) {
				out = append(out, Problem{key, n.Name, "required node affinity does not match"})
			}
		}
		for _, taint := range n.Spec.Taints {
			if taint.Effect == v1.TaintEffectPreferNoSchedule {
				continue
			}
			tolerated := false
			for _, tol := range p.Spec.Tolerations {
				if tol.ToleratesTaint(klog.Background(), &taint, false) {
					tolerated = true
				}
			}
			if !tolerated {
				out = append(out, Problem{key, n.Name, "untolerated taint " + taint.Key})
			}
		}
		u := used[n.Name]
		if u == nil {
			u = v1.ResourceList{}
			used[n.Name] = u
		}
		for r, q := range p.Spec.Containers[0].Resources.Requests {
			sum := u[r]
			sum.Add(q)
			u[r] = sum
		}
		if app := p.Labels[AppLabel]; app != "" {
			if apps[app] == nil {
				apps[app] = map[string]int{}
			}
			apps[app][n.Name]++
		}
	}
	for node, u := range used {
		alloc := byName[node].Status.Allocatable
		for r, q := range u {
			if a, ok := alloc[r]; ok && q.Cmp(a) > 0 {
				out = append(out, Problem{"*", node, fmt.Sprintf("%s requested %s > allocatable %s", r, q.String(), a.String())})
			}
		}
	}
	for _, app := range []string{"anti", "spread"} {
		for node, count := range apps[app] {
			if count > 1 {
				out = append(out, Problem{"app=" + app, node, fmt.Sprintf("%d pods on one host", count)})
			}
		}
	}
	return out
}

func matchesRequired(sel *v1.NodeSelector, n *v1.Node) bool {
	for _, term := range sel.NodeSelectorTerms {
		ok := true
		for _, e := range term.MatchExpressions {
			v, has := n.Labels[e.Key]
			switch e.Operator {
			case v1.NodeSelectorOpIn:
				ok = ok && has && contains(e.Values, v)
			case v1.NodeSelectorOpNotIn:
				ok = ok && !(has && contains(e.Values, v))
			case v1.NodeSelectorOpExists:
				ok = ok && has
			case v1.NodeSelectorOpDoesNotExist:
				ok = ok && !has
			default:
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// Spread summarises how evenly bound pods' CPU requests are spread over the
// nodes (every node counts, empty ones too).
type Spread struct {
	Nodes, Pods         int
	MeanCPU, StddevCPU  float64 // requested CPU per node, cores
	MaxCPU              float64
	MaxPods, EmptyNodes int
	P50Pods, P99Pods    int
}

// Measure computes the spread of pods over nodes.
func Measure(pods []v1.Pod, nodes []v1.Node) Spread {
	cpu := make(map[string]float64, len(nodes))
	count := make(map[string]int, len(nodes))
	s := Spread{Nodes: len(nodes)}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" {
			continue
		}
		s.Pods++
		q := p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU]
		cpu[p.Spec.NodeName] += float64(q.MilliValue()) / 1000
		count[p.Spec.NodeName]++
	}
	counts := make([]int, 0, len(nodes))
	var sum, sq float64
	for i := range nodes {
		c := cpu[nodes[i].Name]
		sum += c
		sq += c * c
		s.MaxCPU = math.Max(s.MaxCPU, c)
		n := count[nodes[i].Name]
		counts = append(counts, n)
		if n == 0 {
			s.EmptyNodes++
		}
		if n > s.MaxPods {
			s.MaxPods = n
		}
	}
	if len(nodes) > 0 {
		s.MeanCPU = sum / float64(len(nodes))
		s.StddevCPU = math.Sqrt(math.Max(0, sq/float64(len(nodes))-s.MeanCPU*s.MeanCPU))
		sort.Ints(counts)
		s.P50Pods = counts[len(counts)/2]
		s.P99Pods = counts[len(counts)*99/100]
	}
	return s
}
