package durability

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest/kubeapiserver"
	"k8s.io/client-go/kubernetes"
)

// TestMeasureKube is the Kubernetes-load benchmark of BENCHMARKS.md, not a
// pass/fail test: it runs only with -measure.kube. Each cell starts stores
// and a real kube-apiserver on them, creates the nodes and node Leases of a
// cluster of -measure.kube.nodes nodes, then drives Kubernetes' write mix
// (kubeload_test.go) at a fixed -measure.kube.rate and reports what each
// store process spent per 10K writes (CPU from /proc), the apiserver's CPU
// per 10K writes, request latency and store RSS. Systems run back to back
// per node count and round, so a neighbour's build hurts them alike.
//
//	go test -run TestMeasureKube ./durability -args -measure.kube -measure.kube.nodes=10000,50000
var (
	measureKube         = flag.Bool("measure.kube", false, "run the Kubernetes-load measurement (TestMeasureKube)")
	measureKubeNodes    = flag.String("measure.kube.nodes", "10000", "simulated node counts, comma separated")
	measureKubeRate     = flag.Float64("measure.kube.rate", 200, "Kubernetes writes per second, the same for every node count")
	measureKubeDuration = flag.Duration("measure.kube.duration", 60*time.Second, "measured time per cell")
	measureKubeWarmup   = flag.Duration("measure.kube.warmup", 10*time.Second, "unmeasured load before each cell's measurement")
	measureKubeSystems  = flag.String("measure.kube.systems", "memetcd,memetcd-fsync,etcd,memetcd-split", "systems: memetcd (default WAL mode and transport), memetcd-grpc and memetcd-lean (the default WAL mode on either transport), memetcd-fsync, memetcd-lean-fsync, memetcd-split (leases, events, pods on memetcds of their own), etcd, or bin:<memetcd binary> for an older build")
	measureKubeRounds   = flag.Int("measure.kube.rounds", 1, "repeat every cell this many times")
	measureKubeWorkers  = flag.Int("measure.kube.workers", 64, "concurrent requests")
	measureKubeLanes    = flag.Int("measure.kube.pod-lanes", 64, "pods alive at once (each walks create, bind, status, graceful and final delete)")
)

// kubeStore is one store process of a cell.
type kubeStore struct {
	name     string // "memetcd", "etcd", "memetcd-leases", ...
	pid      int
	endpoint string // host:port
	metrics  string // base URL of /metrics (and /debug/pprof for memetcd)
}

// kubeSystem starts the stores of a cell; the first is the default store,
// the rest are named in the apiserver's --etcd-servers-overrides.
type kubeSystem struct {
	name  string
	start func(t *testing.T) (stores []kubeStore, apiserverArgs []string)
}

func memetcdStore(t *testing.T, bin, name string, args ...string) kubeStore {
	if *measurePprof != "" {
		args = append(args, "--enable-pprof")
	}
	p := startBinT(t, bin, filepath.Join(t.TempDir(), "wal"), append([]string{"--wal-snapshot-interval=0"}, args...)...)
	return kubeStore{name: name, pid: p.Pid(), endpoint: p.Endpoint, metrics: "http://" + p.MetricsAddr}
}

// kubeSplit is localcluster's --store-split layout: kube-apiserver override
// keys and the WAL mode of each part's memetcd.
var kubeSplit = []struct {
	name, walMode string
	resources     []string
}{
	{"leases", "none", []string{"coordination.k8s.io/leases"}},
	{"events", "none", []string{"/events", "events.k8s.io/events"}},
	{"pods", "buffered", []string{"/pods"}},
}

