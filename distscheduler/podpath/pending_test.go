package podpath

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPending(t *testing.T) {
	names := []string{"dist", "dist-gpu"}
	now := metav1.Now()
	tests := []struct {
		name string
		edit func(*v1.Pod)
		want bool
	}{
		{"unassigned, ours", func(*v1.Pod) {}, true},
		{"second profile", func(p *v1.Pod) { p.Spec.SchedulerName = "dist-gpu" }, true},
		{"another scheduler's", func(p *v1.Pod) { p.Spec.SchedulerName = "default-scheduler" }, false},
		{"bound", func(p *v1.Pod) { p.Spec.NodeName = "n1" }, false},
		{"being deleted", func(p *v1.Pod) { p.DeletionTimestamp = &now }, false},
		{"succeeded", func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }, false},
		{"failed", func(p *v1.Pod) { p.Status.Phase = v1.PodFailed }, false},
	}
	for _, tt := range tests {
		p := &v1.Pod{Spec: v1.PodSpec{SchedulerName: "dist"}, Status: v1.PodStatus{Phase: v1.PodPending}}
		tt.edit(p)
		if got := Pending(p, names); got != tt.want {
			t.Errorf("%s: Pending = %v, want %v", tt.name, got, tt.want)
		}
	}
}
