package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/internal/testcluster"
	"github.com/k8s1m/k8s1m/distscheduler/internal/workload"
	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/relaytree"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestMemberFixedCost measures F, the CPU a scheduling member spends per pod
// whatever the size of its shard, at the rates a large cluster runs at,
// where every gRPC stream of the tree carries batches of items.
// TestBenchmark cannot: there the pods come through the kube-apiserver,
// which on this machine caps the rate near 230 pods/s, so every message
// carries one item.
//
// Here the test is the tree's root (the leader's place): it takes pods the
// kube-apiserver already stores, encodes them as the leader's intake does,
// and keeps K8S1M_BENCH_WINDOW items in the tree, refilling it
// K8S1M_BENCH_BATCH items at a time (default 1: as decisions arrive; see
// feedTree for what a larger batch stands for). The members run in a child
// process exactly as in TestBenchmark (app.Run, upstream's scheduler over a
// shard, the relay tree on loopback), except that none of them leads. A
// winner binds its pod through the real kube-apiserver. The same
// K8S1M_BENCH_MEMBER_NODES nodes (roomy, so that no pod is refused) are
// split among 1, 4 and 16 members, fewer than upstream's 100-node search
// target so that every member evaluates its whole shard: the nodes
// evaluated per pod, and so the cost that grows with them, are the same in
// every run, and F is the slope of the child's CPU per pod over the member
// count. K8S1M_BENCH_LOOPS sets the members' --num-concurrent-schedulers
// (scheduling loops, at most GOMAXPROCS; default 8).
//
//	K8S1M_BENCH=1 go test -run TestMemberFixedCost -timeout 30m -v ./test/bench/
func TestMemberFixedCost(t *testing.T) {
	if os.Getenv("K8S1M_BENCH") != "1" {
		t.Skip("set K8S1M_BENCH=1 to run the member fixed-cost benchmark")
	}
	c := testcluster.Start(t)
	ctx := context.Background()
	numNodes := envInts("K8S1M_BENCH_MEMBER_NODES", "1600")[0]
	pods := envInts("K8S1M_BENCH_PODS", "3000")[0]
	window := envInts("K8S1M_BENCH_WINDOW", "64")[0]
	batch := envInts("K8S1M_BENCH_BATCH", "1")[0]
	if batch < 1 || batch > window {
		t.Fatalf("K8S1M_BENCH_BATCH=%d: must be between 1 and the window (%d)", batch, window)
	}
	replicas := envInts("K8S1M_BENCH_REPLICAS", "1,4,16")
	if err := workload.Parallel(ctx, numNodes, 16, func(ctx context.Context, i int) error {
		_, err := c.Client.CoreV1().Nodes().Create(ctx, roomyNode(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg := distConfig(t, c)
	var rows []memberRow
	for _, m := range replicas {
		rows = append(rows, runMemberPath(t, c, cfg, m, numNodes, pods, window, batch))
	}
	report := memberTable(rows)
	t.Log("\n" + report)
	if out := os.Getenv("K8S1M_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// roomyNode is workload node i with room for any number of the plain
// pods, and no taint.
func roomyNode(i int) *v1.Node {
	n := workload.Node(i)
	delete(n.Labels, workload.GPULabel)
	n.Spec.Taints = nil
	room := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse("1000"),
		v1.ResourceMemory: resource.MustParse("4Ti"),
		v1.ResourcePods:   resource.MustParse("100000"),
	}
	n.Status.Capacity, n.Status.Allocatable = room, room
	return n
}

// memberRow is one member count's measurement.
type memberRow struct {
	Members, Nodes, Pods, Window, Batch int
	PodsPerSec                          float64
	// CPUPerPodMs is the members' process CPU per pod from the first item
	// to the last pod bound; NetCPUPerPodMs less the idle rate.
	CPUPerPodMs, NetCPUPerPodMs, IdleCores float64
	EvaluatedPerPod                        float64
	// RelayMsgs is the relay messages a member sent per pod (over the
	// child's life, warm-up included).
	RelayMsgs        float64
	NoWinner         int
	Dropped, Expired float64
}

func runMemberPath(t *testing.T, c *testcluster.Cluster, cfgPath string, m, numNodes, pods, window, batch int) memberRow {
	t.Helper()
	ctx := context.Background()
	// The shards: node j belongs to member r<j mod m>.
	for j := range numNodes {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"r%d"}}}`, shard.Label, j%m)
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, fmt.Sprintf("node-%06d", j), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ns := fmt.Sprintf("member-x%d-%d", m, time.Now().UnixNano())
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := workload.Parallel(ctx, pods, 32, func(ctx context.Context, i int) error {
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, workload.Pod(ns, i, "dist-scheduler", true), metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	items := podItems(t, c, ns)

	root := startRoot(t)
	defer root.Shutdown()
	// Not t.TempDir: the child's log outlives a failed run.
	dir, err := os.MkdirTemp("", fmt.Sprintf("member-x%d-", m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	ch := startChild(t, dir, cfgPath, m, envSeed+"="+root.GossipAddr(), envInFlight+"="+strconv.Itoa(window))
	waitFor(t, time.Minute, "the root sees every member", func() bool { return root.MemberCount() == m })

	pid := ch.cmd.Process.Pid
	idleWindow := 3 * time.Second
	idle0, _ := testcluster.CPUSeconds(pid)
	time.Sleep(idleWindow)
	idle1, _ := testcluster.CPUSeconds(pid)
	idleCores := (idle1 - idle0) / idleWindow.Seconds()

	cpu0, _ := testcluster.CPUSeconds(pid)
	start := time.Now()
	noWinner := feedTree(t, root, items, window, batch)
	decided := time.Since(start)
	waitFor(t, 5*time.Minute, "every won pod bound", func() bool {
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false
		}
		bound := 0
		for _, p := range l.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == pods-noWinner
	})
	cpu1, _ := testcluster.CPUSeconds(pid)
	elapsed := time.Since(start)

	s, err := ch.stop()
	if err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if err := c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	r := memberRow{
		Members: m, Nodes: numNodes, Pods: pods, Window: window, Batch: batch,
		PodsPerSec:      float64(pods) / decided.Seconds(),
		CPUPerPodMs:     (cpu1 - cpu0) * 1000 / float64(pods),
		NetCPUPerPodMs:  max(0, cpu1-cpu0-idleCores*elapsed.Seconds()) * 1000 / float64(pods),
		IdleCores:       idleCores,
		EvaluatedPerPod: s.NodesEvaluated / float64(pods),
		RelayMsgs:       s.RelayMessages / float64(pods) / float64(m),
		NoWinner:        noWinner,
		Dropped:         s.ItemsDropped, Expired: s.ItemsExpired,
	}
	t.Logf("x%d: %.0f pods/s, %.3f ms CPU/pod (%.3f net), %.1f nodes evaluated/pod, %.2f relay messages/pod/member, %d without a winner, %.0f dropped, %.0f expired, %.0f searches redone (claims refused)",
		m, r.PodsPerSec, r.CPUPerPodMs, r.NetCPUPerPodMs, r.EvaluatedPerPod, r.RelayMsgs, noWinner, r.Dropped, r.Expired, s.ClaimsRefused)
	if noWinner*100 > pods {
		t.Errorf("x%d: %d of %d pods without a winner (log %s)", m, noWinner, pods, ch.log.Name())
	}
	return r
}

// podItems reads the pending pods of ns and encodes each as the leader's
// intake does: the pod without its managed fields, Kubernetes protobuf.
func podItems(t *testing.T, c *testcluster.Cluster, ns string) []tree.Item {
	t.Helper()
	l, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]tree.Item, 0, len(l.Items))
	for i := range l.Items {
		p := &l.Items[i]
		p.ManagedFields = nil
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, tree.Item{Key: podpath.Key(p), Pod: b})
	}
	return items
}

// startRoot starts the tree member the test submits through: relay-only,
// so it does not bid, on loopback.
func startRoot(t *testing.T) *relaytree.Member {
	t.Helper()
	rc := relay.DefaultLocalConfig()
	rc.Name = "bench-root"
	rc.Role = relay.RoleRelayOnly
	rc.DefaultDeadline = time.Second
	root, err := relaytree.Start(context.Background(), relaytree.Config{Relay: rc, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// feedTree submits items through root, keeping window of them undecided,
// refilling as decisions arrive, until every item is decided. It returns
// how many had no winner. It refills once at least batch items were
// decided since the last refill, in one submit: with batch 1 every stream
// of the tree carries what piles up at ~300 pods/s (mostly one item per
// message); a larger batch makes the messages carry several items, as
// they do at a large cluster's rate (at 14K pods/s a leader has ~14 pods
// to send every millisecond).
func feedTree(t *testing.T, root *relaytree.Member, items []tree.Item, window, batch int) int {
	t.Helper()
	decisions := make(chan tree.Decision, len(items))
	root.OnDecision(func(d tree.Decision) { decisions <- d })
	defer root.OnDecision(nil)
	const deadline = 5 * time.Second
	next := 0
	submit := func(n int) {
		n = min(n, len(items)-next)
		if n == 0 {
			return
		}
		if _, err := root.Submit(deadline, items[next:next+n]...); err != nil {
			t.Fatal(err)
		}
		next += n
	}
	submit(window)
	noWinner := 0
	reasons := map[string]int{}
	take := func(d tree.Decision) {
		if d.Winner == "" {
			noWinner++
			reasons[fmt.Sprintf("%d %s", d.NoWinner, d.Reason)]++
		}
	}
	defer func() {
		if noWinner > 0 {
			t.Logf("decisions without a winner, by reason: %v", reasons)
		}
	}()
	decided := 0 // since the last refill
	for done := 0; done < len(items); {
		select {
		case d := <-decisions:
			take(d)
		case <-time.After(time.Minute):
			t.Fatalf("no decision for a minute (%d of %d decided)", done, len(items))
		}
		got := 1
		// Take whatever else has arrived, then refill in one submit, as
		// the intake does.
		for more := true; more; {
			select {
			case d := <-decisions:
				take(d)
				got++
			default:
				more = false
			}
		}
		done += got
		if decided += got; decided >= batch {
			submit(decided)
			decided = 0
		}
	}
	return noWinner
}

// memberTable lists the rows and F: the least-squares slope of net CPU per
// pod over the member count, and each count against one member.
func memberTable(rows []memberRow) string {
	var b strings.Builder
	b.WriteString("| members | nodes | pods | window | batch | pods/s | CPU ms/pod | idle cores | net CPU ms/pod | nodes evaluated/pod | relay msgs/pod/member | no winner | dropped | expired |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %.0f | %.3f | %.3f | %.3f | %.1f | %.2f | %d | %.0f | %.0f |\n",
			r.Members, r.Nodes, r.Pods, r.Window, r.Batch, r.PodsPerSec, r.CPUPerPodMs, r.IdleCores, r.NetCPUPerPodMs,
			r.EvaluatedPerPod, r.RelayMsgs, r.NoWinner, r.Dropped, r.Expired)
	}
	var one *memberRow
	for i := range rows {
		if rows[i].Members == 1 {
			one = &rows[i]
		}
	}
	if one != nil {
		b.WriteString("\n| from | F net of idle (µs/pod/member) |\n|---|---|\n")
		for _, r := range rows {
			if r.Members > 1 {
				fmt.Fprintf(&b, "| 1 → %d | %.0f |\n", r.Members, (r.NetCPUPerPodMs-one.NetCPUPerPodMs)*1000/float64(r.Members-1))
			}
		}
	}
	if len(rows) >= 2 {
		var sx, sy, sxx, sxy float64
		for _, r := range rows {
			x, y := float64(r.Members), r.NetCPUPerPodMs
			sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		}
		n := float64(len(rows))
		if den := n*sxx - sx*sx; den != 0 {
			slope := (n*sxy - sx*sy) / den
			fmt.Fprintf(&b, "\nF (least-squares slope over %d member counts): %.0f µs per pod per member; intercept %.3f ms/pod\n",
				len(rows), slope*1000, (sy-slope*sx)/n)
		}
	}
	return b.String()
}
