package durability

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// kubeLoad drives a kube-apiserver with the writes a cluster of `nodes`
// kubelets, a scheduler and the apiserver's event recorder make, in
// Kubernetes' proportions, at a fixed rate (TestMeasureKube).
//
// Per node, a real cluster writes: a Lease renewal every 10 s (the kubelet's
// renew interval, a quarter of its 40 s lease), a node status patch about
// once a minute (every 5 min when nothing changes, more often with pod
// churn), and per pod started and stopped five pod writes (create, bind,
// status, graceful delete, final delete) and about five events. With one pod
// started per node every 10 minutes that is 75% Lease renewals, 12.5% node
// status, 6.25% pod writes and 6.25% events: kubeMix below, in 16 slots.
type kubeLoad struct {
	cs    kubernetes.Interface
	nodes int
	ns    string

	leases                                  []atomic.Pointer[coordinationv1.Lease] // last written, per node
	nextLease, nextNode, nextPod, nextEvent atomic.Int64
	lanes                                   []podLane

	mu   sync.Mutex
	lat  []time.Duration
	errs map[string]int
	ok   atomic.Int64
}

type kubeOp int

const (
	opLease kubeOp = iota
	opNodeStatus
	opPod
	opEvent
)

// kubeMix is one cycle of the write mix: 12 Lease renewals, 2 node status
// patches, 1 pod write, 1 event, spread so no kind comes in bursts.
var kubeMix = []kubeOp{opLease, opLease, opNodeStatus, opLease, opLease, opLease, opPod, opLease,
	opLease, opLease, opNodeStatus, opLease, opLease, opLease, opEvent, opLease}

// podLane walks one pod at a time through its life: create, bind, status,
// graceful delete, final delete, then the next pod. A lane whose write is in
// flight is skipped, so a pod's writes are never reordered.
type podLane struct {
	busy atomic.Bool
	step int
	gen  int
	uid  types.UID
}

const podSteps = 5

func nodeName(i int) string { return fmt.Sprintf("node-%06d", i) }

func newKubeLoad(cs kubernetes.Interface, nodes, lanes int) *kubeLoad {
	return &kubeLoad{cs: cs, nodes: nodes, ns: "load", leases: make([]atomic.Pointer[coordinationv1.Lease], nodes),
		lanes: make([]podLane, lanes), errs: map[string]int{}}
}

// setup creates what the measured writes modify: the namespace (and the
// service account pod admission looks for), every Node and every node Lease,
// with `workers` concurrent requests. Not measured.
func (l *kubeLoad) setup(ctx context.Context, workers int) error {
	if _, err := l.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: l.ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	if _, err := l.cs.CoreV1().ServiceAccounts(l.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: l.ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	var next atomic.Int64
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < l.nodes; i = int(next.Add(1) - 1) {
				if _, err := l.cs.CoreV1().Nodes().Create(ctx, node(i), metav1.CreateOptions{}); err != nil {
					errc <- fmt.Errorf("node %d: %w", i, err)
					return
				}
				lease, err := l.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
					ObjectMeta: metav1.ObjectMeta{Name: nodeName(i), Namespace: corev1.NamespaceNodeLease},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(nodeName(i)), LeaseDurationSeconds: ptr.To[int32](40),
						RenewTime: &metav1.MicroTime{Time: time.Now()}},
				}, metav1.CreateOptions{})
				if err != nil {
					errc <- fmt.Errorf("lease %d: %w", i, err)
					return
				}
				l.leases[i].Store(lease)
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// node is what a kubelet registers: a large VM's capacity, addresses and
// the usual conditions, so the objects are the size real ones are.
func node(i int) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("500Gi"),
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: "kubelet reports " + reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName(i), Labels: map[string]string{
			"kubernetes.io/hostname": nodeName(i), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3), "node.kubernetes.io/instance-type": "n2-standard-32"}},
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.%d.%d.0/24", 64+i/65536%64, i/256%256), ProviderID: "kwok://" + nodeName(i)},
		Status: corev1.NodeStatus{
			Capacity: res, Allocatable: res,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)},
				{Type: corev1.NodeHostName, Address: nodeName(i)}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64",
				ContainerRuntimeVersion: "containerd://2.1.0", KernelVersion: "6.12.0", OSImage: "Debian GNU/Linux 13"},
		},
	}
}

// run issues writes at rate per second for d through a bounded queue and
// workers; a slot whose queue is full is counted late, not sent (the rate is
// chosen so none are). record decides whether latencies and counts are kept
// (warm-up: not).
func (l *kubeLoad) run(ctx context.Context, rate float64, d time.Duration, workers int, record bool) (sent, late int) {
	queue := make(chan kubeOp, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for op := range queue {
				l.do(ctx, op, record)
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for k := 0; ; k++ {
		at := start.Add(time.Duration(k) * interval)
		if at.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Until(at))
		select {
		case queue <- kubeMix[k%len(kubeMix)]:
			sent++
		default:
			late++
		}
	}
	close(queue)
	wg.Wait()
	return sent, late
}

func (l *kubeLoad) do(ctx context.Context, op kubeOp, record bool) {
	t0 := time.Now()
	var err error
	var what string
	switch op {
	case opLease:
		what, err = "lease", l.renewLease(ctx, int(l.nextLease.Add(1)-1)%l.nodes)
	case opNodeStatus:
		what, err = "node status", l.patchNodeStatus(ctx, int(l.nextNode.Add(1)-1)%l.nodes)
	case opPod:
		what, err = l.podWrite(ctx)
	case opEvent:
		what, err = "event", l.createEvent(ctx, int(l.nextEvent.Add(1)-1))
	}
	if !record {
		return
	}
	el := time.Since(t0)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs[fmt.Sprintf("%s: %v", what, err)]++
		return
	}
	l.lat = append(l.lat, el)
	l.ok.Add(1)
}

