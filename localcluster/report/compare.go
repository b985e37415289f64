package report

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// Comparison is two runs of the same workload and their ratios, written
// "candidate over baseline" so a ratio above 1 means the candidate is better.
type Comparison struct {
	Candidate *Report `json:"candidate"` // memetcd + distscheduler
	Baseline  *Report `json:"baseline"`  // etcd + kube-scheduler
	// Speedup is candidate pods/s over baseline pods/s.
	Speedup float64 `json:"speedup_pods_per_second"`
	// WallSpeedup is baseline wall time over candidate wall time (end to end).
	WallSpeedup float64 `json:"speedup_wall_time"`
	// P50Ratio and P99Ratio are baseline latency over candidate latency.
	P50Ratio float64 `json:"latency_p50_ratio"`
	P99Ratio float64 `json:"latency_p99_ratio"`
	// StoreWritesRatio is candidate store writes/s over baseline.
	StoreWritesRatio float64 `json:"store_writes_per_second_ratio"`
}

// Compare computes the ratios.
func Compare(candidate, baseline *Report) *Comparison {
	return &Comparison{
		Candidate:        candidate,
		Baseline:         baseline,
		Speedup:          ratio(candidate.PodsPerSecond, baseline.PodsPerSecond),
		WallSpeedup:      ratio(baseline.WallSeconds, candidate.WallSeconds),
		P50Ratio:         ratio(baseline.LatencyP50Ms, candidate.LatencyP50Ms),
		P99Ratio:         ratio(baseline.LatencyP99Ms, candidate.LatencyP99Ms),
		StoreWritesRatio: ratio(candidate.StoreWritesPerSecond, baseline.StoreWritesPerSecond),
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Print writes the side-by-side table.
func (c *Comparison) Print(w io.Writer) {
	a, b := c.Candidate, c.Baseline
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t%s\tratio\t\n", a.Name, b.Name)
	fmt.Fprintf(tw, "pods/s\t%.1f\t%.1f\t%.2fx\t\n", a.PodsPerSecond, b.PodsPerSecond, c.Speedup)
	fmt.Fprintf(tw, "pods phase (s)\t%.1f\t%.1f\t\t\n", a.PodsSeconds, b.PodsSeconds)
	fmt.Fprintf(tw, "wall time (s)\t%.1f\t%.1f\t%.2fx\t\n", a.WallSeconds, b.WallSeconds, c.WallSpeedup)
	fmt.Fprintf(tw, "p50 latency (ms)\t%.0f\t%.0f\t%.2fx\t\n", a.LatencyP50Ms, b.LatencyP50Ms, c.P50Ratio)
	fmt.Fprintf(tw, "p99 latency (ms)\t%.0f\t%.0f\t%.2fx\t\n", a.LatencyP99Ms, b.LatencyP99Ms, c.P99Ratio)
	fmt.Fprintf(tw, "store writes/s\t%.0f\t%.0f\t%.2fx\t\n", a.StoreWritesPerSecond, b.StoreWritesPerSecond, c.StoreWritesRatio)
	fmt.Fprintf(tw, "CPU s (all)\t%.1f\t%.1f\t\t\n", totalCPU(a), totalCPU(b))
	fmt.Fprintf(tw, "peak RSS MiB (sum)\t%.0f\t%.0f\t\t\n", totalRSS(a), totalRSS(b))
	fmt.Fprintf(tw, "all bound once\t%v\t%v\t\t\n", a.OK(), b.OK())
	fmt.Fprintf(tw, "watchers closed as unresponsive\t%.0f\t%.0f\t\t\n", sum(a.ClosedWatchers), sum(b.ClosedWatchers))
	fmt.Fprintf(tw, "initial watch events\t%.0f\t%.0f\t\t\n", sum(a.InitialWatchEvents), sum(b.InitialWatchEvents))
	tw.Flush()
	fmt.Fprintln(w, "ratios: pods/s and store writes/s are candidate/baseline; wall time and latency are baseline/candidate (above 1 = candidate better)")
	if ia, ib := sum(a.InitialWatchEvents), sum(b.InitialWatchEvents); skewed(ia, ib, float64(max(a.Nodes, b.Nodes))) {
		fmt.Fprintf(w, "initial watch events: %.0f against %.0f, more than one re-stream of every node apart: a client re-watching at resourceVersion=0 (kwok) was sent its objects again in one stack more than the other, so the stacks did not pay the same load\n", ia, ib)
	}
	printPerUnit(w, "kube-apiserver requests per node (nodes phase)", a.Name, b.Name, a.APIRequestsPerNode, b.APIRequestsPerNode)
	printPerUnit(w, "kube-apiserver requests per pod (pods phase)", a.Name, b.Name, a.APIRequestsPerPod, b.APIRequestsPerPod)
	printPerUnit(w, "kube-apiserver watch events sent per pod (pods phase)", a.Name, b.Name, a.WatchEventsPerPod, b.WatchEventsPerPod)
	printPerUnit(w, "CPU ms per node by part of the cluster (nodes phase)", a.Name, b.Name, a.CPUMsPerNode, b.CPUMsPerNode)
	printPerUnit(w, "CPU ms per pod by part of the cluster (pods phase)", a.Name, b.Name, a.CPUMsPerPod, b.CPUMsPerPod)
}

// skewed reports two stacks' initial watch events far enough apart to
// flag: one at least twice the other, and apart by more than one stream
// of every node (a Lease re-stream is one event per node).
func skewed(a, b, nodes float64) bool {
	lo, hi := min(a, b), max(a, b)
	return hi >= 2*lo && hi-lo > nodes
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

func totalCPU(r *Report) float64 {
	var s float64
	for _, p := range r.Processes {
		s += p.CPUSeconds
	}
	return s
}

func totalRSS(r *Report) float64 {
	var s float64
	for _, p := range r.Processes {
		s += float64(p.PeakRSSBytes) / (1 << 20)
	}
	return s
}

// printPerUnit prints two runs' per-node or per-pod figures side by side,
// every key either run has at 0.01 or more, with the totals.
func printPerUnit(w io.Writer, title, aName, bName string, a, b map[string]float64) {
	if len(a) == 0 && len(b) == 0 {
		return
	}
	keys := map[string]bool{}
	for k, v := range a {
		if v >= 0.01 {
			keys[k] = true
		}
	}
	for k, v := range b {
		if v >= 0.01 {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t%s\t\n", aName, bName)
	var ta, tb float64
	for _, k := range sorted {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t\n", k, a[k], b[k])
	}
	for _, v := range a {
		ta += v
	}
	for _, v := range b {
		tb += v
	}
	fmt.Fprintf(tw, "total\t%.2f\t%.2f\t\n", ta, tb)
	tw.Flush()
}
