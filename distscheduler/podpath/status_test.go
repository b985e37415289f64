package podpath

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSchedulerErrorAdded(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC))
	later := metav1.NewTime(at.Add(time.Second))
	pod := func(reason, msg string, when metav1.Time) *v1.Pod {
		p := &v1.Pod{}
		if reason != "" {
			p.Status.Conditions = []v1.PodCondition{
				{Type: v1.PodReadyToStartContainers, Status: v1.ConditionFalse},
				{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: when},
			}
		}
		return p
	}
	tests := []struct {
		name     string
		old, cur *v1.Pod
		want     bool
	}{
		{"new SchedulerError", pod("", "", at), pod(v1.PodReasonSchedulerError, "m", at), true},
		{"no old pod", nil, pod(v1.PodReasonSchedulerError, "m", at), true},
		{"from Unschedulable", pod(v1.PodReasonUnschedulable, "m", at), pod(v1.PodReasonSchedulerError, "m", at), true},
		{"new message", pod(v1.PodReasonSchedulerError, "m", at), pod(v1.PodReasonSchedulerError, "m2", at), true},
		{"new time", pod(v1.PodReasonSchedulerError, "m", at), pod(v1.PodReasonSchedulerError, "m", later), true},
		{"unchanged", pod(v1.PodReasonSchedulerError, "m", at), pod(v1.PodReasonSchedulerError, "m", at), false},
		{"Unschedulable", pod("", "", at), pod(v1.PodReasonUnschedulable, "m", at), false},
		{"no condition", pod("", "", at), pod("", "", at), false},
	}
	for _, tt := range tests {
		if got := SchedulerErrorAdded(tt.old, tt.cur); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
