// Package e2e runs the real localcluster command, built from this module, on
// the real binaries (store, kube-apiserver, kwok, scheduler) and checks what it
// reports and leaves behind.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/proc"
	"github.com/k8s1m/k8s1m/localcluster/report"
	"github.com/k8s1m/k8s1m/localcluster/runstate"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// stack is the store and scheduler tree the end-to-end runs use: the default
// stack (see README, "Defaults and state of the stacks").
type stack struct {
	store, scheduler   string
	schedulers, relays int
}

var e2eStack = stack{store: "memetcd", scheduler: "distscheduler", schedulers: 1, relays: 0}

func (s stack) binaries() []string {
	return []string{s.store, "kube-apiserver", "kwok", s.scheduler}
}

func (s stack) args() []string {
	args := []string{"--store", s.store, "--scheduler", s.scheduler}
	if s.scheduler == "distscheduler" {
		args = append(args, "--schedulers", fmt.Sprint(s.schedulers), "--relays", fmt.Sprint(s.relays))
	}
	return args
}

// processes are the scheduler processes a run of s reports.
func (s stack) processes() []string {
	if s.scheduler != "distscheduler" {
		return []string{s.scheduler}
	}
	var names []string
	for i := range s.schedulers {
		names = append(names, fmt.Sprintf("distscheduler-%d", i))
	}
	for i := range s.relays {
		names = append(names, fmt.Sprintf("distscheduler-relay-%d", i))
	}
	return names
}

// builtBinary is the localcluster command built once for all tests.
var builtBinary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "localcluster-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builtBinary.path = filepath.Join(dir, "localcluster")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// localcluster builds the command from this module's source (once).
func localcluster(t *testing.T) string {
	t.Helper()
	builtBinary.once.Do(func() {
		cmd := exec.Command("go", "build", "-o", builtBinary.path, "../cmd/localcluster")
		if b, err := cmd.CombinedOutput(); err != nil {
			builtBinary.err = fmt.Errorf("build localcluster: %v\n%s", err, b)
		}
	})
	if builtBinary.err != nil {
		t.Fatal(builtBinary.err)
	}
	return builtBinary.path
}

