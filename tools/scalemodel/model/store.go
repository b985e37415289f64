package model

import (
	"fmt"
	"math"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// Store is one memetcd instance, holding one resource. The kube-apiserver
// sends a resource to one set of etcd servers (--etcd-servers-overrides), so a
// resource cannot be spread over instances: each instance must carry all of
// its resource's writes, through one serial section (store_serial_us).
type Store struct {
	Resource string
	// Fixed load, whatever the pod rate (Lease renewals, node heartbeats).
	FixedWritesPerS float64
	FixedCPUMsPerS  float64
	FixedWhat       string
	FixedUse        float64 // share of the instance's usable cores or serial section
	// Load per pod.
	WritesPerPod float64
	CPUMsPerPod  float64
	Limit        Limit // zero when the instance takes no per-pod writes

	keys       float64 // objects held
	objBytes   float64
	overwrites float64 // per second, kept until compaction
	overPerPod float64 // overwrites per pod, kept until compaction
	m          Machines
	f          *costs.Figures
}

// StoreLoads splits the store by resource (Leases, Events and Pods on
// instances of their own through --etcd-servers-overrides, everything else on
// a default one) and charges each write its measured CPU: store_create_ms for a create,
// store_update_ms for an update (GuaranteedUpdate's Txn).
func StoreLoads(f *costs.Figures, c Cluster, m Machines) []Store {
	n, p := float64(c.Nodes), float64(c.Pods)
	create, update := f.StoreCreateMs.Value, f.StoreUpdateMs.Value
	leases := Store{Resource: "leases", FixedWritesPerS: n / c.LeaseRenewS, FixedWhat: "node Lease renewals",
		keys: n, objBytes: f.LeaseBytes.Value}
	leases.FixedCPUMsPerS = leases.FixedWritesPerS * update
	leases.overwrites = leases.FixedWritesPerS

	nodes := Store{Resource: "default (nodes, ...)", FixedWritesPerS: n / f.NodeHeartbeatS.Value, FixedWhat: "node status heartbeats",
		keys: n, objBytes: f.NodeBytes.Value}
	nodes.FixedCPUMsPerS = nodes.FixedWritesPerS * update
	nodes.overwrites = nodes.FixedWritesPerS

	// A pod is created, bound and marked Running: one create, two updates.
	pods := Store{Resource: "pods", WritesPerPod: 3, CPUMsPerPod: create + 2*update,
		keys: p, objBytes: f.PodBytes.Value, overPerPod: 2}
	// The scheduler's Scheduled event: one create per pod.
	events := Store{Resource: "events", WritesPerPod: 1, CPUMsPerPod: create,
		keys: p, objBytes: f.EventBytes.Value}

	out := []Store{leases, events, pods, nodes}
	for i := range out {
		s := &out[i]
		s.m, s.f = m, f
		usable := m.StoreCores * m.Utilisation
		serialUs := f.StoreSerialUs.Value
		s.FixedUse = math.Max(s.FixedCPUMsPerS/1000/usable, s.FixedWritesPerS*serialUs/1e6)
		if s.WritesPerPod > 0 {
			cpu := usable * 1000 / s.CPUMsPerPod
			serial := 1e6 / (s.WritesPerPod * serialUs)
			s.Limit = Limit{Name: "memetcd " + s.Resource + " CPU", PodsPerS: cpu, Figure: "store_update_ms"}
			if s.WritesPerPod == 1 {
				s.Limit.Figure = "store_create_ms"
			}
			if serial < cpu {
				s.Limit = Limit{Name: "memetcd " + s.Resource + " serial section", PodsPerS: serial, Figure: "store_serial_us"}
			}
		}
	}
	return out
}

// Component is this instance's line in the answer at the given pod rate.
// Memory: every object (key, value, store_key_overhead_bytes) plus every
// overwrite kept until the apiserver compacts (store_history_bytes and the old
// value), for CompactionS at the current write rate.
func (s Store) Component(podsPerS float64) Component {
	keyBytes := 64.0 // a /registry/<resource>/<namespace>/<name> key
	held := s.keys * (keyBytes + s.objBytes + s.f.StoreKeyOverheadBytes.Value)
	overPerS := s.overwrites + podsPerS*s.overPerPod
	history := overPerS * s.m.CompactionS * (s.f.StoreHistoryBytes.Value + s.objBytes)
	writes := s.FixedWritesPerS + podsPerS*s.WritesPerPod
	return Component{
		Name: "memetcd " + s.Resource, Count: 1, CoresEach: s.m.StoreCores,
		CoresUsed: (s.FixedCPUMsPerS + podsPerS*s.CPUMsPerPod) / 1000,
		MemGiB:    (s.f.StoreRSSBaseMiB.Value*mib + held + history) / gib,
		Note: fmt.Sprintf("%.0f writes/s, serial section %.0f%% busy", writes,
			100*writes*s.f.StoreSerialUs.Value/1e6),
	}
}
