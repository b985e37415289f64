package distpermit

import (
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
)

// Gate decides which pending pods may enter a member's active scheduling
// queue (DistPermit's PreEnqueue). A root-driven tree (the relay) sets it to
// "the pod's tree item has reached this member", so that a member schedules
// pods in the order the root hands them out and never bids for a pod whose
// gather has not started. A Gate with no function set lets every pod in.
type Gate struct {
	allow atomic.Pointer[func(*v1.Pod) bool]
}

// Set installs the admission function; nil opens the gate.
func (g *Gate) Set(allow func(*v1.Pod) bool) {
	if allow == nil {
		g.allow.Store(nil)
		return
	}
	g.allow.Store(&allow)
}

// Allows reports whether pod may be queued for scheduling now.
func (g *Gate) Allows(pod *v1.Pod) bool {
	if g == nil {
		return true
	}
	f := g.allow.Load()
	return f == nil || (*f)(pod)
}
