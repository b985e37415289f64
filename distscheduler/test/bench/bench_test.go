// Package bench measures distscheduler against upstream kube-scheduler side by
// side in one run, on one real kube-apiserver + etcd: pods/s, p50/p99
// create-to-bound latency, scheduler CPU per pod and per 1K nodes evaluated,
// memory, and placement spread. It runs only with K8S1M_BENCH=1:
//
//	K8S1M_BENCH=1 K8S1M_BENCH_NODES=5000 K8S1M_BENCH_PODS=2000 \
//	  go test -run TestBenchmark -timeout 60m -v ./test/bench/
//
// K8S1M_BENCH_REPLICAS lists the member counts (default 1,2,4);
// K8S1M_BENCH_NO_INDEX_REPLICAS the counts to run again with the node label
// index off (default none).
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/testcluster"
	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func envInts(name, def string) []int {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// result is one variant's measurements.
type result struct {
	Variant     string
	Nodes, Pods int
	PodsPerSec  float64
	P50, P99    time.Duration
	CPUSeconds  float64
	CPUPerPodMs float64
	// IdleCores is the process's CPU rate with nothing to schedule
	// (gossip, informers, Leases), measured just before the pods;
	// NetCPUPerPodMs is CPUPerPodMs less that rate over the measured
	// window: what the pods themselves cost.
	IdleCores              float64
	NetCPUPerPodMs         float64
	EvaluatedPerPod        float64
	CPUPerPodPer1KNodesMs  float64
	RSS, PeakRSS           int64
	HeapReady, HeapEnd     uint64
	Problems               int
	Spread                 workload.Spread
	Stragglers, GatherMean float64
	// APIRequestsPerPod and WatchEventsPerPod are the kube-apiserver's own
	// counts over the measured window (apiserver_request_total by verb and
	// resource/subresource, apiserver_watch_events_total by resource) per pod.
	APIRequestsPerPod, WatchEventsPerPod map[string]float64
}

func TestBenchmark(t *testing.T) {
	if os.Getenv("K8S1M_BENCH") != "1" {
		t.Skip("set K8S1M_BENCH=1 to run the side-by-side benchmark")
	}
	schedBin := testcluster.Binary(t, "kube-scheduler")
	c := testcluster.Start(t)
	ctx := context.Background()
	sizes := envInts("K8S1M_BENCH_NODES", "5000")
	pods := envInts("K8S1M_BENCH_PODS", "2000")[0]
	replicas := envInts("K8S1M_BENCH_REPLICAS", "1,2,4")
	// Member counts to run a second time with the node label index off.
	noIndex := envInts("K8S1M_BENCH_NO_INDEX_REPLICAS", "")
	var results []result
	created := 0
	for _, size := range sizes {
		start := time.Now()
		if err := workload.CreateNodes(ctx, c.Client, created, size, 64); err != nil {
			t.Fatal(err)
		}
		t.Logf("created nodes %d..%d in %v", created, size, time.Since(start))
		created = size
		results = append(results, runUpstream(t, c, schedBin, size, pods))
		for _, r := range replicas {
			results = append(results, runDist(t, c, r, size, pods, true))
		}
		for _, r := range noIndex {
			results = append(results, runDist(t, c, r, size, pods, false))
		}
	}
	report := table(results) + "\n" + apiTable(results) + "\n" + fixedCost(results)
	t.Log("\n" + report)
	if out := os.Getenv("K8S1M_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runUpstream measures bin/kube-scheduler with its default profile. Only the
// client QPS limits are raised (as in distscheduler's example), so both
// schedulers are bound by scheduling, not by client-side throttling.
func runUpstream(t *testing.T, c *testcluster.Cluster, bin string, nodes, pods int) result {
	cfg := writeFile(t, "upstream.yaml", fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
  qps: 99999999
  burst: 99999999
leaderElection:
  leaderElect: false
`, c.Kubeconfig))
	logPath := filepath.Join(t.TempDir(), "kube-scheduler.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// -v=2 makes upstream log evaluatedNodes for every bound pod.
	cmd := exec.Command(bin, "--config", cfg, "--secure-port=0", "-v=2")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := measure(t, c, "kube-scheduler (upstream)", "default-scheduler", cmd.Process.Pid, nodes, pods)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if b, err := os.ReadFile(logPath); err == nil {
		re := regexp.MustCompile(`evaluatedNodes=(\d+)`)
		var sum, n float64
		for _, m := range re.FindAllSubmatch(b, -1) {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			sum += v
			n++
		}
		if n > 0 {
			r.EvaluatedPerPod = sum / n
			r.CPUPerPodPer1KNodesMs = r.CPUPerPodMs / (r.EvaluatedPerPod / 1000)
		}
	}
	return r
}

// distConfig writes the example scheduler configuration, pointed at c.
func distConfig(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	exampleCfg, err := os.ReadFile(filepath.Join("..", "..", "examples", "scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "dist.yaml", strings.Replace(string(exampleCfg), "clientConnection:\n", "clientConnection:\n  kubeconfig: "+c.Kubeconfig+"\n", 1))
}

// runDist measures n distscheduler members in a child process, with their
// node label index on or off.
func runDist(t *testing.T, c *testcluster.Cluster, n, nodes, pods int, index bool) result {
	cfg := distConfig(t, c)
	dir := t.TempDir()
	env := []string{envHeap + "=" + filepath.Join(dir, "heap")}
	variant := fmt.Sprintf("distscheduler x%d", n)
	if !index {
		env = append(env, envNoIndex+"=1")
		variant += " (no label index)"
	}
	ch := startChild(t, dir, cfg, n, env...)
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf("r%d", i)
	}
	waitFor(t, 10*time.Minute, "shards balanced", func() bool { return balanced(c.Client, members, nodes) })
	// Let the members' informers catch up with the last labels, then have
	// the child measure its heap: what N members hold for their shards.
	time.Sleep(3 * time.Second)
	heapReq := filepath.Join(dir, "heap")
	if err := os.WriteFile(heapReq, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "child heap measured", func() bool { _, err := os.Stat(heapReq + ".done"); return err == nil })
	r := measure(t, c, variant, "dist-scheduler", ch.cmd.Process.Pid, nodes, pods)
	if s, err := ch.stop(); err == nil {
		r.HeapReady, r.HeapEnd = s.HeapReady, s.HeapEnd
		// Every member evaluates every pod: the sum is the tree's work per pod.
		r.EvaluatedPerPod = s.NodesEvaluated / float64(pods+1)
		if r.EvaluatedPerPod > 0 {
			r.CPUPerPodPer1KNodesMs = r.CPUPerPodMs / (r.EvaluatedPerPod / 1000)
		}
		r.Stragglers = s.Stragglers
		if s.GatherCount > 0 {
			r.GatherMean = s.GatherSeconds / s.GatherCount
		}
	} else {
		t.Errorf("child summary: %v", err)
	}
	return r
}

func balanced(cs kubernetes.Interface, members []string, total int) bool {
	l, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return false
	}
	counts := map[string]int{}
	for _, n := range l.Items {
		counts[n.Labels[shard.Label]]++
	}
	return shard.Even(counts, members, total)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// measure warms the scheduler up with one pod, then creates pods in a fresh
// namespace with 16 concurrent clients while a watch records when each is
// first seen bound; it returns throughput, latency, CPU and spread, and
// deletes the pods so the next variant starts on empty nodes.
func measure(t *testing.T, c *testcluster.Cluster, variant, schedulerName string, pid, nodes, pods int) result {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), pid)
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Warm-up: the scheduler is running and binding before the clock starts.
	warm := workload.Pod(ns, 999999, schedulerName, true)
	warm.Name = "warmup"
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, warm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, variant+" warm-up pod bound", func() bool {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "warmup", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName != ""
	})

	// An informer, not a bare watch: it re-lists and re-watches if the
	// watch is closed, so no binding goes unseen.
	var mu sync.Mutex
	createdAt := make(map[string]time.Time, pods)
	boundAt := make(map[string]time.Time, pods)
	allBound := make(chan struct{})
	record := func(obj any) {
		p, ok := obj.(*v1.Pod)
		if !ok || p.Spec.NodeName == "" || p.Name == "warmup" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if _, seen := boundAt[p.Name]; !seen {
			boundAt[p.Name] = time.Now()
			if len(boundAt) == pods {
				close(allBound)
			}
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	podInformer := factory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, n any) { record(n) },
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	idleWindow := 5 * time.Second
	if d, err := time.ParseDuration(os.Getenv("K8S1M_BENCH_IDLE")); err == nil && d > 0 {
		idleWindow = d
	}
	idle0, _ := testcluster.CPUSeconds(pid)
	time.Sleep(idleWindow)
	idle1, _ := testcluster.CPUSeconds(pid)
	idleCores := (idle1 - idle0) / idleWindow.Seconds()

	api0 := apiCounts(t, c)
	cpu0, _ := testcluster.CPUSeconds(pid)
	start := time.Now()
	err := workload.Parallel(ctx, pods, 16, func(ctx context.Context, i int) error {
		p := workload.Pod(ns, i, schedulerName, false)
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
		mu.Lock()
		createdAt[p.Name] = time.Now()
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-allBound:
	case <-time.After(15 * time.Minute):
		mu.Lock()
		n := len(boundAt)
		mu.Unlock()
		t.Fatalf("%s: only %d/%d pods bound after 15m", variant, n, pods)
	}
	cpu1, _ := testcluster.CPUSeconds(pid)
	window := time.Since(start)
	rss, peak, _ := testcluster.RSSBytes(pid)
	api1 := apiCounts(t, c)

	mu.Lock()
	var lat []time.Duration
	last := start
	for name, b := range boundAt {
		if b.After(last) {
			last = b
		}
		if cAt, ok := createdAt[name]; ok {
			lat = append(lat, max(b.Sub(cAt), 0))
		}
	}
	mu.Unlock()
	slices.Sort(lat)
	r := result{
		Variant: variant, Nodes: nodes, Pods: pods,
		PodsPerSec:     float64(pods) / last.Sub(start).Seconds(),
		P50:            lat[len(lat)/2],
		P99:            lat[len(lat)*99/100],
		CPUSeconds:     cpu1 - cpu0,
		CPUPerPodMs:    (cpu1 - cpu0) * 1000 / float64(pods),
		IdleCores:      idleCores,
		NetCPUPerPodMs: max(0, cpu1-cpu0-idleCores*window.Seconds()) * 1000 / float64(pods),
		RSS:            rss, PeakRSS: peak,
		APIRequestsPerPod: perPod(api0.requests, api1.requests, pods),
		WatchEventsPerPod: perPod(api0.events, api1.events, pods),
	}

	pl, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nl, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	r.Problems = len(workload.Check(pl.Items, nl.Items))
	r.Spread = workload.Measure(pl.Items, nl.Items)
	t.Logf("%s at %d nodes: %.1f pods/s, p50 %v, p99 %v, %.2f ms CPU/pod (%.2f net of %.3f idle cores), spread %+v",
		variant, nodes, r.PodsPerSec, r.P50, r.P99, r.CPUPerPodMs, r.NetCPUPerPodMs, r.IdleCores, r.Spread)

	zero := int64(0)
	if err := c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Minute, "pods deleted", func() bool {
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0
	})
	return r
}

// apiserverCounts are the kube-apiserver's request and watch-event counters.
type apiserverCounts struct{ requests, events map[string]float64 }

var sampleLine = regexp.MustCompile(`^(apiserver_request_total|apiserver_watch_events_total)\{(.*)\} ([0-9.e+]+)$`)
var labelPair = regexp.MustCompile(`(\w+)="([^"]*)"`)

func apiCounts(t *testing.T, c *testcluster.Cluster) apiserverCounts {
	t.Helper()
	raw, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("kube-apiserver metrics: %v", err)
	}
	out := apiserverCounts{requests: map[string]float64{}, events: map[string]float64{}}
	for _, line := range strings.Split(string(raw), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		l := map[string]string{}
		for _, kv := range labelPair.FindAllStringSubmatch(m[2], -1) {
			l[kv[1]] = kv[2]
		}
		if m[1] == "apiserver_request_total" {
			out.requests[l["verb"]+" "+l["resource"]+"/"+l["subresource"]] += v
		} else {
			out.events[l["resource"]] += v // kube-apiserver 1.37 labels them by group, version, resource
		}
	}
	return out
}

func perPod(before, after map[string]float64, pods int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d / float64(pods)
		}
	}
	return out
}

