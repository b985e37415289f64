// Package memcheck estimates the memory a localcluster run needs before any
// process starts, and compares it with what the machine has available, so an
// oversized request fails in a second with a clear message instead of after
// minutes with the OOM killer.
package memcheck

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Shape is what drives memory: object counts and process counts.
type Shape struct {
	Nodes, Pods int
	// Schedulers is the number of scheduling processes (kube-scheduler: 1;
	// distscheduler: its scheduling members).
	Schedulers int
	// Sharded schedulers each hold only their shard of the nodes: a
	// distscheduler member's node informer lists and watches only the nodes
	// labelled with its name, about Nodes/Schedulers of them. The shard
	// leader also watches every node's metadata (not whole nodes) to hand
	// them out. Unsharded schedulers (kube-scheduler) hold every node each.
	Sharded bool
	// Relays is the number of relay-only tree members.
	Relays int
	Kwoks  int
	// ControllerManager: kube-controller-manager runs, with informers of
	// every node and pod.
	ControllerManager bool
}

// Per-object and per-process costs in bytes. They are deliberately on the high
// side of what runs on this machine measured (see BENCHMARKS.md): the check
// exists to stop runs that cannot fit, not to squeeze the last node in.
const (
	baseBytes        = 1200 << 20 // kube-apiserver, store, localcluster at rest
	perSchedulerBase = 120 << 20
	perRelayBase     = 120 << 20 // a relay-only distscheduler member: the process without its node shard
	perKwokBase      = 80 << 20
	// At 50K nodes and 10K pods (2026-12-06): kube-apiserver 3.9 GiB, kwok
	// 1.0, memetcd 0.6 (~110 KiB per node); a distscheduler member with the
	// whole shard 9.3-9.8 GiB peak at its default --gc-percent 800 (~190
	// KiB per node; 4.2 GiB at 200), kube-scheduler 1.4 GiB.
	perNodeControl   = 110 << 10 // apiserver watch cache + store + kwok + tracker
	perNodeScheduler = 200 << 10 // one scheduler's node informer, cache and snapshot, and its GC headroom
	perNodeMetadata  = 10 << 10  // the shard leader's node metadata informer
	perPod           = 30 << 10  // apiserver + store + one scheduler + kwok + tracker
	perPodScheduler  = 10 << 10  // each further scheduler: every member sees every pod

	controllerManagerBase    = 100 << 20
	perNodeControllerManager = 40 << 10 // its node informer and node lifecycle state
	perPodControllerManager  = 25 << 10 // its pod informer (674 MiB peak at 10K nodes and pods)
)

// SchedulerNodes returns the nodes one scheduler process holds: its shard
// (rounded up) when sharded, every node otherwise.
func (s Shape) SchedulerNodes() int {
	if !s.Sharded || s.Schedulers <= 1 {
		return s.Nodes
	}
	return (s.Nodes + s.Schedulers - 1) / s.Schedulers
}

// Estimate returns the expected peak memory of a run of shape s.
func Estimate(s Shape) int64 {
	scheds := int64(max(s.Schedulers, 1))
	b := int64(baseBytes)
	b += scheds * perSchedulerBase
	b += int64(s.Relays) * perRelayBase
	b += int64(max(s.Kwoks, 1)) * perKwokBase
	b += int64(s.Nodes) * perNodeControl
	b += scheds * int64(s.SchedulerNodes()) * perNodeScheduler
	if s.Sharded {
		b += int64(s.Nodes) * perNodeMetadata
	}
	b += int64(s.Pods) * (perPod + (scheds-1)*perPodScheduler)
	if s.ControllerManager {
		b += controllerManagerBase + int64(s.Nodes)*perNodeControllerManager + int64(s.Pods)*perPodControllerManager
	}
	return b
}

// Headroom is the share of available memory a run may plan to use; the rest is
// for the page cache, the Go build cache and everything else on the machine.
const Headroom = 0.8

// Check fails when s is estimated to need more than Headroom of available.
func Check(s Shape, availableBytes int64) error {
	need := Estimate(s)
	if float64(need) > Headroom*float64(availableBytes) {
		return fmt.Errorf("%d nodes / %d pods need about %s, more than %.0f%% of the %s available: lower --nodes/--pods, or pass --skip-memory-check to try anyway",
			s.Nodes, s.Pods, GiB(need), Headroom*100, GiB(availableBytes))
	}
	return nil
}

// GiB formats bytes as gibibytes.
func GiB(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// Available returns MemAvailable from /proc/meminfo.
func Available() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("available memory: %w", err)
	}
	defer f.Close()
	return parseMemAvailable(f)
}

func parseMemAvailable(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("MemAvailable %q: %w", rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, fmt.Errorf("no MemAvailable in /proc/meminfo")
}
