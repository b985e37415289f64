package workload

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestShapes(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		wantGroups int
	}{
		{name: "one group", cfg: Config{Nodes: 1000, PerKwokGroup: 10000}, wantGroups: 1},
		{name: "exact", cfg: Config{Nodes: 20000, PerKwokGroup: 10000}, wantGroups: 2},
		{name: "remainder", cfg: Config{Nodes: 20001, PerKwokGroup: 10000}, wantGroups: 3},
		{name: "no nodes", cfg: Config{PerKwokGroup: 10}, wantGroups: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := tt.cfg.KwokGroups(); g != tt.wantGroups {
				t.Errorf("KwokGroups = %d, want %d", g, tt.wantGroups)
			}
		})
	}
	n := Node(12345, Config{PerKwokGroup: 10000, Zones: 3})
	if n.Labels[KwokGroupLabel] != "1" || n.Annotations[KwokNodeAnnotation] != "fake" || n.Labels[NodeLabel] != "true" {
		t.Errorf("node labels/annotations = %v / %v", n.Labels, n.Annotations)
	}
	// 12345 mod 3 = 0; 12346 is in the next zone.
	if z, r := n.Labels[corev1.LabelTopologyZone], n.Labels[corev1.LabelTopologyRegion]; z != "local-0" || r != "local" {
		t.Errorf("node 12345 zone %q region %q, want local-0 in local", z, r)
	}
	if z := Node(12346, Config{Zones: 3}).Labels[corev1.LabelTopologyZone]; z != "local-1" {
		t.Errorf("node 12346 zone %q, want local-1", z)
	}
	if l := Node(1, Config{}).Labels; l[corev1.LabelTopologyZone] != "" || l[corev1.LabelTopologyRegion] != "" {
		t.Errorf("Zones 0: node labels %v carry a zone or region", l)
	}
	spread := Config{Spread: []LabelSpread{{Key: "shard", Values: []string{"a", "b", "c"}}}}
	for i, want := range []string{"a", "b", "c", "a"} {
		if got := Node(i, spread).Labels["shard"]; got != want {
			t.Errorf("node %d shard label %q, want %q", i, got, want)
		}
	}
	if q := n.Status.Allocatable[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("allocatable pods = %v", q.String())
	}
	p := Pod(7, Config{Namespace: "ns", SchedulerName: "s"})
	if p.Name != "lc-pod-000007" || p.Namespace != "ns" || p.Spec.SchedulerName != "s" || p.Spec.NodeName != "" {
		t.Errorf("pod = %s/%s scheduler %q node %q", p.Namespace, p.Name, p.Spec.SchedulerName, p.Spec.NodeName)
	}
	if p.Labels[PodLabel] != PodLabelValue || *p.Spec.AutomountServiceAccountToken {
		t.Errorf("pod labels %v, automount %v", p.Labels, *p.Spec.AutomountServiceAccountToken)
	}
}

func TestParallel(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	lasting := errors.New("lasting")
	tests := []struct {
		name    string
		n       int
		fail    func(i, attempt int) error
		wantErr error
		wantAll bool
	}{
		{name: "all succeed", n: 100, fail: func(int, int) error { return nil }, wantAll: true},
		{name: "transient errors retried", n: 50, fail: func(i, attempt int) error {
			if i%5 == 0 && attempt < 2 {
				return apierrors.NewTooManyRequests("slow down", 0)
			}
			return nil
		}, wantAll: true},
		{name: "lasting error stops", n: 1000, fail: func(i, _ int) error {
			if i == 10 {
				return lasting
			}
			return nil
		}, wantErr: lasting},
		{name: "non-transient api error is not retried", n: 10, fail: func(i, attempt int) error {
			if i == 3 {
				return apierrors.NewAlreadyExists(gr, "x")
			}
			return nil
		}, wantErr: apierrors.NewAlreadyExists(gr, "x")},
		{name: "zero items", n: 0, fail: func(int, int) error { return errors.New("never called") }, wantAll: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			attempts := map[int]int{}
			var done atomic.Int64
			err := parallel(t.Context(), tt.n, 4, func(_ context.Context, i int) error {
				mu.Lock()
				a := attempts[i]
				attempts[i]++
				mu.Unlock()
				return tt.fail(i, a)
			}, func(int64) { done.Add(1) })
			if tt.wantErr != nil {
				if err == nil || err.Error() != tt.wantErr.Error() {
					t.Fatalf("parallel = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantAll && int(done.Load()) != tt.n {
				t.Errorf("done %d of %d", done.Load(), tt.n)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := parallel(ctx, 10, 2, func(context.Context, int) error { return nil }, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("parallel on a cancelled context = %v", err)
	}
}
