package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", p: 50, want: 0},
		{name: "single", sorted: []time.Duration{ms(7)}, p: 99, want: ms(7)},
		{name: "p50 of 100", sorted: hundred, p: 50, want: ms(50)},
		{name: "p99 of 100", sorted: hundred, p: 99, want: ms(99)},
		{name: "p100 is max", sorted: hundred, p: 100, want: ms(100)},
		{name: "p0 is min", sorted: hundred, p: 0, want: ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestTimeline(t *testing.T) {
	start := time.Unix(1000, 0)
	bound := []time.Time{start.Add(4 * time.Second), start.Add(time.Second), start.Add(2 * time.Second), start.Add(4 * time.Second)}
	got := Timeline(start, bound, 4)
	want := []Point{{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 4}}
	if len(got) != len(want) {
		t.Fatalf("Timeline = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
	if Timeline(start, nil, 4) != nil {
		t.Error("Timeline of no binds is not empty")
	}
}

func sample(name string, podsPerSec, wall, p50, p99 float64) *Report {
	return &Report{Name: name, Nodes: 10, Pods: 20, PodsBound: 20, PodsPerSecond: podsPerSec, WallSeconds: wall,
		LatencyP50Ms: p50, LatencyP99Ms: p99, StoreWritesPerSecond: 100,
		Processes: []Process{{Name: "store", CPUSeconds: 1.5, PeakRSSBytes: 100 << 20}},
		Timeline:  []Point{{0, 0}, {1, 10}, {2, 20}}}
}

func TestCompare(t *testing.T) {
	c := Compare(sample("fast", 300, 20, 10, 40), sample("slow", 100, 60, 50, 400))
	for name, got := range map[string]float64{"speedup": c.Speedup, "wall": c.WallSpeedup, "p50": c.P50Ratio, "p99": c.P99Ratio, "writes": c.StoreWritesRatio} {
		want := map[string]float64{"speedup": 3, "wall": 3, "p50": 5, "p99": 10, "writes": 1}[name]
		if got != want {
			t.Errorf("%s ratio = %v, want %v", name, got, want)
		}
	}
	var out bytes.Buffer
	c.Print(&out)
	for _, want := range []string{"fast", "slow", "3.00x", "10.00x"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
	skewed := Compare(sample("a", 1, 1, 1, 1), sample("b", 1, 1, 1, 1))
	skewed.Baseline.InitialWatchEvents = map[string]float64{"leases": 12 * float64(skewed.Baseline.Nodes)}
	out.Reset()
	skewed.Print(&out)
	if !strings.Contains(out.String(), "did not pay the same load") {
		t.Errorf("a comparison with a re-stream of every node in one stack only does not say so:\n%s", out.String())
	}
	near := Compare(sample("a", 1, 1, 1, 1), sample("b", 1, 1, 1, 1))
	near.Candidate.ClosedWatchers = map[string]float64{"pods": 38}
	near.Baseline.ClosedWatchers = map[string]float64{"pods": 3}
	near.Candidate.InitialWatchEvents = map[string]float64{"pods": 8} // under one stream of the 10 nodes
	out.Reset()
	near.Print(&out)
	if strings.Contains(out.String(), "did not pay") {
		t.Errorf("38 against 3 closed pod watchers and 8 initial events flagged as a skew:\n%s", out.String())
	}
	if z := Compare(sample("a", 1, 1, 1, 1), &Report{}); z.Speedup != 0 {
		t.Errorf("ratio over zero = %v, want 0", z.Speedup)
	}
}

func TestPrintAndOK(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Report)
		want   string
	}{
		{name: "all bound", mutate: func(*Report) {}, want: "every pod bound exactly once"},
		{name: "rebind", mutate: func(r *Report) { r.Rebinds = []string{"p: a -> b"} }, want: "NOT OK"},
		{name: "unbound", mutate: func(r *Report) { r.Unbound, r.PodsBound = 1, 19 }, want: "NOT OK"},
		{name: "timed out", mutate: func(r *Report) { r.TimedOut = true }, want: "timed out: true"},
		{name: "closed watchers", mutate: func(r *Report) { r.ClosedWatchers = map[string]float64{"nodes": 3, "leases": 27} }, want: "leases 27, nodes 3"},
		{name: "cpu per pod", mutate: func(r *Report) { r.CPUMsPerPod = map[string]float64{"store": 1.5, "kube-apiserver": 10} }, want: "11.50 ms"},
		{name: "cpu per node", mutate: func(r *Report) { r.CPUMsPerNode = map[string]float64{"scheduler": 0.25, "kube-apiserver": 2} }, want: "nodes phase: kube-apiserver 2.00, scheduler 0.25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sample("x", 1, 1, 1, 1)
			tt.mutate(r)
			var out bytes.Buffer
			r.Print(&out)
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("report lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

func TestWriteJSONAndChart(t *testing.T) {
	dir := t.TempDir()
	r := sample("memetcd+distscheduler", 300, 20, 10, 40)
	if err := WriteJSON(filepath.Join(dir, "report.json"), r); err != nil {
		t.Fatal(err)
	}
	var back Report
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.PodsPerSecond != 300 || back.Processes[0].Name != "store" {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	chart := filepath.Join(dir, "chart.html")
	if err := WriteChart(chart, r, sample("etcd+kube-scheduler", 100, 60, 50, 400)); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(chart)
	if n := strings.Count(string(html), "<polyline"); n != 2 {
		t.Errorf("chart has %d lines, want 2", n)
	}
	if !strings.Contains(string(html), "memetcd&#43;distscheduler: 300.0 pods/s") {
		t.Errorf("chart lacks the legend:\n%s", html)
	}
}