// apiTable lists each variant's apiserver requests and watch events per pod.
func apiTable(rs []result) string {
	var b strings.Builder
	b.WriteString("| scheduler | nodes | requests/pod | watch events/pod | largest (per pod) |\n|---|---|---|---|---|\n")
	for _, r := range rs {
		var req, ev float64
		type kv struct {
			k string
			v float64
		}
		var all []kv
		for k, v := range r.APIRequestsPerPod {
			req += v
			all = append(all, kv{k, v})
		}
		for k, v := range r.WatchEventsPerPod {
			ev += v
			all = append(all, kv{"watch " + k, v})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
		var top []string
		for _, x := range all[:min(6, len(all))] {
			top = append(top, fmt.Sprintf("%s %.2f", x.k, x.v))
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %s |\n", r.Variant, r.Nodes, req, ev, strings.Join(top, ", "))
	}
	return b.String()
}

func table(rs []result) string {
	var b strings.Builder
	b.WriteString("| scheduler | nodes | pods | pods/s | × upstream | p50 | p99 | CPU s | CPU ms/pod | idle cores | net CPU ms/pod | nodes evaluated/pod | CPU ms/pod/1K nodes evaluated | CPU ms/pod/1K cluster nodes | RSS MiB (peak) | heap MiB ready→end | heap KB/node | placement problems | CPU stddev/node (cores) | max pods/node | empty nodes |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Nodes < rs[j].Nodes })
	upstream := map[int]float64{} // pods/s of upstream's row, by cluster size
	for _, r := range rs {
		if strings.HasPrefix(r.Variant, "kube-scheduler") {
			upstream[r.Nodes] = r.PodsPerSec
		}
	}
	for _, r := range rs {
		heap, perNode, ratio := "-", "-", "-"
		if r.HeapEnd > 0 {
			heap = fmt.Sprintf("%.0f→%.0f", float64(r.HeapReady)/(1<<20), float64(r.HeapEnd)/(1<<20))
			perNode = fmt.Sprintf("%.1f", float64(r.HeapReady)/1024/float64(r.Nodes))
		}
		if u := upstream[r.Nodes]; u > 0 {
			ratio = fmt.Sprintf("%.2f", r.PodsPerSec/u)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %s | %v | %v | %.1f | %.2f | %.3f | %.2f | %.0f | %.3f | %.3f | %.0f (%.0f) | %s | %s | %d | %.3f | %d | %d |\n",
			r.Variant, r.Nodes, r.Pods, r.PodsPerSec, ratio, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond),
			r.CPUSeconds, r.CPUPerPodMs, r.IdleCores, r.NetCPUPerPodMs, r.EvaluatedPerPod, r.CPUPerPodPer1KNodesMs, r.CPUPerPodMs/(float64(r.Nodes)/1000),
			float64(r.RSS)/(1<<20), float64(r.PeakRSS)/(1<<20), heap, perNode, r.Problems,
			r.Spread.StddevCPU, r.Spread.MaxPods, r.Spread.EmptyNodes)
	}
	return b.String()
}

// fixedCost estimates F, the CPU every member pays for every pod whatever
// its shard: with M members over the same N nodes a pod costs M·F + N·c in
// all, so F = (cost(xM) − cost(x1)) / (M − 1), from the rows with the label
// index on. Gross is CPU per pod as measured; net leaves out the idle rate
// (gossip, informers, Leases: a cost per member per second, not per pod).
func fixedCost(rs []result) string {
	var b strings.Builder
	b.WriteString("| nodes | members | F gross (ms/pod) | F net of idle (ms/pod) | idle cores per member |\n|---|---|---|---|---|\n")
	re := regexp.MustCompile(`^distscheduler x(\d+)$`)
	one := map[int]result{}
	for _, r := range rs {
		if m := re.FindStringSubmatch(r.Variant); m != nil && m[1] == "1" {
			one[r.Nodes] = r
		}
	}
	for _, r := range rs {
		m := re.FindStringSubmatch(r.Variant)
		if m == nil || m[1] == "1" {
			continue
		}
		x1, ok := one[r.Nodes]
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		fmt.Fprintf(&b, "| %d | 1 → %d | %.3f | %.3f | %.4f |\n", r.Nodes, n,
			(r.CPUPerPodMs-x1.CPUPerPodMs)/float64(n-1), (r.NetCPUPerPodMs-x1.NetCPUPerPodMs)/float64(n-1), r.IdleCores/float64(n))
	}
	return b.String()
}
