// Package model predicts what a k8s1m cluster of N nodes and P pods needs from
// the per-unit costs in package costs: machines and cores per component,
// memory, messages, the time to schedule P pods, and which limit binds first.
//
// Each component has one file and one function, and each rule cites the
// figures it uses by their name in docs/scale-costs.json. The rules are
// deliberately simple (CPU per unit × units per second, one serial section per
// process where the code has one); docs/scale.md says what they leave out.
package model

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// Cluster is the workload asked of the model.
type Cluster struct {
	Nodes int
	Pods  int
	// LeaseRenewS is how often each node renews its Lease (kubelets and kwok
	// with 40 s Leases: every 10 s).
	LeaseRenewS float64
}

// Machines says how large each component's machine is and how busy it may be
// planned to run.
type Machines struct {
	APIServerCores float64
	StoreCores     float64
	MemberCores    float64 // also the member's filter/score parallelism
	// SchedulingLoops is how many pods a member takes through its scheduling
	// cycle at once: distscheduler runs --num-concurrent-schedulers loops
	// (default 8, the original's value), at most one per core (GOMAXPROCS).
	SchedulingLoops int
	RelayCores      float64
	KwokCores       float64
	// Utilisation is the share of each machine's cores the plan may use.
	Utilisation float64
	// Fanout is the relay tree's fanout (relay.DefaultConfig: 16).
	Fanout int
	// NodesPerKwok is how many nodes one kwok controller manages (the
	// original's -perKwokGroup: 10,000).
	NodesPerKwok int
	// CompactionS is the kube-apiserver's compaction interval (default 5 min):
	// the store keeps every overwrite that long.
	CompactionS float64
}

// DefaultMachines is the shape the 1M answer is given for: large machines for
// the apiservers and the stores (as the original used), mid-size members.
func DefaultMachines() Machines {
	return Machines{
		APIServerCores:  64,
		StoreCores:      96,
		MemberCores:     16,
		SchedulingLoops: 8,
		RelayCores:      16,
		KwokCores:       4,
		Utilisation:     0.75,
		Fanout:          16,
		NodesPerKwok:    10000,
		CompactionS:     300,
	}
}

// Validate reports a configuration the model cannot evaluate.
func (c Cluster) Validate() error {
	if c.Nodes < 1 || c.Pods < 1 {
		return fmt.Errorf("nodes %d, pods %d: both must be at least 1", c.Nodes, c.Pods)
	}
	if c.LeaseRenewS <= 0 {
		return fmt.Errorf("lease renewal interval %v s: must be positive", c.LeaseRenewS)
	}
	return nil
}

// Validate reports a machine shape the model cannot evaluate.
func (m Machines) Validate() error {
	for name, v := range map[string]float64{
		"apiserver cores": m.APIServerCores, "store cores": m.StoreCores, "member cores": m.MemberCores,
		"relay cores": m.RelayCores, "kwok cores": m.KwokCores, "compaction interval": m.CompactionS,
	} {
		if v <= 0 {
			return fmt.Errorf("%s %v: must be positive", name, v)
		}
	}
	if m.Utilisation <= 0 || m.Utilisation > 1 {
		return fmt.Errorf("utilisation %v: must be in (0, 1]", m.Utilisation)
	}
	if m.SchedulingLoops < 1 {
		return fmt.Errorf("scheduling loops %d: must be at least 1", m.SchedulingLoops)
	}
	if m.Fanout < 2 {
		return fmt.Errorf("fanout %d: must be at least 2", m.Fanout)
	}
	if m.NodesPerKwok < 1 {
		return fmt.Errorf("nodes per kwok controller %d: must be at least 1", m.NodesPerKwok)
	}
	return nil
}

// Component is one kind of process in the answer.
type Component struct {
	Name      string
	Count     int     // processes (one per machine)
	CoresEach float64 // machine size
	// CoresUsed is the CPU each process uses at the plan's pod rate.
	CoresUsed float64
	MemGiB    float64 // memory each process holds
	Note      string
}

// Limit is one ceiling on the cluster's pods/s.
type Limit struct {
	Name     string
	PodsPerS float64
	// Figure is the data-file figure whose term is largest in this limit: the
	// one to cut to raise it.
	Figure string
}

// Prediction is the model's answer for one configuration.
type Prediction struct {
	Cluster  Cluster
	Machines Machines
	Members  int // scheduling members, the leader included
	Relays   int // relay-only members
	Depth    int // tree levels below the root

	Components []Component
	Limits     []Limit // every ceiling, lowest first
	PodsPerS   float64 // the lowest ceiling
	// ScheduleS is the time to schedule every pod: P at the pod rate plus one
	// pod's trip through the tree.
	ScheduleS float64
	// InFlight is how many pods must be in the tree at once to keep the rate
	// (pod rate × one pod's trip); distscheduler's leader keeps
	// 4 × --num-concurrent-schedulers.
	InFlight                int
	NumConcurrentSchedulers int
	Messages                Messages
	Feasible                bool   // false when a fixed load (Leases) alone overruns a process
	Problem                 string // why not feasible
}

