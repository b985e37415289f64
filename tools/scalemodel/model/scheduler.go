package model

import (
	"fmt"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// MemberLoad is one distscheduler member's cost per pod and the ceilings it
// puts on the cluster's pods/s. Every member sees every pod, so the cluster
// schedules no faster than one member does.
type MemberLoad struct {
	Members     int
	Shard       float64 // nodes per member
	CPUMs       float64 // CPU per pod: F + c × shard/1000
	LoopMs      float64 // time per pod on one of the member's scheduling loops
	FixedMs     float64
	ShardMs     float64
	Limits      []Limit
	cores       float64
	rssBytes    float64
	gossipCores float64
	leaderMs    float64
}

// Member applies distscheduler/BENCHMARKS.md's split of a member's CPU per pod
// into F (sched_fixed_ms, paid for every pod) and c (sched_shard_ms_per_1k,
// per 1,000 nodes of its shard). Two ceilings follow:
//   - CPU: the member's cores over F + c·shard;
//   - the scheduling loops: a pod holds one of the member's SchedulingLoops
//     loops (distscheduler's --num-concurrent-schedulers, each on its own
//     snapshot) for the share of F spent there (sched_serial_share, measured
//     per loop) plus the shard work divided over the filter/score
//     parallelism (here: the member's cores), so the ceiling is the loops
//     over that time.
//
// The leader also forwards every pod to its children (its half of
// relay_us_per_message per child), which lowers its CPU ceiling a little.
func Member(f *costs.Figures, c Cluster, m Machines, members int) MemberLoad {
	shard := float64(c.Nodes) / float64(members)
	fixed := f.SchedFixedMs.Value
	shardMs := f.SchedShardMsPer1K.Value * shard / 1000
	ml := MemberLoad{
		Members: members, Shard: shard, FixedMs: fixed, ShardMs: shardMs,
		CPUMs:  fixed + shardMs,
		LoopMs: f.SchedSerialShare.Value*fixed + shardMs/m.MemberCores,
		cores:  m.MemberCores,
	}
	ml.leaderMs = float64(min(m.Fanout, members-1)) * f.RelayUsPerMsg.Value / 2 / 1000
	usable := m.MemberCores * m.Utilisation
	dominant := func(fixedPart, shardPart float64) string {
		if fixedPart >= shardPart {
			return "sched_fixed_ms"
		}
		return "sched_shard_ms_per_1k"
	}
	ml.Limits = []Limit{
		{Name: "member scheduling loops", PodsPerS: float64(m.SchedulingLoops) * 1000 / ml.LoopMs,
			Figure: dominant(f.SchedSerialShare.Value*fixed, shardMs/m.MemberCores)},
		{Name: "member CPU", PodsPerS: usable * 1000 / ml.CPUMs, Figure: dominant(fixed, shardMs)},
	}
	if members > 1 {
		ml.Limits = append(ml.Limits, Limit{Name: "leader CPU (schedules and forwards)",
			PodsPerS: usable * 1000 / (ml.CPUMs + ml.leaderMs), Figure: dominant(fixed, shardMs)})
	}
	// Every member's pod informer holds every pod (sched_rss_kib_per_pod);
	// a member that watches no pods (member_pod_events 0) holds none.
	ml.rssBytes = f.SchedRSSBaseMiB.Value*mib + shard*f.SchedRSSKiBShardNode.Value*kib
	if f.MemberPodEvents.Value > 0 {
		ml.rssBytes += float64(c.Pods) * f.SchedRSSKiBPerPod.Value * kib
	}
	ml.gossipCores = f.GossipMsPerS.Value / 1000
	return ml
}

// Component is the members' line in the answer at the given pod rate.
func (ml MemberLoad) Component(podsPerS float64) Component {
	return Component{
		Name:      "distscheduler members",
		Count:     ml.Members,
		CoresEach: ml.cores,
		CoresUsed: podsPerS*ml.CPUMs/1000 + ml.gossipCores,
		MemGiB:    ml.rssBytes / gib,
		Note: fmt.Sprintf("%.0f nodes each; %.3f ms CPU/pod (F %.3f + shard %.3f), %.0f µs/pod on the scheduling loop",
			ml.Shard, ml.CPUMs, ml.FixedMs, ml.ShardMs, ml.LoopMs*1000),
	}
}
