package model

import (
	"fmt"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// Writes the kube-apiserver serves per pod: the create, the Binding, kwok's
// status PATCH (Running) and the scheduler's Scheduled event.
const apiWritesPerPod = 4

// APIServer sizes the kube-apiservers for the pod rate. Their load is a fixed
// part (every node's Lease renewal, api_lease_update_ms, every LeaseRenewS;
// kwok's node status heartbeat, api_other_write_ms, every node_heartbeat_s)
// and a part per pod (api_pod_create_ms + 3 × api_other_write_ms, and
// api_watch_event_us for each of the member_pod_events every member's pod
// informer receives). Apiservers scale out, so they never cap the rate here;
// they are counted instead.
//
// Memory: every apiserver's watch cache holds every node and pod
// (api_rss_kib_per_object, fitted on localcluster runs), so adding apiservers
// does not divide it.
func APIServer(f *costs.Figures, c Cluster, m Machines, podsPerS float64, members int) Component {
	n := float64(c.Nodes)
	fixedMsPerS := n/c.LeaseRenewS*f.APILeaseUpdateMs.Value + n/f.NodeHeartbeatS.Value*f.APIOtherWriteMs.Value
	watchEvents := f.MemberPodEvents.Value * float64(members)
	podMs := f.APIPodCreateMs.Value + (apiWritesPerPod-1)*f.APIOtherWriteMs.Value +
		watchEvents*f.APIWatchEventUs.Value/1000
	cores := (fixedMsPerS + podsPerS*podMs) / 1000
	count := ceilDiv(cores, m.APIServerCores*m.Utilisation)
	mem := f.APIRSSBaseMiB.Value*mib + float64(c.Nodes+c.Pods)*f.APIRSSKiBPerObject.Value*kib
	return Component{
		Name: apiserverName, Count: count, CoresEach: m.APIServerCores,
		CoresUsed: cores / float64(count),
		MemGiB:    mem / gib,
		Note: fmt.Sprintf("%.0f requests/s in all: %.0f Lease renewals, %.0f node heartbeats, %.0f pod writes; %.3g watch events/s to members; cores on Leases %.0f, on watch events %.0f",
			n/c.LeaseRenewS+n/f.NodeHeartbeatS.Value+podsPerS*apiWritesPerPod,
			n/c.LeaseRenewS, n/f.NodeHeartbeatS.Value, podsPerS*apiWritesPerPod,
			podsPerS*watchEvents,
			n/c.LeaseRenewS*f.APILeaseUpdateMs.Value/1000, podsPerS*watchEvents*f.APIWatchEventUs.Value/1e6),
	}
}
