// Package app is localcluster's job: bring a local cluster up, run the
// scheduling workload on it with live progress, measure it, report, and tear
// it down; run two stacks side by side (compare); stop a cluster left up (down).
package app

import (
	"fmt"
	"io"
	"time"

	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/localcluster/cluster"
	"github.com/k8s1m/k8s1m/localcluster/workload"
)

// Config is one localcluster invocation.
type Config struct {
	// RunsDir holds one directory per run and the active-run record.
	RunsDir string
	// BinDir holds the binaries; RepoRoot is where `make` builds them.
	BinDir, RepoRoot string
	// Build is "auto" (build missing binaries), "always" (make tools bins) or
	// "never" (fail naming the make target).
	Build string

	Store store.Kind
	// StoreSplit gives node Leases, Events and Pods a memetcd each
	// (cluster.SplitParts), with SplitWAL overriding their WAL modes.
	StoreSplit bool
	SplitWAL   map[string]string
	Scheduler  string
	Schedulers int
	Relays     int
	// Kwoks is the number of kwok controllers; 0 means one per PerKwok nodes.
	Kwoks   int
	PerKwok int
	// KwokParallelism: node stages, pod stages and lease renewals each kwok
	// controller runs at once (0: cluster.DefaultKwokParallelism).
	KwokParallelism int
	// KwokPriorityBoost: how far below localcluster's own nice value each
	// kwok controller runs (0: the same).
	KwokPriorityBoost int
	// NodeLeaseDuration: each kwok node's Lease duration, renewed every
	// quarter of it (0: cluster.DefaultNodeLeaseDuration).
	NodeLeaseDuration time.Duration
	// APIServerArgs and KwokArgs are added to every kube-apiserver's and
	// kwok controller's flags, after localcluster's own (so they win).
	APIServerArgs, KwokArgs []string

	Nodes, Pods int
	// Zones spreads the nodes over that many topology.kubernetes.io/zone
	// values (0: no zone labels).
	Zones int
	// NodeShards says how nodes get distscheduler's shard label:
	// NodeShardsCreator (created with it, members in turn) or
	// NodeShardsWebhook (the leader's node webhook at creation).
	NodeShards string
	// Workers is the number of concurrent create requests.
	Workers int
	// Timeout bounds the wait for nodes Ready and for pods bound (each).
	Timeout time.Duration
	// KeepRunning leaves the cluster up after the report (`up`).
	KeepRunning bool
	// ControllerManager runs kube-controller-manager (on for `up`, off
	// for `run` and `compare`, whose figures measure scheduling).
	ControllerManager bool
	// Fixed ports (0: pick free ones).
	APIServerPort, StorePort int
	SkipMemoryCheck          bool
	// Chart writes chart.html (pods bound over time) next to report.json.
	Chart bool
	// ProgressEvery is the interval of live progress lines.
	ProgressEvery time.Duration
	// Out receives the human-readable report.
	Out io.Writer
}

// Defaults that fit a 2-core machine and finish in a few minutes.
const (
	DefaultNodes   = 1000
	DefaultPods    = 1000
	DefaultWorkers = 16
	// DefaultZones is a typical cloud region's. Nodes without a zone label
	// all fall in one zone of the schedulers' node tree, which compares each
	// node added with every node of its zone: 50,000 nodes in one zone cost
	// kube-scheduler and a distscheduler member most of their nodes-phase CPU
	// (localcluster/BENCHMARKS.md, 2026-12-07).
	DefaultZones = 3
	// DefaultPerKwok is 50,000 nodes per kwok controller, not the
	// original's 10,000: on one machine more controllers only cost more.
	// Each kwok v0.8.0 controller watches every node Lease of the cluster
	// (and every bound pod), whichever nodes it fakes, and re-watches with
	// resourceVersion=0, so every re-watch streams every Lease again.
	// Five controllers at 50,000 nodes took the nodes phase from 227 s to
	// 548 s (localcluster/BENCHMARKS.md, 2026-12-06).
	DefaultPerKwok = 50000
	// DefaultKwokPriorityBoost puts kwok 5 nice levels above the rest
	// (~3x the CPU weight): kwok stands in for kubelets, which do not share
	// the control plane's CPU. It does not stop kwok's re-lists of every
	// node when the apiserver closes its node watch (BENCHMARKS.md).
	DefaultKwokPriorityBoost = 5
	DefaultSchedulers        = 1
	DefaultRelays            = 0
	DefaultTimeout           = 10 * time.Minute
)

