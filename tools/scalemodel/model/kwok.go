package model

import (
	"fmt"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// KwokLoad is one kwok controller's cost.
type KwokLoad struct {
	Controllers int
	FixedUse    float64 // share of its usable cores its Lease renewals take
	Limit       Limit
	fixedCores  float64
	perPodMs    float64
	cores       float64
	rss         float64
}

// Kwok gives each controller NodesPerKwok nodes. Each renews its nodes'
// Leases (kwok_lease_ms each, every LeaseRenewS) and starts its share of the
// pods (kwok_object_ms each; pods spread evenly over the nodes).
func Kwok(f *costs.Figures, c Cluster, m Machines) KwokLoad {
	controllers := ceilDiv(float64(c.Nodes), float64(m.NodesPerKwok))
	perCtl := float64(c.Nodes) / float64(controllers)
	usable := m.KwokCores * m.Utilisation
	k := KwokLoad{
		Controllers: controllers,
		fixedCores:  perCtl / c.LeaseRenewS * f.KwokLeaseMs.Value / 1000,
		perPodMs:    f.KwokObjectMs.Value / float64(controllers),
		cores:       m.KwokCores,
		rss:         f.KwokRSSBaseMiB.Value*mib + perCtl*f.KwokRSSKiBPerNode.Value*kib,
	}
	k.FixedUse = k.fixedCores / usable
	k.Limit = Limit{Name: "kwok controller CPU", PodsPerS: (usable - k.fixedCores) * 1000 / k.perPodMs, Figure: "kwok_object_ms"}
	if k.Limit.PodsPerS <= 0 {
		k.Limit = Limit{Name: "kwok controller CPU (Leases alone)", PodsPerS: 0, Figure: "kwok_lease_ms"}
	}
	return k
}

// Component is the controllers' line in the answer.
func (k KwokLoad) Component(podsPerS float64) Component {
	return Component{
		Name: kwokName, Count: k.Controllers, CoresEach: k.cores,
		CoresUsed: k.fixedCores + podsPerS*k.perPodMs/1000,
		MemGiB:    k.rss / gib,
		Note:      fmt.Sprintf("%.2f cores each on Lease renewals", k.fixedCores),
	}
}