// renewLease is the kubelet's renewal: an update of the Lease it last wrote
// with a new renewTime; on a conflict it reads the Lease and retries once.
func (l *kubeLoad) renewLease(ctx context.Context, i int) error {
	leases := l.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	cur := l.leases[i].Load()
	for attempt := 0; ; attempt++ {
		next := cur.DeepCopy()
		next.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		out, err := leases.Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			l.leases[i].Store(out)
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
		if cur, err = leases.Get(ctx, nodeName(i), metav1.GetOptions{}); err != nil {
			return err
		}
	}
}

// patchNodeStatus is the kubelet's status report: a strategic merge patch of
// the Ready condition's heartbeat.
func (l *kubeLoad) patchNodeStatus(ctx context.Context, i int) error {
	now := time.Now().UTC().Format(time.RFC3339)
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":%q}]}}`, now)
	_, err := l.cs.CoreV1().Nodes().Patch(ctx, nodeName(i), types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	return err
}

// podWrite advances the first idle lane by one step.
func (l *kubeLoad) podWrite(ctx context.Context) (string, error) {
	start := int(l.nextPod.Add(1) - 1)
	for j := range l.lanes {
		lane := &l.lanes[(start+j)%len(l.lanes)]
		if !lane.busy.CompareAndSwap(false, true) {
			continue
		}
		defer lane.busy.Store(false)
		return l.podStep(ctx, (start+j)%len(l.lanes), lane)
	}
	return "pod", fmt.Errorf("every pod lane busy")
}

func (l *kubeLoad) podStep(ctx context.Context, laneID int, lane *podLane) (string, error) {
	pods := l.cs.CoreV1().Pods(l.ns)
	name := fmt.Sprintf("pod-%03d-%06d", laneID, lane.gen)
	nodeIdx := (laneID*7919 + lane.gen) % l.nodes
	var err error
	var what string
	switch lane.step {
	case 0:
		what = "pod create"
		var p *corev1.Pod
		if p, err = pods.Create(ctx, pod(l.ns, name), metav1.CreateOptions{}); err == nil {
			lane.uid = p.UID
		}
	case 1:
		what = "pod bind"
		err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.ns, UID: lane.uid},
			Target: corev1.ObjectReference{Kind: "Node", Name: nodeName(nodeIdx)}}, metav1.CreateOptions{})
	case 2:
		what = "pod status"
		now := time.Now().UTC().Format(time.RFC3339)
		patch := fmt.Sprintf(`{"status":{"phase":"Running","podIP":"10.244.%d.%d","startTime":%q,`+
			`"conditions":[{"type":"Ready","status":"True","lastTransitionTime":%q},{"type":"ContainersReady","status":"True","lastTransitionTime":%q}],`+
			`"containerStatuses":[{"name":"app","ready":true,"restartCount":0,"image":"registry.k8s.io/pause:3.10","imageID":"","started":true,"state":{"running":{"startedAt":%q}}}]}}`,
			laneID%256, lane.gen%256, now, now, now, now)
		_, err = pods.Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	case 3:
		what = "pod delete (graceful)"
		err = pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](30)})
	case 4:
		what = "pod delete (final)"
		err = pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &lane.uid}})
	}
	if err != nil {
		return what, err
	}
	lane.step++
	if lane.step == podSteps {
		lane.step, lane.gen = 0, lane.gen+1
	}
	return what, nil
}

func pod(ns, name string) *corev1.Pod {
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "load", "tier": "backend"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: req, Limits: req},
				Env:       []corev1.EnvVar{{Name: "MODE", Value: "load"}}}},
		},
	}
}

// createEvent is what an event recorder writes; the apiserver attaches an
// --event-ttl lease to it (one lease reused for a minute of events).
func (l *kubeLoad) createEvent(ctx context.Context, n int) error {
	node := nodeName(n % l.nodes)
	now := metav1.Now()
	// A node's events live in "default": a cluster-scoped object has no
	// namespace of its own.
	_, err := l.cs.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", node, n), Namespace: metav1.NamespaceDefault},
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node, UID: types.UID(node)},
		Reason:         "NodeHasSufficientMemory", Message: "Node " + node + " status is now: NodeHasSufficientMemory",
		Source: corev1.EventSource{Component: "kubelet", Host: node}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
		Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{})
	return err
}

// result takes the recorded latencies and errors.
func (l *kubeLoad) result() (ok int, lat []time.Duration, errs map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat = slices.Clone(l.lat)
	slices.Sort(lat)
	return int(l.ok.Load()), lat, l.errs
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
