// Package distpermit is the DistPermit scheduler plugin: the Permit step that
// lets only the gather winner bind a pod. distscheduler's node selection
// records in the pod's CycleState either a won gather or a Pending verdict
// for the node it bid. Permit lets a won pod through, parks a pending one as
// an upstream waiting pod until its verdict arrives (allowed on a win,
// rejected otherwise, so upstream unreserves it), and rejects any pod with
// neither record (a cycle that did not go through the tree, or a verdict for
// another node).
//
// DistPermit is also a PreEnqueue plugin: with a root-driven tree a pending
// pod enters the member's active queue only once its tree item has arrived
// (see Gate). The app enables it at PreEnqueue in every profile that enables
// it at Permit.
package distpermit

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// Name is the plugin's name in a KubeSchedulerConfiguration.
const Name = "DistPermit"

// stateKey is where node selection records the won gather.
const stateKey fwk.StateKey = "k8s1m.io/" + Name

// Args are DistPermit's plugin arguments (pluginConfig args in the profile).
type Args struct {
	// AlwaysDeny rejects every pod; for testing the failure path only.
	AlwaysDeny bool `json:"alwaysDeny,omitempty"`
}

// DistPermit lets only pods whose gather this member won proceed to bind.
type DistPermit struct {
	alwaysDeny bool
	handle     fwk.Handle // finds the waiting pods a verdict releases
	gate       *Gate
}

var (
	_ fwk.PermitPlugin      = &DistPermit{}
	_ fwk.PreEnqueuePlugin  = &DistPermit{}
	_ fwk.EnqueueExtensions = &DistPermit{}
	// New must fit upstream's factory-with-features shape.
	_ frameworkruntime.PluginFactoryWithFts[*DistPermit] = New
)

// New builds the plugin from its profile args (nil or runtime.Unknown).
func New(_ context.Context, obj runtime.Object, h fwk.Handle, _ plfeature.Features) (*DistPermit, error) {
	var args Args
	if err := frameworkruntime.DecodeInto(obj, &args); err != nil {
		return nil, fmt.Errorf("decode %s args: %w", Name, err)
	}
	return &DistPermit{alwaysDeny: args.AlwaysDeny, handle: h}, nil
}

// Factory returns the plugin factory to register with the scheduler.
// alwaysDeny (--permit-always-deny) overrides the profile's args; gate (may
// be nil) is consulted at PreEnqueue.
func Factory(fts plfeature.Features, alwaysDeny bool, gate *Gate) frameworkruntime.PluginFactory {
	return func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		p, err := New(ctx, obj, h, fts)
		if err != nil {
			return nil, err
		}
		p.alwaysDeny = p.alwaysDeny || alwaysDeny
		p.gate = gate
		return p, nil
	}
}

// PreEnqueue implements fwk.PreEnqueuePlugin: a pod waits outside the active
// queue until the gate admits it (its tree item has arrived).
func (p *DistPermit) PreEnqueue(_ context.Context, pod *v1.Pod) *fwk.Status {
	if p.gate.Allows(pod) {
		return nil
	}
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "waiting for the pod's distscheduler tree item")
}

// EventsToRegister implements fwk.EnqueueExtensions. No cluster event makes
// a gated pod's item arrive: the app activates the pod when it does. A pod
// DistPermit rejected was either lost to another member (dropped, not
// requeued) or failed its gather (requeued through the error path).
func (p *DistPermit) EventsToRegister(context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{}, nil
}

// Name implements fwk.Plugin.
func (p *DistPermit) Name() string { return Name }

// Permit implements fwk.PermitPlugin.
func (p *DistPermit) Permit(_ context.Context, state fwk.CycleState, pod *v1.Pod, nodeName string) (*fwk.Status, time.Duration) {
	if p.alwaysDeny {
		return fwk.NewStatus(fwk.Unschedulable, "DistPermit denies every pod (--permit-always-deny)"), 0
	}
	if pend, ok := PendingOf(state); ok {
		return p.permitPending(pod, nodeName, pend)
	}
	won, ok := WonNode(state)
	if !ok {
		return fwk.NewStatus(fwk.Unschedulable, "pod did not win a distscheduler gather on this member"), 0
	}
	if won != nodeName {
		return fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("gather was won for node %q, not %q", won, nodeName)), 0
	}
	return nil, 0
}

// permitPending answers at once when the verdict is already known, and
// otherwise parks the pod until it is.
func (p *DistPermit) permitPending(pod *v1.Pod, nodeName string, pend *Pending) (*fwk.Status, time.Duration) {
	if pend.Node() != nodeName {
		return fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("gather was bid for node %q, not %q", pend.Node(), nodeName)), 0
	}
	select {
	case <-pend.Done():
		return verdictStatus(pend), 0
	default:
	}
	if p.handle == nil {
		return fwk.NewStatus(fwk.Error, "DistPermit has no framework handle to park the pod"), 0
	}
	go p.release(pod.UID, pend)
	return fwk.NewStatus(fwk.Wait), pend.timeout
}

func verdictStatus(pend *Pending) *fwk.Status {
	if won, reason := pend.Result(); !won {
		return fwk.NewStatus(fwk.Unschedulable, reason)
	}
	return nil
}

// registerWait bounds how long release looks for the waiting pod. The
// framework registers it right after Permit returns; a pod missing for
// longer was already released (the framework's timeout, or upstream
// rejecting it because the pod was bound or deleted meanwhile).
const registerWait = time.Second

// release waits for the verdict and allows or rejects the waiting pod.
func (p *DistPermit) release(uid types.UID, pend *Pending) {
	<-pend.Done()
	var wp fwk.WaitingPod
	for pause, waited := 50*time.Microsecond, time.Duration(0); ; pause *= 2 {
		if wp = p.handle.GetWaitingPod(uid); wp != nil {
			break
		}
		if waited > registerWait {
			return
		}
		time.Sleep(pause)
		waited += pause
	}
	if won, reason := pend.Result(); won {
		wp.Allow(Name)
	} else {
		wp.Reject(Name, reason)
	}
}

// won is the CycleState record of a won gather.
type won struct{ node string }

func (w *won) Clone() fwk.StateData { return w }

// RecordWin marks in the cycle state that this member won the pod for node.
func RecordWin(state fwk.CycleState, node string) {
	state.Write(stateKey, &won{node: node})
}

// WonNode returns the node this member won the pod for, if it did.
func WonNode(state fwk.CycleState) (string, bool) {
	d, err := state.Read(stateKey)
	if err != nil {
		return "", false
	}
	w, ok := d.(*won)
	if !ok {
		return "", false
	}
	return w.node, true
}
