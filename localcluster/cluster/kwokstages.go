package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/harness/kwokstages"
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

// writeKwokStages writes the kwok configuration the controllers run with
// (kwokstages.WithParallelism) and returns its path.
func writeKwokStages(dir string, parallelism int) (string, error) {
	text, err := kwokstages.WithParallelism(parallelism)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("kwok stages: %w", err)
	}
	return path, nil
}
