package measure

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/proc"
	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/makenodes/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// envInt reads a positive integer setting with a default.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// step is one timed makenodes run.
type step struct {
	transport                 string
	what                      string
	objects                   int
	wall                      time.Duration
	toolCPU, apiCPU, storeCPU float64 // seconds
}

func (s step) row(kind store.Kind) string {
	return fmt.Sprintf("| %s | %s | %s | %d | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f%% |", kind, s.transport, s.what, s.objects,
		s.wall.Seconds(), float64(s.objects)/s.wall.Seconds(), s.toolCPU, s.apiCPU, s.storeCPU, 100*s.toolCPU/s.apiCPU)
}

// runTool runs bin/makenodes with args and measures it and the cluster.
func runTool(t *testing.T, c *testcluster.Cluster, bin, transport, what string, objects int, args ...string) step {
	t.Helper()
	api0, store0 := c.API.Proc.Usage().CPUSeconds, c.Store.Proc.Usage().CPUSeconds
	args = append(args, "--kubeconfig", c.Kubeconfig, "--log-level", "warn", "--transport", transport)
	args = append(args, strings.Fields(os.Getenv("MAKENODES_MEASURE_ARGS"))...)
	if dir := os.Getenv("MAKENODES_MEASURE_PROFILE_DIR"); dir != "" {
		args = append(args, "--cpu-profile", fmt.Sprintf("%s/%s-%s-%s.pprof", dir, c.Store.Kind, transport, strings.ReplaceAll(what, " ", "-")))
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("makenodes %v: %v", args, err)
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage")
	}
	tool := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	return step{transport: transport, what: what, objects: objects, wall: wall, toolCPU: tool,
		apiCPU: c.API.Proc.Usage().CPUSeconds - api0, storeCPU: c.Store.Proc.Usage().CPUSeconds - store0}
}

// counter sums the samples of metric whose labels contain every one of match.
func counter(metrics, metric string, match ...string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(metrics))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") {
			continue
		}
		for _, m := range match {
			if !strings.Contains(line, m) {
				continue next
			}
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func writes(metrics string) (leasePuts, all float64) {
	leasePuts = counter(metrics, "apiserver_request_total", `resource="leases"`, `verb="PUT"`)
	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		all += counter(metrics, "apiserver_request_total", `verb="`+verb+`"`)
	}
	return leasePuts, all
}

// TestMeasure is the run behind BENCHMARKS.md. It takes minutes, so it runs only
// with MAKENODES_MEASURE=1:
//
//	MAKENODES_MEASURE=1 go test -v -run TestMeasure -timeout 60m ./internal/measure
//
// Sizes: MAKENODES_MEASURE_NODES (default 10000), _PODS (10000), _LEASE_NODES
// (5000), _WINDOW seconds of lease load (60). MAKENODES_MEASURE_TRANSPORTS lists
// the --transport values measured one after the other on each cluster
// (default "h2bulk,client-go"). MAKENODES_MEASURE_ARGS adds flags
// to the measured makenodes runs (e.g. "--concurrency 100"), and
// MAKENODES_MEASURE_PROFILE_DIR has each of them write a CPU profile there.
func TestMeasure(t *testing.T) {
	if os.Getenv("MAKENODES_MEASURE") != "1" {
		t.Skip("set MAKENODES_MEASURE=1 to run the measurement (minutes)")
	}
	nodeCount := envInt("MAKENODES_MEASURE_NODES", 10000)
	podCount := envInt("MAKENODES_MEASURE_PODS", 10000)
	leaseNodes := envInt("MAKENODES_MEASURE_LEASE_NODES", 5000)
	window := time.Duration(envInt("MAKENODES_MEASURE_WINDOW", 60)) * time.Second
	transports := strings.Split(os.Getenv("MAKENODES_MEASURE_TRANSPORTS"), ",")
	if transports[0] == "" {
		transports = []string{"h2bulk", "client-go"}
	}
	bin := bins.RequireBinary(t, "makenodes")
	var rows, leaseRows []string
	for _, kind := range []store.Kind{store.Etcd, store.Memetcd} {
		if !testcluster.Have(string(kind)) {
			t.Logf("%s not built: skipped", kind)
			continue
		}
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			c := testcluster.Start(t, kind)
			for _, tr := range transports {
				n := runTool(t, c, bin, tr, "create nodes", nodeCount, "nodes", "create", "--count", strconv.Itoa(nodeCount))
				// schedulerName nobody serves: the pods stay pending, so this measures creation only.
				p := runTool(t, c, bin, tr, "create pods", podCount, "pods", "create", "--count", strconv.Itoa(podCount), "--scheduler-name", "none")
				d := runTool(t, c, bin, tr, "delete pods", podCount, "pods", "delete")
				rows = append(rows, n.row(kind), p.row(kind), d.row(kind))
				if out, err := exec.Command(bin, "nodes", "delete", "--kubeconfig", c.Kubeconfig, "--log-level", "warn").CombinedOutput(); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}

			// Lease load: the first leaseNodes nodes are simulated by kwok (5,000 per
			// controller); the rest stay unmanaged and write nothing.
			groups := (leaseNodes + 4999) / 5000
			out, err := exec.Command(bin, "nodes", "create", "--count", strconv.Itoa(leaseNodes), "--per-kwok-group", "5000",
				"--kubeconfig", c.Kubeconfig, "--log-level", "warn").CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			ctrls := c.StartKwok(t, groups)
			deadline := time.Now().Add(5 * time.Minute)
			for {
				l, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
				if err == nil && len(l.Items) >= leaseNodes {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("leases not all created: %v", err)
				}
				time.Sleep(time.Second)
			}
			// Let the creation burst pass, then count a steady window.
			time.Sleep(15 * time.Second)
			m0, err := c.Metrics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			api0, store0 := c.API.Proc.Usage().CPUSeconds, c.Store.Proc.Usage().CPUSeconds
			var kwok0 float64
			for _, pid := range ctrls.Pids() {
				if u, err := readCPU(pid); err == nil {
					kwok0 += u
				}
			}
			time.Sleep(window)
			m1, err := c.Metrics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var kwok1 float64
			for _, pid := range ctrls.Pids() {
				if u, err := readCPU(pid); err == nil {
					kwok1 += u
				}
			}
			l0, a0 := writes(m0)
			l1, a1 := writes(m1)
			secs := window.Seconds()
			leaseRows = append(leaseRows, fmt.Sprintf("| %s | %d | %d | %.0f | %.0f | %.0f%% | %.0f%% | %.0f%% |", kind, leaseNodes, groups,
				(l1-l0)/secs, (a1-a0)/secs, 100*(c.API.Proc.Usage().CPUSeconds-api0)/secs,
				100*(c.Store.Proc.Usage().CPUSeconds-store0)/secs, 100*(kwok1-kwok0)/secs))
		})
	}
	t.Logf("\n| store | transport | step | objects | wall s | objects/s | makenodes CPU s | apiserver CPU s | store CPU s | tool/apiserver CPU |\n|---|---|---|---|---|---|---|---|---|---|\n%s",
		strings.Join(rows, "\n"))
	t.Logf("\n| store | kwok nodes | controllers | lease PUT/s | all writes/s | apiserver CPU | store CPU | kwok CPU |\n|---|---|---|---|---|---|---|---|\n%s",
		strings.Join(leaseRows, "\n"))
}

// readCPU is a process's CPU seconds so far.
func readCPU(pid int) (float64, error) {
	u, err := proc.ReadUsage(pid)
	return u.CPUSeconds, err
}
