package distpermit

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
)

func TestPermit(t *testing.T) {
	tests := []struct {
		name     string
		args     runtime.Object
		override bool
		won      string // "" = no win recorded
		node     string
		want     fwk.Code
	}{
		{"winner on its node", nil, false, "n1", "n1", fwk.Success},
		{"no gather won", nil, false, "", "n1", fwk.Unschedulable},
		{"won for another node", nil, false, "n2", "n1", fwk.Unschedulable},
		{"args always deny", &runtime.Unknown{Raw: []byte(`{"alwaysDeny":true}`)}, false, "n1", "n1", fwk.Unschedulable},
		{"flag always deny", nil, true, "n1", "n1", fwk.Unschedulable},
		{"empty args", &runtime.Unknown{}, false, "n1", "n1", fwk.Success},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Factory(plfeature.Features{}, tt.override)(context.Background(), tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if pl.Name() != Name {
				t.Fatalf("Name() = %q", pl.Name())
			}
			state := framework.NewCycleState()
			if tt.won != "" {
				RecordWin(state, tt.won)
			}
			st, wait := pl.(fwk.PermitPlugin).Permit(context.Background(), state, &v1.Pod{}, tt.node)
			if st.Code() != tt.want || wait != 0 {
				t.Fatalf("Permit = %v (%v), wait %v; want %v", st.Code(), st.Message(), wait, tt.want)
			}
		})
	}
}

func TestNewRejectsBadArgs(t *testing.T) {
	if _, err := New(context.Background(), &runtime.Unknown{Raw: []byte(`{"alwaysDeny":"yes"}`)}, nil, plfeature.Features{}); err == nil {
		t.Fatal("want an error for malformed args")
	}
}

func TestWinSurvivesClone(t *testing.T) {
	state := framework.NewCycleState()
	RecordWin(state, "n1")
	if n, ok := WonNode(state.Clone()); !ok || n != "n1" {
		t.Fatalf("WonNode(clone) = %q, %v", n, ok)
	}
}
