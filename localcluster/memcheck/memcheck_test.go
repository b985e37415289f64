package memcheck

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	const gib = int64(1) << 30
	tests := []struct {
		name      string
		shape     Shape
		available int64
		wantErr   bool
	}{
		{name: "default run fits this machine", shape: Shape{Nodes: 1000, Pods: 1000, Schedulers: 3, Sharded: true, Relays: 1, Kwoks: 1}, available: 20 * gib},
		{name: "50K nodes fit 23 GiB", shape: Shape{Nodes: 50_000, Pods: 10_000, Schedulers: 1, Sharded: true, Kwoks: 1}, available: 23 * gib},
		{name: "50K nodes do not fit 16 GiB", shape: Shape{Nodes: 50_000, Pods: 10_000, Schedulers: 1, Sharded: true, Kwoks: 1}, available: 16 * gib, wantErr: true},
		{name: "1M nodes do not", shape: Shape{Nodes: 1_000_000, Pods: 1_000_000, Schedulers: 8, Sharded: true, Relays: 2, Kwoks: 100}, available: 20 * gib, wantErr: true},
		{name: "tiny machine", shape: Shape{Nodes: 10, Pods: 10, Schedulers: 1}, available: gib, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.shape, tt.available)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check = %v (estimate %s), wantErr %v", err, GiB(Estimate(tt.shape)), tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "--skip-memory-check") {
				t.Errorf("error does not say how to proceed: %v", err)
			}
		})
	}
}

// TestShardedNodes checks that a sharded member is charged for its shard only:
// adding members adds their fixed cost and per-pod cost, not another copy of
// every node, while unsharded schedulers each pay for every node.
func TestShardedNodes(t *testing.T) {
	tests := []struct {
		shape Shape
		want  int
	}{
		{Shape{Nodes: 50_000, Schedulers: 1, Sharded: true}, 50_000},
		{Shape{Nodes: 50_000, Schedulers: 3, Sharded: true}, 16_667},
		{Shape{Nodes: 50_000, Schedulers: 3}, 50_000},
		{Shape{Nodes: 10, Schedulers: 4, Sharded: true}, 3},
	}
	for _, tt := range tests {
		if got := tt.shape.SchedulerNodes(); got != tt.want {
			t.Errorf("%+v: SchedulerNodes = %d, want %d", tt.shape, got, tt.want)
		}
	}
	one := Shape{Nodes: 50_000, Pods: 50_000, Schedulers: 1, Sharded: true, Kwoks: 5}
	three, unsharded := one, one
	three.Schedulers, unsharded.Schedulers, unsharded.Sharded = 3, 3, false
	extra := Estimate(three) - Estimate(one)
	// Two more members: their base, their view of every pod, and at most a
	// rounding node each, not two more copies of 50,000 nodes.
	if limit := int64(2*perSchedulerBase + 2*50_000*perPodScheduler + 2*perNodeScheduler); extra > limit {
		t.Errorf("two more sharded members add %s, want at most %s", GiB(extra), GiB(limit))
	}
	if Estimate(unsharded)-Estimate(three) < 2*40_000*perNodeScheduler {
		t.Errorf("three unsharded schedulers (%s) should cost about two node copies more than three sharded members (%s)",
			GiB(Estimate(unsharded)), GiB(Estimate(three)))
	}
}

func TestParseMemAvailable(t *testing.T) {
	got, err := parseMemAvailable(strings.NewReader("MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   20000000 kB\n"))
	if err != nil || got != 20000000<<10 {
		t.Fatalf("parse = %d, %v", got, err)
	}
	if _, err := parseMemAvailable(strings.NewReader("MemTotal: 1 kB\n")); err == nil {
		t.Error("missing MemAvailable accepted")
	}
	if _, err := Available(); err != nil {
		t.Errorf("Available on this machine: %v", err)
	}
}

// TestControllerManager checks that running kube-controller-manager is
// charged for its own informers of every node and pod.
func TestControllerManager(t *testing.T) {
	s := Shape{Nodes: 10_000, Pods: 10_000, Schedulers: 1, Sharded: true, Kwoks: 1}
	without := Estimate(s)
	s.ControllerManager = true
	if with := Estimate(s); with < without+int64(s.Nodes)*perNodeControllerManager {
		t.Errorf("estimate with the controller-manager %s, without %s: its node informer is not counted", GiB(with), GiB(without))
	}
}
