package distpermit

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func TestPermitPendingResolved(t *testing.T) {
	tests := []struct {
		name    string
		resolve func(*Pending)
		node    string
		want    fwk.Code
	}{
		{"won", (*Pending).Win, "n1", fwk.Success},
		{"lost", func(p *Pending) { p.Lose("another member won") }, "n1", fwk.Unschedulable},
		{"bid for another node", (*Pending).Win, "n2", fwk.Unschedulable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := &DistPermit{}
			state := framework.NewCycleState()
			pend := NewPending("n1", time.Minute)
			tt.resolve(pend)
			RecordPending(state, pend)
			st, wait := pl.Permit(context.Background(), state.Clone(), &v1.Pod{}, tt.node)
			if st.Code() != tt.want || wait != 0 {
				t.Fatalf("Permit = %v (%v), wait %v; want %v", st.Code(), st.Message(), wait, tt.want)
			}
		})
	}
}

// waitingPod and handle stand in for upstream's framework, which registers a
// waiting pod when Permit returns Wait; only GetWaitingPod is used.
type waitingPod struct {
	fwk.WaitingPod
	mu      sync.Mutex
	allowed chan string
	reason  string
}

func (w *waitingPod) Allow(plugin string) { w.allowed <- plugin }
func (w *waitingPod) Reject(plugin, msg string) bool {
	w.mu.Lock()
	w.reason = msg
	w.mu.Unlock()
	w.allowed <- ""
	return true
}

type handle struct {
	fwk.Handle
	mu   sync.Mutex
	pods map[types.UID]fwk.WaitingPod
}

func (h *handle) GetWaitingPod(uid types.UID) fwk.WaitingPod {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pods[uid]
}

func TestPermitPendingWaitsForVerdict(t *testing.T) {
	for _, win := range []bool{true, false} {
		h := &handle{pods: map[types.UID]fwk.WaitingPod{}}
		pl := &DistPermit{handle: h}
		pod := &v1.Pod{}
		pod.UID = "u1"
		state := framework.NewCycleState()
		pend := NewPending("n1", time.Minute)
		RecordPending(state, pend)
		st, wait := pl.Permit(context.Background(), state, pod, "n1")
		if st.Code() != fwk.Wait || wait != time.Minute {
			t.Fatalf("Permit = %v, %v; want Wait for 1m", st.Code(), wait)
		}
		// The verdict may arrive before the framework registers the pod.
		if win {
			pend.Win()
		} else {
			pend.Lose("lost")
		}
		wp := &waitingPod{allowed: make(chan string, 1)}
		time.Sleep(time.Millisecond)
		h.mu.Lock()
		h.pods[pod.UID] = wp
		h.mu.Unlock()
		select {
		case got := <-wp.allowed:
			if win && got != Name {
				t.Fatalf("win: Allow(%q), want Allow(%q)", got, Name)
			}
			if !win && (got != "" || wp.reason != "lost") {
				t.Fatalf("loss: got Allow(%q) / reason %q, want Reject(lost)", got, wp.reason)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("waiting pod never released")
		}
	}
}

func TestPreEnqueueGate(t *testing.T) {
	pod := &v1.Pod{}
	pod.Name = "p"
	pl := &DistPermit{}
	if st := pl.PreEnqueue(context.Background(), pod); !st.IsSuccess() {
		t.Fatalf("no gate: %v", st)
	}
	g := &Gate{}
	pl.gate = g
	if st := pl.PreEnqueue(context.Background(), pod); !st.IsSuccess() {
		t.Fatalf("open gate: %v", st)
	}
	arrived := false
	g.Set(func(*v1.Pod) bool { return arrived })
	if st := pl.PreEnqueue(context.Background(), pod); st.IsSuccess() {
		t.Fatal("closed gate let the pod in")
	}
	arrived = true
	if st := pl.PreEnqueue(context.Background(), pod); !st.IsSuccess() {
		t.Fatalf("gate after arrival: %v", st)
	}
	g.Set(nil)
	arrived = false
	if st := pl.PreEnqueue(context.Background(), pod); !st.IsSuccess() {
		t.Fatalf("cleared gate: %v", st)
	}
}
