package model

import (
	"fmt"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// Relays returns how many relay-only members a tree of the given scheduling
// members needs so that no scheduling member forwards to more than the
// fanout's children, and the tree's depth below the root. relay/tree places
// relay-only members on the inner levels and keeps each level as small as can
// carry the one below: ⌈M/f⌉ members above the M leaves, ⌈M/f²⌉ above those,
// up to the root, which is the leader (a scheduling member). With M = 256 and
// f = 10 that is 26 + 3 = 29, the original's count.
func Relays(members, fanout int) (relays, depth int) {
	level := members - 1 // the leader is the root
	for level > 0 {
		depth++
		if level <= fanout {
			return relays, depth
		}
		level = (level + fanout - 1) / fanout
		relays += level
	}
	return relays, depth
}

// RelayLoad is one relay-only member's cost.
type RelayLoad struct {
	Limit    Limit
	usPerPod float64
	cores    float64
	gossip   float64
	rss      float64
}

// Relay charges a relay-only member its end of each tree message it handles
// for a pod: the item it receives and one item per child (half of
// relay_us_per_message each), plus its gossip.
func Relay(f *costs.Figures, m Machines) RelayLoad {
	us := float64(1+m.Fanout) * f.RelayUsPerMsg.Value / 2
	return RelayLoad{
		Limit:    Limit{Name: "relay CPU", PodsPerS: m.RelayCores * m.Utilisation * 1e6 / us, Figure: "relay_us_per_message"},
		usPerPod: us, cores: m.RelayCores, gossip: f.GossipMsPerS.Value / 1000,
		// A relay-only member holds no nodes or pods: the base RSS
		// (sched_rss_base_mib was measured on one).
		rss: f.SchedRSSBaseMiB.Value * mib,
	}
}

// Component is the relays' line in the answer.
func (r RelayLoad) Component(relays int, podsPerS float64) Component {
	return Component{
		Name: "relay-only members", Count: relays, CoresEach: r.cores,
		CoresUsed: podsPerS*r.usPerPod/1e6 + r.gossip,
		MemGiB:    r.rss / gib,
		Note:      fmt.Sprintf("%.0f µs CPU per pod each (one item per child)", r.usPerPod),
	}
}
