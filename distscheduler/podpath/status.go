// The PodScheduled=False condition is the one status write a scheduler
// makes for a pod it could not bind: the leader's intake writes it with
// reason Unschedulable when no member can place a pod, a winning member with
// reason SchedulerError when its binding steps failed. The intake reads the
// second as the winner giving the pod back (SchedulerErrorAdded), so it is
// submitted again at once rather than after Policy.Recheck.

package podpath

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// MarkNotScheduled sets the pod's PodScheduled condition to False with
// reason (v1.PodReasonUnschedulable or v1.PodReasonSchedulerError) and msg.
// The patch names the pod's UID, so a pod deleted and created again under
// the same name is left alone.
func MarkNotScheduled(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, reason, msg string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status": map[string]any{"conditions": []v1.PodCondition{{
			Type:               v1.PodScheduled,
			Status:             v1.ConditionFalse,
			Reason:             reason,
			Message:            msg,
			LastTransitionTime: metav1.Now(),
		}}},
	})
	if err != nil {
		return fmt.Errorf("encode PodScheduled patch: %w", err)
	}
	if _, err := client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("mark pod %s/%s not scheduled (%s): %w", pod.Namespace, pod.Name, reason, err)
	}
	return nil
}

// SchedulerErrorAdded reports whether cur carries a PodScheduled=False
// SchedulerError condition that old did not (a new one, or a new message or
// time on it): a winner has just given the pod back.
func SchedulerErrorAdded(old, cur *v1.Pod) bool {
	c := scheduled(cur)
	if c == nil || c.Status != v1.ConditionFalse || c.Reason != v1.PodReasonSchedulerError {
		return false
	}
	o := scheduled(old)
	return o == nil || o.Reason != c.Reason || o.Message != c.Message || !o.LastTransitionTime.Equal(&c.LastTransitionTime)
}

func scheduled(p *v1.Pod) *v1.PodCondition {
	if p == nil {
		return nil
	}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
