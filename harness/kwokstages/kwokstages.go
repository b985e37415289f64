// Package kwokstages holds the configuration file the workspace's kwok
// controllers run with: kwok's own default stages, taken from its module at
// the pinned version rather than copied, and optionally the options that size
// a controller's workers. makenodes and localcluster both write it.
package kwokstages

import (
	"fmt"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// Stages is the kwok configuration (Stage objects, one YAML document each)
// that makes fake nodes and pods behave like real ones, as kwokctl's defaults:
//   - node-initialize: a new node gets Ready conditions and addresses at once;
//   - node-heartbeat-with-lease: node status is refreshed rarely, because
//     liveness comes from the node Lease that kwok renews
//     (--node-lease-duration-seconds);
//   - pod-ready: a pod bound to a managed node becomes Running and Ready (those
//     of Deployments, StatefulSets, DaemonSets and Jobs alike);
//   - pod-complete: Running pods owned by a Job become Succeeded;
//   - pod-delete: deleted pods go away (garbage-collected ones included).
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
	return join(docs)
}

// options sets a controller's parallelism, which kwok takes only from its
// configuration file, not by flag. kwok applies its defaults only when the
// file has no KwokConfiguration, so every option it defaults is given here
// with kwok v0.8.0's default value; flags (cidr, node IP, ...) still override.
const options = `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  nodePlayStageParallelism: %[1]d
  podPlayStageParallelism: %[1]d
  nodeLeaseParallelism: %[1]d
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: true
  enableProfilingHandler: true
  enableContentionProfiling: false`

// WithParallelism is Stages preceded by a KwokConfiguration that runs
// parallelism node stages, pod stages and Lease renewals at once (kwok's own
// default is 4; each is one synchronous request to the API server).
func WithParallelism(parallelism int) (string, error) {
	if parallelism <= 0 {
		return "", fmt.Errorf("kwok parallelism %d: must be positive", parallelism)
	}
	return join([]string{fmt.Sprintf(options, parallelism), Stages()}), nil
}

// join trims each YAML document and separates them with "---" lines.
func join(docs []string) string {
	trimmed := make([]string, len(docs))
	for i, d := range docs {
		trimmed[i] = strings.TrimSpace(d)
	}
	return strings.Join(trimmed, "\n---\n") + "\n"
}
