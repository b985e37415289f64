package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// DefaultKwokParallelism is how many node stages, pod stages and lease
// renewals each kwok controller runs at once. kwok's own default, 4, made
// a controller ~40 nodes/s Ready against a busy kube-apiserver (each is one
// synchronous request), and renews at most 4 Leases at a time where 10,000
// nodes need 1,000 renewals/s.
const DefaultKwokParallelism = 16

// DefaultNodeLeaseDuration is the kubelet's node Lease duration; kwok renews
// each node's Lease every quarter of it.
const DefaultNodeLeaseDuration = 40 * time.Second

// kwokOptions sets kwok's parallelism (settable only in its configuration
// file, not by flag). kwok applies its defaults only when the file has no
// KwokConfiguration, so every option it defaults is given here with kwok
// v0.8.0's default value; flags (cidr, node IP, ...) still override.
const kwokOptions = `apiVersion: config.kwok.x-k8s.io/v1alpha1
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

// writeKwokStages writes the kwok configuration the controllers run with and
// returns its path. The kwok binary has no built-in stages (it exits with "no
// stages found"), so they are taken from kwok's module at the pinned version:
// nodes become Ready at once and then heartbeat through their Lease; bound pods
// become Running (those of Deployments, StatefulSets, DaemonSets and Jobs
// alike); Running pods owned by a Job become Succeeded, so Jobs complete;
// deleted pods go away (garbage-collected ones included).
func writeKwokStages(dir string, parallelism int) (string, error) {
	docs := []string{
		fmt.Sprintf(kwokOptions, parallelism),
		nodefast.DefaultNodeInit,
		nodelease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		docs[i] = strings.TrimSpace(d)
	}
	path := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("kwok stages: %w", err)
	}
	return path, nil
}