// requireStack returns the bin dir after checking every binary is there.
func requireStack(t *testing.T, s stack) string {
	t.Helper()
	for _, n := range s.binaries() {
		bins.RequireBinary(t, n)
	}
	dir, err := bins.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

type result struct {
	stdout, stderr string
	err            error
}

func runCmd(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

func readReport(t *testing.T, runsDir string) *report.Report {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(runsDir, "*", "report.json"))
	if len(matches) != 1 {
		t.Fatalf("want one report.json under %s, found %v", runsDir, matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestRunSchedulesEveryPodOnce is the proof of the main job at CI scale: the
// real command on the real binaries, 500 nodes and 1,000 pods, every pod bound
// exactly once and the report's figures consistent.
func TestRunSchedulesEveryPodOnce(t *testing.T) {
	runAndCheck(t, e2eStack, 500, 1000)
}

// TestRunMultiMemberTree runs a distscheduler tree of three scheduling
// members and a relay-only member, each its own process joined by the relay
// (gossip and gRPC on loopback): every pod bound exactly once, every member
// measured.
func TestRunMultiMemberTree(t *testing.T) {
	runAndCheck(t, stack{store: "memetcd", scheduler: "distscheduler", schedulers: 3, relays: 1}, 300, 600)
}

// runAndCheck runs the built command on stack st and checks the report and
// what the run leaves behind.
func runAndCheck(t *testing.T, st stack, nodes, pods int) {
	binDir := requireStack(t, st)
	lc := localcluster(t)
	runs := t.TempDir()
	args := append([]string{"run", "--bin-dir", binDir, "--runs-dir", runs, "--build", "never",
		"--nodes", fmt.Sprint(nodes), "--pods", fmt.Sprint(pods), "--timeout", "5m", "--progress", "5s"}, st.args()...)
	res := runCmd(t, lc, args...)
	if res.err != nil {
		t.Fatalf("localcluster run: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
	}
	t.Logf("report:\n%s", res.stdout)
	if !strings.Contains(res.stdout, "every pod bound exactly once") {
		t.Errorf("printed report lacks the verdict:\n%s", res.stdout)
	}
	if !strings.Contains(res.stderr, `"phase":"pods"`) {
		t.Errorf("no live progress line for the pods phase in stderr")
	}
	r := readReport(t, runs)
	checks := []struct {
		name string
		ok   bool
	}{
		{"stack", r.Store == st.store && r.Scheduler == st.scheduler},
		{"scheduler tree", st.scheduler != "distscheduler" || (r.Schedulers == st.schedulers && r.Relays == st.relays)},
		{"nodes", r.Nodes == nodes},
		{"pods", r.Pods == pods},
		{"every pod bound", r.PodsBound == pods && r.Unbound == 0},
		{"no pod bound twice", len(r.Rebinds) == 0 && r.PodsWithManyScheduledEvents == 0},
		{"not timed out", !r.TimedOut},
		{"no controller-manager: run measures scheduling", !r.ControllerManager && !strings.Contains(res.stdout, "on (its load")},
		{"at most one Scheduled event per pod", r.ScheduledEvents <= pods},
		{"rate consistent with phase time", r.PodsSeconds > 0 && abs(r.PodsPerSecond*r.PodsSeconds-float64(pods)) < 1},
		{"latencies ordered", 0 < r.LatencyP50Ms && r.LatencyP50Ms <= r.LatencyP99Ms && r.LatencyP99Ms <= r.LatencyMaxMs},
		{"latency within the phase", r.LatencyMaxMs <= r.PodsSeconds*1000+1},
		{"wall time covers the phases", r.WallSeconds >= r.PodsSeconds && r.WallSeconds >= r.StartupSeconds+r.NodesSeconds},
		{"store writes counted", r.StoreWrites >= float64(pods) && r.StoreWritesPerSecond > 0},
		// Nodes are created with their shard label (--node-shards creator,
		// the default), so no node needs a second write to get one. A
		// few moves may still come from a member that gossip briefly
		// suspected on a loaded machine (CI saw 2 PATCHes for 300 nodes).
		{"nodes created with their shards", r.NodeShards == "creator" && r.APIRequestsPerNode["PATCH/nodes/"] < 0.1},
		{"timeline ends at all bound", len(r.Timeline) > 0 && r.Timeline[len(r.Timeline)-1].Bound == pods},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("report check %q failed: %+v", c.name, r)
		}
	}
	names := map[string]bool{}
	for _, p := range r.Processes {
		names[p.Name] = true
		if p.CPUSeconds <= 0 || p.PeakRSSBytes < 1<<20 {
			t.Errorf("process %s usage not measured: %+v", p.Name, p)
		}
	}
	for _, want := range append([]string{st.store, "kube-apiserver", "kwok-0"}, st.processes()...) {
		if !names[want] {
			t.Errorf("report lacks process %s: %+v", want, r.Processes)
		}
	}
	// Everything stopped, the run directory kept, nothing recorded as running.
	for _, f := range []string{"report.json", "chart.html", "kube-apiserver.log", "admin.kubeconfig"} {
		if _, err := os.Stat(filepath.Join(r.RunDir, f)); err != nil {
			t.Errorf("run dir lacks %s: %v", f, err)
		}
	}
	if pids, _ := filepath.Glob(filepath.Join(r.RunDir, "*.pid")); len(pids) != 0 {
		t.Errorf("pid files left after run: %v", pids)
	}
	if st, _ := mustStore(t, runs).Load(); st != nil {
		t.Errorf("active run left recorded: %+v", st)
	}
}

// TestUpDown checks that up leaves a cluster running that a person can use
// with kubectl (useWithKubectl), prints how, that a second up says one is
// running, and that down stops every process by PID.
func TestUpDown(t *testing.T) {
	binDir := requireStack(t, e2eStack)
	bins.RequireBinary(t, "kube-controller-manager")
	kubectlBin := bins.RequireBinary(t, "kubectl")
	lc := localcluster(t)
	runs := t.TempDir()
	base := []string{"--bin-dir", binDir, "--runs-dir", runs}
	t.Cleanup(func() { runCmd(t, lc, append([]string{"down"}, base...)...) })
	upArgs := append(append([]string{"up"}, base...), append([]string{"--build", "never", "--nodes", "5", "--pods", "5", "--progress", "0", "--node-lease-duration", "2m"}, e2eStack.args()...)...)
	up := runCmd(t, lc, upArgs...)
	if up.err != nil {
		t.Fatalf("up: %v\n%s\n%s", up.err, up.stdout, up.stderr)
	}
	st, err := mustStore(t, runs).Load()
	if err != nil || st == nil {
		t.Fatalf("no active run after up: %v", err)
	}
	for _, want := range []string{"export KUBECONFIG=" + st.Kubeconfig + "\n", "localcluster down --runs-dir " + runs + "\n", "on (its load is in these figures)"} {
		if !strings.Contains(up.stdout, want) {
			t.Errorf("up's output lacks %q:\n%s", want, up.stdout)
		}
	}
	if !slices.ContainsFunc(st.Processes, func(p runstate.Process) bool { return p.Name == "kube-controller-manager" }) {
		t.Errorf("up started no kube-controller-manager: %+v", st.Processes)
	}
	for _, p := range st.Processes {
		if !proc.Alive(p.PID) {
			t.Errorf("%s (pid %d) not running after up", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(st.Kubeconfig); err != nil {
		t.Errorf("kubeconfig: %v", err)
	}
	checkNodeLeases(t, st.Kubeconfig, 5, 120)
	useWithKubectl(t, kubectlBin, st.Kubeconfig, 5)

	res := runCmd(t, lc, upArgs...)
	if res.err == nil || !strings.Contains(res.stderr, "already running") || !strings.Contains(res.stderr, "localcluster down") {
		t.Errorf("second up: err %v, stderr %q; want a refusal naming down", res.err, res.stderr)
	}

	if res := runCmd(t, lc, append([]string{"down"}, base...)...); res.err != nil || !strings.Contains(res.stdout, "run directory kept") {
		t.Fatalf("down: %v\n%s\n%s", res.err, res.stdout, res.stderr)
	}
	for _, p := range st.Processes {
		if proc.Alive(p.PID) {
			t.Errorf("%s (pid %d) still running after down", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(filepath.Join(st.RunDir, "report.json")); err != nil {
		t.Errorf("run dir not kept: %v", err)
	}
	if res := runCmd(t, lc, append([]string{"down"}, base...)...); res.err != nil || !strings.Contains(res.stdout, "no local cluster is running") {
		t.Errorf("second down: %v %q", res.err, res.stdout)
	}
}

// TestClearErrors checks the failures an operator meets first: a scale the
// machine cannot hold (refused before anything starts) and a taken port.
func TestClearErrors(t *testing.T) {
	lc := localcluster(t)
	t.Run("too big for memory", func(t *testing.T) {
		res := runCmd(t, lc, "run", "--runs-dir", t.TempDir(), "--bin-dir", t.TempDir(), "--build", "never",
			"--nodes", "100000000", "--pods", "1")
		if res.err == nil || !strings.Contains(res.stderr, "--skip-memory-check") || !strings.Contains(res.stderr, "available") {
			t.Errorf("err %v, stderr %q; want a memory refusal", res.err, res.stderr)
		}
	})
	t.Run("missing binary names the make target", func(t *testing.T) {
		res := runCmd(t, lc, "run", "--runs-dir", t.TempDir(), "--bin-dir", t.TempDir(), "--build", "never", "--store", "etcd")
		if res.err == nil || !strings.Contains(res.stderr, "make bin/etcd") {
			t.Errorf("err %v, stderr %q; want the make target", res.err, res.stderr)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		binDir := requireStack(t, e2eStack)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		args := append([]string{"run", "--runs-dir", t.TempDir(), "--bin-dir", binDir, "--build", "never",
			"--store-port", fmt.Sprint(port)}, e2eStack.args()...)
		res := runCmd(t, lc, args...)
		if res.err == nil || !strings.Contains(res.stderr, fmt.Sprintf("127.0.0.1:%d", port)) || !strings.Contains(res.stderr, "already in use") {
			t.Errorf("err %v, stderr %q; want the taken port named", res.err, res.stderr)
		}
	})
}

func mustStore(t *testing.T, runs string) *runstate.Store {
	t.Helper()
	s, err := runstate.New(runs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// checkNodeLeases checks that kwok keeps a Lease of the asked duration for
// each of the cluster's nodes (--node-lease-duration reaches kwok).
func checkNodeLeases(t *testing.T, kubeconfig string, nodes int, seconds int32) {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var leases []coordinationv1.Lease
	for {
		list, err := cs.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
		if err == nil {
			leases = list.Items
		}
		if len(leases) >= nodes {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node Leases: %d of %d after a minute (last error: %v)", len(leases), nodes, err)
		case <-time.After(time.Second):
		}
	}
	for _, l := range leases {
		switch d := l.Spec.LeaseDurationSeconds; {
		case d == nil:
			t.Errorf("Lease %s: no duration, want %d s", l.Name, seconds)
		case *d != seconds:
			t.Errorf("Lease %s: duration %d s, want %d s", l.Name, *d, seconds)
		}
	}
}

// TestInterruptStopsEverything presses Ctrl-C (SIGINT) on a run while its
// nodes are being created: the command says it was interrupted and where the
// run directory is, and every process it started is gone, with nothing left
// recorded as running.
func TestInterruptStopsEverything(t *testing.T) {
	binDir := requireStack(t, e2eStack)
	lc := localcluster(t)
	runs := t.TempDir()
	args := append([]string{"run", "--bin-dir", binDir, "--runs-dir", runs, "--build", "never",
		"--nodes", "5000", "--pods", "5000", "--progress", "1s"}, e2eStack.args()...)
	cmd := exec.Command(lc, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var (
		mu   sync.Mutex
		errb strings.Builder
	)
	inNodes := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			mu.Lock()
			errb.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !seen && strings.Contains(sc.Text(), `"phase":"nodes"`) {
				seen = true
				close(inNodes)
			}
		}
	}()
	select {
	case <-inNodes:
	case <-time.After(3 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no nodes-phase progress within 3 minutes:\n%s", errb.String())
	}
	st, err := mustStore(t, runs).Load()
	if err != nil || st == nil {
		t.Fatalf("no active run recorded during the run: %v", err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { <-scanned; exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("localcluster still running 2 minutes after SIGINT")
	}
	mu.Lock()
	out := errb.String()
	mu.Unlock()
	if err == nil {
		t.Errorf("interrupted run exited 0")
	}
	if !strings.Contains(out, "interrupted") || !strings.Contains(out, "run directory kept: "+st.RunDir) {
		t.Errorf("stderr does not say the run was interrupted and where its directory is:\n%s", lastLines(out, 5))
	}
	if len(st.Processes) < 4 {
		t.Errorf("only %d processes were recorded: %+v", len(st.Processes), st.Processes)
	}
	for _, p := range st.Processes {
		if proc.Alive(p.PID) {
			t.Errorf("%s (pid %d) still running after the interrupt", p.Name, p.PID)
		}
	}
	if pids, _ := filepath.Glob(filepath.Join(st.RunDir, "*.pid")); len(pids) != 0 {
		t.Errorf("pid files left after the interrupt: %v", pids)
	}
	if _, err := os.Stat(filepath.Join(st.RunDir, "kube-apiserver.log")); err != nil {
		t.Errorf("run directory not kept: %v", err)
	}
	if left, _ := mustStore(t, runs).Load(); left != nil {
		t.Errorf("active run still recorded after the interrupt: %+v", left)
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
