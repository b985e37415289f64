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
		{name: "default run fits this machine", shape: Shape{Nodes: 1000, Pods: 1000, SchedulerCopies: 2, Schedulers: 2, Relays: 1, Kwoks: 1}, available: 20 * gib},
		{name: "50K nodes fit 20 GiB", shape: Shape{Nodes: 50_000, Pods: 50_000, SchedulerCopies: 2, Schedulers: 4, Relays: 1, Kwoks: 5}, available: 20 * gib},
		{name: "1M nodes do not", shape: Shape{Nodes: 1_000_000, Pods: 1_000_000, SchedulerCopies: 2, Schedulers: 8, Relays: 2, Kwoks: 100}, available: 20 * gib, wantErr: true},
		{name: "tiny machine", shape: Shape{Nodes: 10, Pods: 10, SchedulerCopies: 1, Schedulers: 1}, available: gib, wantErr: true},
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
