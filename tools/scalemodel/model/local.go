package model

import (
	"fmt"
	"math"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// Process names in a localcluster run, as the data file's cpu_s keys.
const (
	procAPI   = "kube-apiserver"
	procStore = "memetcd"
	procKwok  = "kwok"
	procSched = "distscheduler"
)

// cpu is CPU time (ms, or ms per second) by process.
type cpu struct{ api, store, kwok, sched, makenodes float64 }

func (c cpu) sum() float64 { return c.api + c.store + c.kwok + c.sched + c.makenodes }

func (c cpu) scaled(k float64) cpu {
	return cpu{c.api * k, c.store * k, c.kwok * k, c.sched * k, c.makenodes * k}
}

func (c cpu) plus(d cpu) cpu {
	return cpu{c.api + d.api, c.store + d.store, c.kwok + d.kwok, c.sched + d.sched, c.makenodes + d.makenodes}
}

// LocalPrediction is the model's figure for a localcluster run: every
// process (memetcd, one kube-apiserver, kwok, one distscheduler member,
// makenodes) on one machine, so a phase lasts as long as its CPU takes on the
// machine's cores (local_cores).
type LocalPrediction struct {
	Run         costs.Run
	PodsPerS    float64
	NodesPhaseS float64
	RSSMiB      float64
	// CPUSeconds is each process's CPU over the run, by the data file's names.
	CPUSeconds map[string]float64
	// PodMs and NodeMs are the CPU one pod and one node cost, all processes.
	PodMs, NodeMs float64
	// BackgroundCores is what Lease renewals and node heartbeats take
	// during the pods phase.
	BackgroundCores float64
}

// localPctToScore and localMinToScore: localcluster's distscheduler searches
// 5% of the nodes, and upstream never fewer than 100.
const localPctToScore, localMinToScore = 0.05, 100

// Local predicts one localcluster run (memetcd + distscheduler, one member).
//
//   - A node costs its POST, kwok's status PATCHes (node_status_patches) and
//     its Lease POST in the apiserver and the store, kwok_object_ms in kwok
//     and makenodes_object_ms in makenodes. The shard label costs no write:
//     the leader's node webhook adds it to the POST (localcluster/BENCHMARKS.md
//     measures 3.07 requests per node).
//   - A pod costs its four apiserver writes and their store writes (as in
//     APIServer and StoreLoads), the member's pod watch, the member's F plus
//     filter and score on 5% of the nodes (sched_plain_us_per_node:
//     localcluster's pods are plain), kwok_object_ms and makenodes_object_ms.
//   - In the background, kwok renews each node's Lease every quarter of the
//     Lease duration and sends a node heartbeat every node_heartbeat_s, the
//     first of each one interval after it created the node: a run shorter
//     than the interval pays none (the 10K run with 10 min Leases: 150 s
//     between renewals, 113 s of run). One busy controller gets through at
//     most kwok_renewals_per_s renewals (the rest lag; nothing here reads
//     them).
//
// Nodes are created at an even rate over the nodes phase. A phase lasts its
// CPU over local_cores, or its kube-apiserver CPU over local_api_cores if
// that is longer (the one apiserver gets about one core of the two in every
// quiet run, and is then the bound); since the background a phase pays
// grows with its length, each phase's length is solved for.
//
// Memory is the sum of the processes' RSS lines (api_rss_*, store_rss_*,
// kwok_rss_*, sched_rss_*).
func Local(f *costs.Figures, r costs.Run) (LocalPrediction, error) {
	n, p := float64(r.Nodes), float64(r.Pods)
	cores, apiCores := f.LocalCores.Value, f.LocalAPICores.Value
	controllers := math.Ceil(n / 10000)
	other, update, create := f.APIOtherWriteMs.Value, f.StoreUpdateMs.Value, f.StoreCreateMs.Value
	renewS, heartbeatS := r.LeaseDurationS/4, f.NodeHeartbeatS.Value
	maxRenewalsPerS := controllers * f.KwokRenewalsPerS.Value
	renewal := cpu{api: f.APILeaseUpdateMs.Value, store: update, kwok: f.KwokLeaseMs.Value}
	heartbeat := cpu{api: other, store: update, kwok: f.KwokLeaseMs.Value}

	// steady is the background CPU per second (ms/s) once the given number
	// of nodes all renew and heartbeat: what a long phase pays.
	steady := func(nodes float64) cpu {
		return renewal.scaled(math.Min(nodes/renewS, maxRenewalsPerS)).plus(heartbeat.scaled(nodes / heartbeatS))
	}
	// background is the CPU (ms) of the renewals and heartbeats between a
	// and b when the nodes were created over [0, nodesPhase].
	background := func(nodesPhase, a, b float64) cpu {
		renewals := math.Min(periodic(n, nodesPhase, renewS, a, b), maxRenewalsPerS*(b-a))
		return renewal.scaled(renewals).plus(heartbeat.scaled(periodic(n, nodesPhase, heartbeatS, a, b)))
	}

	node := cpu{
		api:       f.APINodeCreateMs.Value + (f.NodeStatusPatches.Value+1)*other, // the node, its status PATCHes, its Lease POST
		store:     2*create + f.NodeStatusPatches.Value*update,                   // the node and its Lease, the PATCHes
		kwok:      f.KwokObjectMs.Value,
		makenodes: f.MakenodesObjectMs.Value,
	}
	evaluated := math.Max(localMinToScore, localPctToScore*n)
	pod := cpu{
		api: f.APIPodCreateMs.Value + (apiWritesPerPod-1)*other +
			f.MemberPodEvents.Value*f.APIWatchEventUs.Value/1000, // one member's pod watch
		store:     2*create + 2*update, // pod and event; Binding and status
		kwok:      f.KwokObjectMs.Value,
		sched:     f.SchedFixedMs.Value + evaluated*f.SchedPlainUsPerNode.Value/1000,
		makenodes: f.MakenodesObjectMs.Value,
	}

	lp := LocalPrediction{Run: r, PodMs: pod.sum(), NodeMs: node.sum(), BackgroundCores: steady(n).sum() / 1000}
	// A phase that never ends: on average half the nodes renew during the
	// nodes phase, all of them during a long pods phase.
	if bg := steady(n/2).sum() / 1000; bg >= cores {
		return lp, fmt.Errorf("%s: Lease renewals alone need %.2f of %.2f cores during the nodes phase", r.Name, bg, cores)
	}
	if bg := steady(n).sum() / 1000; bg >= cores {
		return lp, fmt.Errorf("%s: Lease renewals alone need %.2f of %.2f cores", r.Name, bg, cores)
	}
	if bg := steady(n).api / 1000; bg >= apiCores {
		return lp, fmt.Errorf("%s: Lease renewals alone need %.2f of the kube-apiserver's %.2f cores", r.Name, bg, apiCores)
	}
	lp.NodesPhaseS = solvePhase(node.scaled(n), cores, apiCores, func(t float64) cpu { return background(t, 0, t) })
	tn := lp.NodesPhaseS
	podsPhaseS := solvePhase(pod.scaled(p), cores, apiCores, func(t float64) cpu { return background(tn, tn, tn+t) })
	lp.PodsPerS = p / podsPhaseS
	bgNodes, bgPods := background(tn, 0, tn), background(tn, tn, tn+podsPhaseS)
	lp.BackgroundCores = bgPods.sum() / podsPhaseS / 1000

	total := node.scaled(n).plus(bgNodes).plus(pod.scaled(p)).plus(bgPods).scaled(1.0 / 1000)
	lp.CPUSeconds = map[string]float64{procAPI: total.api, procStore: total.store, procKwok: total.kwok, procSched: total.sched}

	lp.RSSMiB = f.APIRSSBaseMiB.Value + (n+p)*f.APIRSSKiBPerObject.Value/kib +
		f.StoreRSSBaseMiB.Value + (n+p)*f.StoreRSSKiBPerObject.Value/kib +
		controllers*f.KwokRSSBaseMiB.Value + n*f.KwokRSSKiBPerNode.Value/kib +
		f.SchedRSSBaseMiB.Value + n*f.SchedRSSKiBShardNode.Value/kib + p*f.SchedRSSKiBPerPod.Value/kib
	return lp, nil
}

// solvePhase is the length t (s) of a phase doing work (ms of CPU) and
// paying background(t) (ms) as well: the longer of its CPU over cores and
// its kube-apiserver CPU over apiCores. background grows slower than the
// cores it has (Local checks the steady rates first), so the iteration
// converges.
func solvePhase(work cpu, cores, apiCores float64, background func(t float64) cpu) float64 {
	length := func(bg cpu) float64 {
		all := work.plus(bg)
		return math.Max(all.sum()/cores, all.api/apiCores) / 1000
	}
	t := length(cpu{})
	for range 10000 {
		next := length(background(t))
		if math.Abs(next-t) <= 1e-9*next {
			return next
		}
		t = next
	}
	return t
}

// periodic counts the events in (a, b] of n nodes created at an even rate
// over [0, created], each node's every interval seconds from its creation
// (the first one interval after it).
func periodic(n, created, interval, a, b float64) float64 {
	if n <= 0 || b <= a {
		return 0
	}
	count := 0.0
	for k := 1.0; k*interval < b; k++ {
		// The k-th events fall evenly over [k*interval, created+k*interval].
		first, last := k*interval, created+k*interval
		if created <= 0 {
			if first > a {
				count += n
			}
			continue
		}
		if lo, hi := math.Max(a, first), math.Min(b, last); hi > lo {
			count += n * (hi - lo) / created
		}
	}
	return count
}

// RelErr is (predicted - measured) / measured.
func RelErr(predicted, measured float64) float64 { return (predicted - measured) / measured }

// CheckRow compares one measured figure of a localcluster run with the model.
type CheckRow struct {
	Run       string
	Figure    string
	Predicted float64
	Measured  float64
	Err       float64 // RelErr(Predicted, Measured)
	// Diagnostic rows (CPU by process) show where the model's CPU goes
	// wrong; the tolerance applies to the others, the figures the model is
	// for (rates, phase times, memory).
	Diagnostic bool
}

// CheckLocal predicts every localcluster run in the data file and lists each
// figure the run measured beside the model's.
func CheckLocal(f *costs.File) ([]CheckRow, error) {
	var rows []CheckRow
	for _, r := range f.Runs {
		lp, err := Local(&f.Figures, r)
		if err != nil {
			return nil, fmt.Errorf("predict localcluster run: %w", err)
		}
		add := func(figure string, predicted, measured float64, diagnostic bool) {
			if measured > 0 {
				rows = append(rows, CheckRow{Run: r.Name, Figure: figure, Predicted: predicted, Measured: measured,
					Err: RelErr(predicted, measured), Diagnostic: diagnostic})
			}
		}
		add("pods/s", lp.PodsPerS, r.PodsPerS, false)
		add("nodes phase s", lp.NodesPhaseS, r.NodesPhaseS, false)
		add("RSS MiB (all)", lp.RSSMiB, r.RSSMiB, false)
		for _, proc := range []string{procAPI, procStore, procKwok, procSched} {
			add("CPU s "+proc, lp.CPUSeconds[proc], r.CPUSeconds[proc], true)
		}
	}
	return rows, nil
}
