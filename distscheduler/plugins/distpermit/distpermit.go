// Package distpermit is the DistPermit scheduler plugin: the Permit step that
// lets only the gather winner bind a pod. A member runs upstream's binding
// steps (Reserve, Permit, PreBind, Bind) only for pods whose gather it won,
// after recording the win for the winning node in the pod's CycleState;
// Permit lets such a pod through and rejects any other (a cycle that did not
// go through the tree, or a win for another node).
package distpermit

import (
	"context"
	"fmt"
	"time"

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
}

var (
	_ fwk.PermitPlugin = &DistPermit{}
	// New must fit upstream's factory-with-features shape.
	_ frameworkruntime.PluginFactoryWithFts[*DistPermit] = New
)

// New builds the plugin from its profile args (nil or runtime.Unknown).
func New(_ context.Context, obj runtime.Object, _ fwk.Handle, _ plfeature.Features) (*DistPermit, error) {
	var args Args
	if err := frameworkruntime.DecodeInto(obj, &args); err != nil {
		return nil, fmt.Errorf("decode %s args: %w", Name, err)
	}
	return &DistPermit{alwaysDeny: args.AlwaysDeny}, nil
}

// Factory returns the plugin factory to register with the scheduler.
// alwaysDeny (--permit-always-deny) overrides the profile's args.
func Factory(fts plfeature.Features, alwaysDeny bool) frameworkruntime.PluginFactory {
	return func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		p, err := New(ctx, obj, h, fts)
		if err != nil {
			return nil, err
		}
		p.alwaysDeny = p.alwaysDeny || alwaysDeny
		return p, nil
	}
}

// Name implements fwk.Plugin.
func (p *DistPermit) Name() string { return Name }

// Permit implements fwk.PermitPlugin.
func (p *DistPermit) Permit(_ context.Context, state fwk.CycleState, pod *v1.Pod, nodeName string) (*fwk.Status, time.Duration) {
	if p.alwaysDeny {
		return fwk.NewStatus(fwk.Unschedulable, "DistPermit denies every pod (--permit-always-deny)"), 0
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
