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
//   - A node costs its POST, kwok's status PATCHes (node_status_patches), its
//     Lease POST and the shard label PATCH in the apiserver and the store,
//     kwok_object_ms in kwok and makenodes_object_ms in makenodes.
//   - A pod costs its four apiserver writes and their store writes (as in
//     APIServer and StoreLoads), the member's pod watch, the member's F plus
//     filter and score on 5% of the nodes (sched_plain_us_per_node:
//     localcluster's pods are plain), kwok_object_ms and makenodes_object_ms.
//   - In the background, kwok renews each node's Lease every quarter of the
//     Lease duration, but one busy controller gets through at most
//     kwok_renewals_per_s (the rest lag; nothing here reads them), and sends
//     a node heartbeat every node_heartbeat_s.
//
// Memory is the sum of the processes' RSS lines (api_rss_*, store_rss_*,
// kwok_rss_*, sched_rss_*).
func Local(f *costs.Figures, r costs.Run) (LocalPrediction, error) {
	n, p := float64(r.Nodes), float64(r.Pods)
	cores := f.LocalCores.Value
	controllers := math.Ceil(n / 10000)
	other, update, create := f.APIOtherWriteMs.Value, f.StoreUpdateMs.Value, f.StoreCreateMs.Value

	// Background CPU per second with the given number of nodes.
	background := func(nodes float64) cpu {
		renewals := math.Min(nodes/(r.LeaseDurationS/4), controllers*f.KwokRenewalsPerS.Value)
		heartbeats := nodes / f.NodeHeartbeatS.Value
		return cpu{
			api:   renewals*f.APILeaseUpdateMs.Value + heartbeats*other,
			store: (renewals + heartbeats) * update,
			kwok:  (renewals + heartbeats) * f.KwokLeaseMs.Value,
		}.scaled(1.0 / 1000)
	}

	patches := f.NodeStatusPatches.Value + 1 // kwok's status PATCHes and the shard label
	node := cpu{
		api:       f.APINodeCreateMs.Value + (patches+1)*other, // the node, its PATCHes, its Lease POST
		store:     2*create + patches*update,                   // the node and its Lease, the PATCHes
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

	// The nodes phase: nodes appear at a steady rate, so on average half of
	// them are renewing.
	bgNodes, bgPods := background(n/2), background(n)
	lp := LocalPrediction{Run: r, PodMs: pod.sum(), NodeMs: node.sum(), BackgroundCores: bgPods.sum()}
	free := cores - bgNodes.sum()
	if free <= 0 {
		return lp, fmt.Errorf("%s: Lease renewals alone need %.2f of %.2f cores during the nodes phase", r.Name, bgNodes.sum(), cores)
	}
	lp.NodesPhaseS = n * node.sum() / 1000 / free
	if free = cores - bgPods.sum(); free <= 0 {
		return lp, fmt.Errorf("%s: Lease renewals alone need %.2f of %.2f cores", r.Name, bgPods.sum(), cores)
	}
	lp.PodsPerS = free * 1000 / pod.sum()
	podsPhaseS := p / lp.PodsPerS

	total := node.scaled(n / 1000).plus(bgNodes.scaled(lp.NodesPhaseS)).
		plus(pod.scaled(p / 1000)).plus(bgPods.scaled(podsPhaseS))
	lp.CPUSeconds = map[string]float64{procAPI: total.api, procStore: total.store, procKwok: total.kwok, procSched: total.sched}

	lp.RSSMiB = f.APIRSSBaseMiB.Value + (n+p)*f.APIRSSKiBPerObject.Value/kib +
		f.StoreRSSBaseMiB.Value + (n+p)*f.StoreRSSKiBPerObject.Value/kib +
		controllers*f.KwokRSSBaseMiB.Value + n*f.KwokRSSKiBPerNode.Value/kib +
		f.SchedRSSBaseMiB.Value + n*f.SchedRSSKiBShardNode.Value/kib + p*f.SchedRSSKiBPerPod.Value/kib
	return lp, nil
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
