// Package report holds the figures of one localcluster run and writes them for
// people (a text table), for tools (JSON) and as a chart of pods bound over time
// (a self-contained HTML file with inline SVG).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Process is what one started process cost.
type Process struct {
	Name         string  `json:"name"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
}

// Point is one sample of the bound-pods curve.
type Point struct {
	Seconds float64 `json:"seconds"` // since the first pod create request
	Bound   int     `json:"bound"`
}

// Report is one run's figures. Durations are in seconds, latencies in
// milliseconds, so the JSON reads without unit conversions.
type Report struct {
	Name       string `json:"name"` // "memetcd+distscheduler"
	Store      string `json:"store"`
	Scheduler  string `json:"scheduler"`
	Schedulers int    `json:"schedulers"`
	Relays     int    `json:"relays"`
	Kwoks      int    `json:"kwok_controllers"`
	// ControllerManager says whether kube-controller-manager ran (its
	// watches and writes are part of the figures when it did).
	ControllerManager bool `json:"controller_manager"`
	Nodes             int  `json:"nodes"`
	Zones             int  `json:"zones"` // node zones (0: no zone labels)
	// NodeShards: how nodes got distscheduler's shard label ("creator":
	// created with it; "webhook": the leader's node webhook).
	NodeShards string    `json:"node_shards"`
	Pods       int       `json:"pods"`
	RunDir     string    `json:"run_dir"`
	Started    time.Time `json:"started"`

	// WallSeconds is the whole run, start of the first process to the last bind.
	WallSeconds    float64 `json:"wall_seconds"`
	StartupSeconds float64 `json:"startup_seconds"`
	NodesSeconds   float64 `json:"nodes_seconds"` // create nodes and wait until Ready
	// PodsSeconds is the scheduling phase: first pod create sent to last bind seen.
	PodsSeconds   float64 `json:"pods_seconds"`
	PodsBound     int     `json:"pods_bound"`
	PodsPerSecond float64 `json:"pods_per_second"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`

	// StoreWrites counts puts+deletes during the scheduling phase.
	StoreWrites          float64 `json:"store_writes"`
	StoreWritesPerSecond float64 `json:"store_writes_per_second"`

	Processes []Process `json:"processes"`

	// APIRequestsPerNode (nodes phase) and APIRequestsPerPod (pods phase)
	// are kube-apiserver requests by "VERB/resource/subresource" divided by
	// the nodes or pods; WatchEventsPerPod the watch events it sent per pod,
	// by kind. From the apiserver's own /metrics.
	APIRequestsPerNode map[string]float64 `json:"apiserver_requests_per_node"`
	APIRequestsPerPod  map[string]float64 `json:"apiserver_requests_per_pod"`
	WatchEventsPerPod  map[string]float64 `json:"apiserver_watch_events_per_pod"`
	// ClosedWatchers counts the watchers kube-apiserver closed as
	// unresponsive during the run, by resource
	// (apiserver_terminated_watchers_total). A client that re-watches from
	// resourceVersion=0, as kwok does, is sent every object again each
	// time. A few close in any run's first seconds, while the watch caches'
	// buffers are still small (10 events).
	ClosedWatchers map[string]float64 `json:"apiserver_closed_watchers"`
	// InitialWatchEvents counts the events kube-apiserver sent new watches
	// as their starting state during the run, by resource
	// (apiserver_init_events_total): every re-watch at resourceVersion=0
	// adds every object it watches.
	InitialWatchEvents map[string]float64 `json:"apiserver_initial_watch_events"`
	// CPUMsPerPod is the CPU each part of the cluster (store,
	// kube-apiserver, kwok, scheduler; cluster.Role) spent in the pods
	// phase, in milliseconds per pod: what carries over to a bigger machine.
	CPUMsPerPod map[string]float64 `json:"cpu_ms_per_pod"`
	// CPUMsPerNode is the same for the nodes phase, per node created.
	CPUMsPerNode map[string]float64 `json:"cpu_ms_per_node"`

	// Checks: every pod bound exactly once.
	Unbound                     int      `json:"unbound"`
	Rebinds                     []string `json:"rebinds"`
	ScheduledEvents             int      `json:"scheduled_events"`
	PodsWithManyScheduledEvents int      `json:"pods_with_many_scheduled_events"`
	TimedOut                    bool     `json:"timed_out"`
	Timeline                    []Point  `json:"timeline"`
}

// Percentile returns the p-th percentile (0..100) of sorted by nearest rank.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank-1, 0), len(sorted)-1)]
}

// Ms converts a duration to float milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Timeline samples the cumulative bound count at up to points evenly spaced
// times from start to the last bind.
func Timeline(start time.Time, boundAt []time.Time, points int) []Point {
	if len(boundAt) == 0 || points < 2 {
		return nil
	}
	sorted := slices.SortedFunc(slices.Values(boundAt), func(a, b time.Time) int { return a.Compare(b) })
	span := sorted[len(sorted)-1].Sub(start)
	out := make([]Point, 0, points+1)
	out = append(out, Point{Seconds: 0, Bound: 0})
	j := 0
	for i := 1; i <= points; i++ {
		at := start.Add(time.Duration(float64(span) * float64(i) / float64(points)))
		for j < len(sorted) && !sorted[j].After(at) {
			j++
		}
		out = append(out, Point{Seconds: at.Sub(start).Seconds(), Bound: j})
	}
	return out
}

// OK reports whether every pod was bound exactly once.
func (r *Report) OK() bool {
	return !r.TimedOut && r.Unbound == 0 && r.PodsBound == r.Pods && len(r.Rebinds) == 0 && r.PodsWithManyScheduledEvents == 0
}

// WriteJSON writes r, indented, to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// formatValues writes m as "key v, key v", keys sorted, each value with
// the given number of decimals.
func formatValues(m map[string]float64, decimals int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.*f", k, decimals, m[k])
	}
	return strings.Join(parts, ", ")
}

// nodeShardsMeaning explains a Report.NodeShards value.
var nodeShardsMeaning = map[string]string{
	"creator": "nodes created with distscheduler's shard label (no admission call, no second write)",
	"webhook": "distscheduler's node webhook labelled each node at creation (an admission call per node)",
}

// Print writes the human-readable report.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s\t(%s)\n", r.Name, r.RunDir)
	fmt.Fprintf(tw, "scale\t%d nodes in %d zone(s), %d pods\t%d scheduler(s), %d relay(s), %d kwok\n", r.Nodes, max(r.Zones, 1), r.Pods, r.Schedulers, r.Relays, r.Kwoks)
	if r.NodeShards != "" {
		fmt.Fprintf(tw, "node shards\t%s\t%s\n", r.NodeShards, nodeShardsMeaning[r.NodeShards])
	}
	cm := "off (scheduling only: no Deployments, ServiceAccounts or garbage collection)"
	if r.ControllerManager {
		cm = "on (its load is in these figures)"
	}
	fmt.Fprintf(tw, "controller-manager\t%s\n", cm)
	fmt.Fprintf(tw, "wall time\t%.1f s\tstart-up %.1f s, nodes %.1f s, pods %.1f s\n", r.WallSeconds, r.StartupSeconds, r.NodesSeconds, r.PodsSeconds)
	fmt.Fprintf(tw, "pods bound\t%d / %d\t%.1f pods/s\n", r.PodsBound, r.Pods, r.PodsPerSecond)
	fmt.Fprintf(tw, "latency\tp50 %.0f ms\tp99 %.0f ms, max %.0f ms (create sent -> bound seen)\n", r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs)
	fmt.Fprintf(tw, "store writes\t%.0f\t%.0f writes/s during scheduling\n", r.StoreWrites, r.StoreWritesPerSecond)
	for _, p := range r.Processes {
		fmt.Fprintf(tw, "  %s\t%.1f CPU s\t%.0f MiB peak RSS\n", p.Name, p.CPUSeconds, float64(p.PeakRSSBytes)/(1<<20))
	}
	if len(r.CPUMsPerNode) > 0 {
		fmt.Fprintf(tw, "CPU per node\t%.2f ms\tnodes phase: %s\n", sum(r.CPUMsPerNode), formatValues(r.CPUMsPerNode, 2))
	}
	if len(r.CPUMsPerPod) > 0 {
		fmt.Fprintf(tw, "CPU per pod\t%.2f ms\tpods phase: %s\n", sum(r.CPUMsPerPod), formatValues(r.CPUMsPerPod, 2))
	}
	if len(r.InitialWatchEvents) > 0 {
		fmt.Fprintf(tw, "initial watch events\t%.0f\tsent as new watches' starting state: %s\n", sum(r.InitialWatchEvents), formatValues(r.InitialWatchEvents, 0))
	}
	if len(r.ClosedWatchers) > 0 {
		fmt.Fprintf(tw, "closed watchers\t%s\tclosed by kube-apiserver as unresponsive (a client that re-watches at resourceVersion=0, as kwok does, is sent every object again)\n", formatValues(r.ClosedWatchers, 0))
	}
	verdict := "every pod bound exactly once"
	if !r.OK() {
		verdict = fmt.Sprintf("NOT OK: %d unbound, %d rebinds, %d pods with >1 Scheduled event, timed out: %v",
			r.Unbound, len(r.Rebinds), r.PodsWithManyScheduledEvents, r.TimedOut)
	}
	fmt.Fprintf(tw, "check\t%s\n", verdict)
	tw.Flush()
}