// Bottleneck is the limit that sets the pod rate.
func (p Prediction) Bottleneck() Limit { return p.Limits[0] }

// Predict evaluates the cluster with the given number of scheduling members.
func Predict(f *costs.Figures, c Cluster, m Machines, members int) Prediction {
	p := Prediction{Cluster: c, Machines: m, Members: members, Feasible: true}
	p.Relays, p.Depth = Relays(members, m.Fanout)

	member := Member(f, c, m, members)
	relay := Relay(f, m)
	stores := StoreLoads(f, c, m)
	kwok := Kwok(f, c, m)
	p.Limits = append(p.Limits, member.Limits...)
	if p.Relays > 0 {
		p.Limits = append(p.Limits, relay.Limit)
	}
	for _, s := range stores {
		if s.Limit.PodsPerS > 0 {
			p.Limits = append(p.Limits, s.Limit)
		}
		if s.FixedUse > 1 {
			p.problem("memetcd %s: %s alone need %.0f%% of its usable cores or its serial section", s.Resource, s.FixedWhat, 100*s.FixedUse)
		}
	}
	p.Limits = append(p.Limits, kwok.Limit)
	if kwok.FixedUse > 1 {
		p.problem("kwok controller: its Lease renewals alone need %.0f%% of its usable cores", 100*kwok.FixedUse)
	}
	sortLimits(p.Limits)
	p.PodsPerS = p.Limits[0].PodsPerS

	// One pod's trip: scatter down the levels, the member's loop, the report
	// to the gatherer and the verdict back (relay_hop_ms per hop).
	tripS := (float64(p.Depth+2)*f.RelayHopMs.Value + member.LoopMs) / 1000
	p.ScheduleS = float64(c.Pods)/p.PodsPerS + tripS
	p.InFlight = int(math.Ceil(p.PodsPerS * tripS))
	p.NumConcurrentSchedulers = max(8, (p.InFlight+3)/4)

	api := APIServer(f, c, m, p.PodsPerS, members)
	p.Components = []Component{api}
	for _, s := range stores {
		p.Components = append(p.Components, s.Component(p.PodsPerS))
	}
	p.Components = append(p.Components,
		member.Component(p.PodsPerS),
		relay.Component(p.Relays, p.PodsPerS),
		kwok.Component(p.PodsPerS),
	)
	p.Messages = MessagesPerPod(p.Members, p.Relays, f.MemberPodEvents.Value)
	return p
}

// problem records why the configuration cannot work; several may.
func (p *Prediction) problem(format string, args ...any) {
	p.Feasible = false
	if p.Problem != "" {
		p.Problem += "; "
	}
	p.Problem += fmt.Sprintf(format, args...)
}

func sortLimits(ls []Limit) {
	slices.SortStableFunc(ls, func(a, b Limit) int { return cmp.Compare(a.PodsPerS, b.PodsPerS) })
}

// ceilDiv is ⌈need/each⌉ for positive loads, at least 1.
func ceilDiv(need, each float64) int {
	return max(1, int(math.Ceil(need/each-1e-9)))
}

const apiserverName, kwokName = "kube-apiserver", "kwok controllers"

const kib, mib, gib = 1024.0, 1024.0 * 1024, 1024.0 * 1024 * 1024

// TFVars are the terraform root variables the answer sets
// (terraform/examples/1m-nodes.tfvars), by variable name. terraform's
// kube_apiserver_count counts the standalone apiservers besides the k3s
// server's own, so it is one less than the model's count.
func (p Prediction) TFVars() map[string]int {
	var api, kwok int
	for _, c := range p.Components {
		switch c.Name {
		case apiserverName:
			api = c.Count
		case kwokName:
			kwok = c.Count
		}
	}
	return map[string]int{
		"node_count":                p.Cluster.Nodes,
		"kwok_controllers":          kwok,
		"nodes_per_kwok_controller": p.Machines.NodesPerKwok,
		"kube_apiserver_count":      api - 1,
		"distscheduler_replicas":    p.Members,
		"relay_replicas":            p.Relays,
		"num_concurrent_schedulers": p.NumConcurrentSchedulers,
	}
}

// TFVarNames lists TFVars' keys in the order the answer prints them.
var TFVarNames = []string{"node_count", "kwok_controllers", "nodes_per_kwok_controller",
	"kube_apiserver_count", "distscheduler_replicas", "relay_replicas", "num_concurrent_schedulers"}