func kubeSystems(t *testing.T) []kubeSystem {
	var out []kubeSystem
	for _, name := range strings.Split(*measureKubeSystems, ",") {
		switch {
		case name == "memetcd":
			out = append(out, kubeSystem{"memetcd buffered (default)", func(t *testing.T) ([]kubeStore, []string) {
				return []kubeStore{memetcdStore(t, memetcdBin, "memetcd")}, nil
			}})
		case name == "memetcd-fsync":
			out = append(out, kubeSystem{"memetcd fsync", func(t *testing.T) ([]kubeStore, []string) {
				return []kubeStore{memetcdStore(t, memetcdBin, "memetcd", "--wal-default=fsync")}, nil
			}})
		case name == "memetcd-grpc", name == "memetcd-lean":
			transport := strings.TrimPrefix(name, "memetcd-")
			out = append(out, kubeSystem{"memetcd buffered, " + transport + " transport", func(t *testing.T) ([]kubeStore, []string) {
				return []kubeStore{memetcdStore(t, memetcdBin, "memetcd", "--transport="+transport)}, nil
			}})
		case name == "memetcd-lean-fsync":
			out = append(out, kubeSystem{"memetcd fsync, lean transport", func(t *testing.T) ([]kubeStore, []string) {
				return []kubeStore{memetcdStore(t, memetcdBin, "memetcd", "--wal-default=fsync", "--transport=lean")}, nil
			}})
		case name == "memetcd-split":
			out = append(out, kubeSystem{"memetcd split", func(t *testing.T) ([]kubeStore, []string) {
				stores := []kubeStore{memetcdStore(t, memetcdBin, "memetcd")}
				var overrides []string
				for _, p := range kubeSplit {
					s := memetcdStore(t, memetcdBin, "memetcd-"+p.name, "--wal-default="+p.walMode)
					stores = append(stores, s)
					for _, r := range p.resources {
						overrides = append(overrides, r+"#http://"+s.endpoint)
					}
				}
				return stores, []string{"--etcd-servers-overrides=" + strings.Join(overrides, ",")}
			}})
		case strings.HasPrefix(name, "bin:"):
			bin := strings.TrimPrefix(name, "bin:")
			out = append(out, kubeSystem{"memetcd " + filepath.Base(bin), func(t *testing.T) ([]kubeStore, []string) {
				return []kubeStore{memetcdStore(t, bin, "memetcd")}, nil
			}})
		case name == "etcd":
			bin := etcdBinary()
			if !fileExists(bin) {
				t.Fatalf("%s missing: run make bin/etcd", bin)
			}
			out = append(out, kubeSystem{"etcd v3.7 (default)", func(t *testing.T) ([]kubeStore, []string) {
				tg := startEtcd(t, bin)
				return []kubeStore{{name: "etcd", pid: tg.pid, endpoint: tg.endpoint, metrics: tg.metrics}}, nil
			}})
		default:
			t.Fatalf("-measure.kube.systems: unknown system %q", name)
		}
	}
	return out
}

// kubeCell is one measured cell.
type kubeCell struct {
	system            string
	nodes, round      int
	writes, late      int
	errors            map[string]int
	seconds           float64
	p50, p99          time.Duration
	apiserverCPU      float64
	stores            []kubeStoreResult
	machineLoadBefore string
}

type kubeStoreResult struct {
	name        string
	cpu         float64 // seconds over the measured window
	storeWrites float64 // mvcc puts + deletes over the window
	rpcs        map[string]float64
	rss         int64
}

func (c kubeCell) storeCPU() float64 {
	var sum float64
	for _, s := range c.stores {
		sum += s.cpu
	}
	return sum
}

func per10K(v float64, writes int) float64 { return v / float64(max(writes, 1)) * 10000 }

