package kwok

import (
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// Stages is the kwok configuration (Stage objects, one YAML document each) that
// the controllers run with: kwok's own default stages, taken from its module at
// the pinned version rather than copied, so they match what kwokctl uses.
//   - node-initialize: a new node gets Ready conditions and addresses at once;
//   - node-heartbeat-with-lease: node status is refreshed rarely, because liveness
//     comes from the node Lease that kwok renews (--node-lease-duration-seconds);
//   - pod-ready: a pod bound to a managed node becomes Running and Ready;
//   - pod-complete, pod-delete: pods of finished jobs complete, deleted pods go.
//
// The controller binary has no built-in stages: started without any it exits
// with "no stages found".
func Stages() string {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodelease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		docs[i] = strings.TrimSpace(d)
	}
	return strings.Join(docs, "\n---\n") + "\n"
}
