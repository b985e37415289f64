package podpath

import (
	"slices"

	v1 "k8s.io/api/core/v1"
)

// Pending reports whether p is still distscheduler's to place: not bound,
// not being deleted, not finished, and of one of schedulerNames (the
// profiles' scheduler names; other pods belong to other schedulers).
func Pending(p *v1.Pod, schedulerNames []string) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil ||
		p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		return false
	}
	return slices.Contains(schedulerNames, p.Spec.SchedulerName)
}