// How nodes get their distscheduler shard (--node-shards).
const (
	// NodeShardsCreator creates every node with its shard label, the
	// scheduling members in turn, as a provisioner that knows the members
	// does (kubelet --node-labels): a node costs its create alone. Both
	// stacks of a compare get the same labels, so their nodes are alike.
	NodeShardsCreator = "creator"
	// NodeShardsWebhook creates nodes without it: the leader's node
	// webhook gives each its shard at creation (an admission call per
	// node), as for nodes whose creator knows nothing of distscheduler.
	NodeShardsWebhook = "webhook"
)

// nodeSpread is the shard label spread of cfg's nodes (none with the
// webhook).
func (c Config) nodeSpread() []workload.LabelSpread {
	if c.NodeShards != NodeShardsCreator {
		return nil
	}
	return []workload.LabelSpread{{Key: cluster.ShardLabel, Values: cluster.SchedulingMembers(max(c.Schedulers, 1))}}
}

// Namespace holds the run's pods.
const Namespace = "localcluster"

func (c Config) validate() error {
	switch {
	case c.Nodes < 0 || c.Pods < 0:
		return fmt.Errorf("--nodes and --pods must not be negative")
	case c.KwokPriorityBoost < 0 || c.KwokPriorityBoost > 39:
		return fmt.Errorf("--kwok-priority-boost %d: want 0 to 39 nice levels", c.KwokPriorityBoost)
	case c.NodeShards != NodeShardsCreator && c.NodeShards != NodeShardsWebhook:
		return fmt.Errorf("--node-shards %q: want %q or %q", c.NodeShards, NodeShardsCreator, NodeShardsWebhook)
	case c.Zones < 0:
		return fmt.Errorf("--zones %d: must not be negative (0: no zone labels)", c.Zones)
	case c.Pods > 0 && c.Nodes == 0:
		return fmt.Errorf("--pods %d needs at least one node", c.Pods)
	case c.Pods > c.Nodes*110:
		return fmt.Errorf("--pods %d exceed what %d nodes hold (110 pods each)", c.Pods, c.Nodes)
	case c.Scheduler != cluster.KubeScheduler && c.Scheduler != cluster.DistScheduler:
		return fmt.Errorf("--scheduler %q: want %q or %q", c.Scheduler, cluster.DistScheduler, cluster.KubeScheduler)
	case c.Scheduler == cluster.DistScheduler && c.Schedulers < 1:
		return fmt.Errorf("--schedulers must be at least 1")
	case c.Relays < 0:
		return fmt.Errorf("--relays must not be negative")
	case c.Scheduler == cluster.DistScheduler && c.Relays > 0 && c.Schedulers < 2:
		return fmt.Errorf("--relays %d need a multi-member tree: use --schedulers 2 or more, or --relays 0", c.Relays)
	case c.NodeLeaseDuration < 0 || (c.NodeLeaseDuration > 0 && c.NodeLeaseDuration < time.Second):
		// kwok takes whole seconds; 0 means the default.
		return fmt.Errorf("--node-lease-duration %s: want at least 1s (kwok counts whole seconds)", c.NodeLeaseDuration)
	case c.Build != "auto" && c.Build != "always" && c.Build != "never":
		return fmt.Errorf("--build %q: want auto, always or never", c.Build)
	}
	if _, err := store.ParseKind(string(c.Store)); err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	if c.StoreSplit && c.Store != store.Memetcd {
		return fmt.Errorf("--store-split needs --store %s (it starts memetcd instances), not %s", store.Memetcd, c.Store)
	}
	if err := cluster.CheckSplitWAL(c.SplitWAL); err != nil {
		return err
	}
	return nil
}

// kwoks returns the number of kwok controllers for the run.
func (c Config) kwoks() int {
	if c.Kwoks > 0 {
		return c.Kwoks
	}
	per := c.PerKwok
	if per <= 0 {
		per = DefaultPerKwok
	}
	return max(1, (c.Nodes+per-1)/per)
}

// perKwok returns how many nodes share a kwok-group label.
func (c Config) perKwok() int {
	return max(1, (c.Nodes+c.kwoks()-1)/c.kwoks())
}

// name is the stack's label in reports.
func (c Config) name() string {
	if c.StoreSplit {
		return fmt.Sprintf("%s-split+%s", c.Store, c.Scheduler)
	}
	return fmt.Sprintf("%s+%s", c.Store, c.Scheduler)
}