func TestMeasureKube(t *testing.T) {
	if !*measureKube {
		t.Skip("a measurement, not a test: run with -measure.kube")
	}
	var sizes []int
	for _, s := range strings.Split(*measureKubeNodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			t.Fatalf("-measure.kube.nodes %q: want positive counts", *measureKubeNodes)
		}
		sizes = append(sizes, n)
	}
	systems := kubeSystems(t)
	if *measurePprof != "" {
		if err := os.MkdirAll(*measurePprof, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pki := kubeapiserver.NewPKI(t)
	var cells []kubeCell
	for _, nodes := range sizes {
		for round := range *measureKubeRounds {
			for _, sys := range systems {
				t.Run(fmt.Sprintf("%s/%d/round%d", sys.name, nodes, round), func(t *testing.T) {
					cells = append(cells, measureKubeCell(t, pki, sys, nodes, round))
				})
			}
		}
	}
	out := kubeTable(cells)
	t.Log(out)
	fmt.Println(out)
}

func measureKubeCell(t *testing.T, pki kubeapiserver.PKI, sys kubeSystem, nodes, round int) kubeCell {
	cell := kubeCell{system: sys.name, nodes: nodes, round: round, machineLoadBefore: loadAverage()}
	stores, apiArgs := sys.start(t)
	api := kubeapiserver.Start(t, pki, stores[0].endpoint, append([]string{
		// As localcluster: the limits that protect a shared cluster from one
		// client are off, since one client is the whole point here.
		"--max-requests-inflight=4000", "--max-mutating-requests-inflight=2000",
		"--enable-priority-and-fairness=false", "--v=0",
	}, apiArgs...)...)
	cfg := *api.Config
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	load := newKubeLoad(cs, nodes, *measureKubeLanes)
	t0 := time.Now()
	if err := load.setup(ctx, 32); err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Logf("%s: %d nodes and leases created in %s", sys.name, nodes, time.Since(t0).Round(time.Second))
	load.run(ctx, *measureKubeRate, *measureKubeWarmup, *measureKubeWorkers, false)

	type reading struct {
		cpu, writes float64
		rpcs        map[string]float64
	}
	read := func() (map[string]reading, float64) {
		m := map[string]reading{}
		for _, s := range stores {
			w, rpcs := storeMetrics(s.metrics)
			m[s.name] = reading{procCPU(s.pid), w, rpcs}
		}
		return m, procCPU(api.Pid())
	}
	var prof sync.WaitGroup
	if *measurePprof != "" {
		for _, s := range stores {
			if strings.HasPrefix(s.name, "memetcd") {
				path := filepath.Join(*measurePprof, fmt.Sprintf("kube-%s-%s-n%d-r%d.pprof",
					strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(sys.name), s.name, nodes, round))
				prof.Go(func() { profile(t, target{pid: s.pid, metrics: s.metrics}, *measureKubeDuration, path) })
			}
		}
	}
	before, apiBefore := read()
	start := time.Now()
	_, cell.late = load.run(ctx, *measureKubeRate, *measureKubeDuration, *measureKubeWorkers, true)
	cell.seconds = time.Since(start).Seconds()
	after, apiAfter := read()
	prof.Wait()
	var lat []time.Duration
	cell.writes, lat, cell.errors = load.result()
	cell.p50, cell.p99 = percentile(lat, 50), percentile(lat, 99)
	cell.apiserverCPU = apiAfter - apiBefore
	for _, s := range stores {
		b, a := before[s.name], after[s.name]
		rpcs := map[string]float64{}
		for m, v := range a.rpcs {
			if d := v - b.rpcs[m]; d > 0 {
				rpcs[m] = d
			}
		}
		cell.stores = append(cell.stores, kubeStoreResult{name: s.name, cpu: a.cpu - b.cpu,
			storeWrites: a.writes - b.writes, rpcs: rpcs, rss: procRSS(s.pid)})
	}
	for e, n := range cell.errors {
		t.Logf("%s: %d× %s", sys.name, n, e)
	}
	if cell.late > 0 {
		t.Logf("%s: %d writes not sent (queue full): the machine did not sustain %.0f/s", sys.name, cell.late, *measureKubeRate)
	}
	return cell
}

func kubeTable(cells []kubeCell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s, %d cores, %.0f Kubernetes writes/s, %s measured per cell after %s warm-up, %d workers, %d pod lanes\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), *measureKubeRate, *measureKubeDuration, *measureKubeWarmup,
		*measureKubeWorkers, *measureKubeLanes)
	b.WriteString("| nodes | round | system | writes | errors | late | store CPU s/10K writes | vs etcd | apiserver CPU s/10K | p50 | p99 | store RSS MiB | store writes/write | load avg before |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	etcdCPU := map[[2]int]float64{}
	for _, c := range cells {
		if strings.HasPrefix(c.system, "etcd") {
			etcdCPU[[2]int{c.nodes, c.round}] = per10K(c.storeCPU(), c.writes)
		}
	}
	for _, c := range cells {
		cpu := per10K(c.storeCPU(), c.writes)
		ratio := "-"
		if e := etcdCPU[[2]int{c.nodes, c.round}]; e > 0 {
			ratio = fmt.Sprintf("%.2fx", cpu/e)
		}
		var rss int64
		var sw float64
		for _, s := range c.stores {
			rss += s.rss
			sw += s.storeWrites
		}
		nerr := 0
		for _, n := range c.errors {
			nerr += n
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %d | %d | %d | %.2f | %s | %.2f | %s | %s | %d | %.2f | %s |\n",
			c.nodes, c.round, c.system, c.writes, nerr, c.late, cpu, ratio, per10K(c.apiserverCPU, c.writes),
			c.p50.Round(100*time.Microsecond), c.p99.Round(100*time.Microsecond), rss>>20, sw/float64(max(c.writes, 1)), c.machineLoadBefore)
	}
	var split strings.Builder
	for _, c := range cells {
		if len(c.stores) < 2 {
			continue
		}
		for _, s := range c.stores {
			fmt.Fprintf(&split, "| %d | %d | %s | %s | %.0f | %.2f | %.1f µs | %d |\n", c.nodes, c.round, c.system, s.name,
				s.storeWrites, per10K(s.cpu, c.writes), 1e6*s.cpu/max(s.storeWrites, 1), s.rss>>20)
		}
	}
	b.WriteString("\nStore RPCs per Kubernetes write, by method (all instances):\n\n| nodes | round | system | RPCs |\n|---:|---:|---|---|\n")
	for _, c := range cells {
		sum := map[string]float64{}
		for _, s := range c.stores {
			for m, v := range s.rpcs {
				sum[m] += v
			}
		}
		var parts []string
		for _, m := range slices.Sorted(maps.Keys(sum)) {
			parts = append(parts, fmt.Sprintf("%s %.2f", m, sum[m]/float64(max(c.writes, 1))))
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s |\n", c.nodes, c.round, c.system, strings.Join(parts, ", "))
	}
	if split.Len() > 0 {
		b.WriteString("\nPer store instance (CPU per 10K Kubernetes writes of the whole mix; µs per store write of its own):\n\n")
		b.WriteString("| nodes | round | system | instance | store writes | CPU s/10K writes | CPU per own write | RSS MiB |\n|---:|---:|---|---|---:|---:|---:|---:|\n")
		b.WriteString(split.String())
	}
	return b.String()
}

// procCPU is a process's user+system CPU seconds so far.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck
}

// procRSS is a process's resident set in bytes.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// storeMetrics reads what a cell reports from a store's /metrics: its
// writes (puts + deletes: etcd's name, else memetcd's debugging one, never
// both) and its finished RPCs by method.
func storeMetrics(base string) (writes float64, rpcs map[string]float64) {
	rpcs = map[string]float64{}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, rpcs
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		vals[name] = v
		if strings.HasPrefix(name, "grpc_server_handled_total{") {
			if _, m, ok := strings.Cut(name, `grpc_method="`); ok {
				m, _, _ = strings.Cut(m, `"`)
				rpcs[m] += v
			}
		}
	}
	for _, fam := range [][2]string{{"etcd_mvcc_put_total", "etcd_mvcc_delete_total"}, {"etcd_debugging_mvcc_put_total", "etcd_debugging_mvcc_delete_total"}} {
		if p, ok := vals[fam[0]]; ok {
			return p + vals[fam[1]], rpcs
		}
	}
	return 0, rpcs
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
