// Package cluster starts and stops the processes of one local cluster, in
// order, each as its own process with its own log in the run directory: the
// store (memetcd or etcd), a real kube-apiserver on it, optionally
// kube-controller-manager, kwok controllers (one per kwok-group), and the
// scheduler (a distscheduler tree with relays, or upstream kube-scheduler). It
// knows nothing of workloads or reports.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/proc"
	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/localcluster/workload"
	"github.com/rs/zerolog"
)

// Scheduler kinds.
const (
	DistScheduler = "distscheduler"
	KubeScheduler = "kube-scheduler"
)

// NodeSelector selects the nodes localcluster creates (workload.NodeLabel);
// the scheduler shards only these.
const NodeSelector = workload.NodeLabel + "=true"

// Config describes one cluster.
type Config struct {
	// RunDir receives every log, PID file, certificate and config.
	RunDir string
	// BinDir holds the binaries (bins.Dir()).
	BinDir string
	// Store is etcd or memetcd.
	Store store.Kind
	// Scheduler is DistScheduler or KubeScheduler.
	Scheduler string
	// Schedulers is the number of distscheduler replicas (kube-scheduler: 1).
	Schedulers int
	// Relays is the number of relay-only tree members (distscheduler only).
	Relays int
	// Kwoks is the number of kwok controllers; controller i fakes the nodes
	// labelled kwok-group=i.
	Kwoks int
	// KwokParallelism is how many node stages, pod stages and lease
	// renewals each kwok controller runs at once (0: DefaultKwokParallelism).
	KwokParallelism int
	// KwokPriorityBoost lowers each kwok controller's nice value this much
	// below localcluster's own (0: same priority as everything else).
	KwokPriorityBoost int
	// NodeLeaseDuration is the duration of the Lease kwok keeps for each
	// node, renewed every quarter of it (0: DefaultNodeLeaseDuration, the
	// kubelet's 40 s). Only the controller-manager's node lifecycle
	// controller reads the Leases, and its grace period follows this, so a
	// longer one only lowers the write load: 10,000 nodes at 40 s are 1,000
	// Lease writes/s.
	NodeLeaseDuration time.Duration
	// StoreSplit starts a memetcd of its own for each of SplitParts (node
	// Leases, Events, Pods) besides the default store and points
	// kube-apiserver at them with --etcd-servers-overrides. memetcd only.
	StoreSplit bool
	// SplitWAL overrides a split part's WAL mode by part name ("leases":
	// "buffered"); parts not named use SplitPart.DefaultWAL.
	SplitWAL map[string]string
	// ControllerManager starts kube-controller-manager (Controllers), so
	// Deployments get pods, ServiceAccounts exist and deleted owners' objects
	// are collected. Off for scheduling benchmarks: its watches and writes
	// are load the figures would otherwise include.
	ControllerManager bool
	// APIServerPort and StorePort fix those ports (0 picks free ones).
	APIServerPort, StorePort int
	// KillWithParent ties every process's life to this one (run, tests).
	KillWithParent bool
	// Extra flags per component, appended last.
	StoreArgs, APIServerArgs, ControllerManagerArgs, SchedulerArgs, KwokArgs []string
	// Started is called after each process is up (to record its PID).
	Started func(*proc.Process)
}

// Cluster is a started cluster.
type Cluster struct {
	cfg   Config
	log   zerolog.Logger
	PKI   *pki.Files
	Store *store.Store
	// Split are the stores of Config.StoreSplit, in SplitParts order.
	Split []SplitStore
	API   *kubeapi.APIServer
	// ControllerManager is nil unless Config.ControllerManager.
	ControllerManager *proc.Process
	Kwoks             []*proc.Process
	Schedulers        []*proc.Process
	Relays            []*proc.Process
	// SchedulerName is what pods must name in spec.schedulerName.
	SchedulerName string
	procs         []*proc.Process // in start order
}

// Up starts every component and waits for each to be ready before starting the
// next. On error, whatever started is stopped and the error says which
// component failed (with its log tail).
func Up(ctx context.Context, log zerolog.Logger, cfg Config) (_ *Cluster, err error) {
	c := &Cluster{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = c.Stop(5 * time.Second)
		}
	}()
	if c.PKI, err = pki.Generate(filepath.Join(cfg.RunDir, "pki")); err != nil {
		return nil, err
	}
	if err := c.startStore(ctx); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx); err != nil {
		return nil, err
	}
	if cfg.ControllerManager {
		if err := c.startControllerManager(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.startKwoks(ctx); err != nil {
		return nil, err
	}
	switch cfg.Scheduler {
	case KubeScheduler:
		err = c.startKubeScheduler(ctx)
	case DistScheduler:
		err = c.startDistScheduler(ctx)
	default:
		err = fmt.Errorf("unknown scheduler %q: want %q or %q", cfg.Scheduler, DistScheduler, KubeScheduler)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) bin(name string) (string, error) { return bins.PathIn(c.cfg.BinDir, name) }

// nodeLeaseDuration is the node Lease duration in whole seconds (kwok's
// unit), DefaultNodeLeaseDuration when unset.
func (c *Cluster) nodeLeaseDuration() time.Duration {
	if d := c.cfg.NodeLeaseDuration.Round(time.Second); d > 0 {
		return d
	}
	return DefaultNodeLeaseDuration
}

func (c *Cluster) started(p *proc.Process, what string) {
	c.procs = append(c.procs, p)
	c.log.Info().Str("process", p.Name()).Int("pid", p.PID()).Str("log", p.LogPath()).Msg(what + " ready")
	if c.cfg.Started != nil {
		c.cfg.Started(p)
	}
}

func (c *Cluster) startStore(ctx context.Context) error {
	bin, err := c.bin(string(c.cfg.Store))
	if err != nil {
		return err
	}
	args := slices.Clone(c.cfg.StoreArgs)
	if c.cfg.Store == store.Etcd {
		// Kubernetes objects of a large run exceed etcd's 2 GiB default quota.
		args = append([]string{"--quota-backend-bytes=8589934592"}, args...)
	}
	s, err := store.Start(ctx, store.Config{
		Kind:           c.cfg.Store,
		Bin:            bin,
		RunDir:         c.cfg.RunDir,
		ClientPort:     c.cfg.StorePort,
		ExtraArgs:      args,
		KillWithParent: c.cfg.KillWithParent,
	})
	if err != nil {
		return fmt.Errorf("store %s: %w", c.cfg.Store, err)
	}
	c.Store = s
	c.started(s.Proc, "store")
	if !c.cfg.StoreSplit {
		return nil
	}
	if c.cfg.Store != store.Memetcd {
		return fmt.Errorf("store split: needs --store %s, not %s", store.Memetcd, c.cfg.Store)
	}
	if err := CheckSplitWAL(c.cfg.SplitWAL); err != nil {
		return err
	}
	return c.startSplitStores(ctx)
}

// apiServerArgs lift the apiserver's per-client limits, which exist to protect a
// shared production cluster: here one benchmark client is the whole point and
// both store/scheduler pairs get the same settings.
var apiServerArgs = []string{
	"--max-requests-inflight=4000",
	"--max-mutating-requests-inflight=2000",
	"--enable-priority-and-fairness=false",
	"--event-ttl=30m",
	// This admission plugin taints every new node not-ready until the node
	// lifecycle controller lifts the taint once kwok reports Ready. Without
	// the controller-manager (benchmarks) the taint would keep every pod
	// pending; with it, every node would cost one more write. Nodes that stop
	// renewing their Lease are still tainted by the controller.
	"--disable-admission-plugins=TaintNodesByCondition",
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	bin, err := c.bin("kube-apiserver")
	if err != nil {
		return err
	}
	extra := slices.Clone(apiServerArgs)
	if len(c.Split) > 0 {
		extra = append(extra, "--etcd-servers-overrides="+serverOverrides(c.Split))
	}
	a, err := kubeapi.Start(ctx, kubeapi.Config{
		Bin:            bin,
		RunDir:         c.cfg.RunDir,
		PKI:            c.PKI,
		EtcdServers:    []string{c.Store.Endpoint},
		SecurePort:     c.cfg.APIServerPort,
		ExtraArgs:      append(extra, c.cfg.APIServerArgs...),
		KillWithParent: c.cfg.KillWithParent,
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	c.API = a
	c.started(a.Proc, "kube-apiserver")
	return nil
}

// Processes returns every running process in start order.
func (c *Cluster) Processes() []*proc.Process { return slices.Clone(c.procs) }

// Process roles, as Role names them.
const (
	RoleStore             = "store"
	RoleAPIServer         = "kube-apiserver"
	RoleControllerManager = "kube-controller-manager"
	RoleKwok              = "kwok"
	RoleScheduler         = "scheduler" // kube-scheduler, or distscheduler's members and relays
	RoleOther             = "other"     // a process none of the above names
)

// Role says what part of the cluster p is, so both stacks' processes line
// up by what they do (memetcd and etcd are both the store).
func (c *Cluster) Role(p *proc.Process) string {
	switch {
	case c.API != nil && p == c.API.Proc:
		return RoleAPIServer
	case p == c.ControllerManager:
		return RoleControllerManager
	case slices.Contains(c.Kwoks, p):
		return RoleKwok
	case slices.Contains(c.Schedulers, p), slices.Contains(c.Relays, p):
		return RoleScheduler
	}
	for _, s := range c.Stores() {
		if s != nil && p == s.Proc {
			return RoleStore
		}
	}
	return RoleOther
}

// Kubeconfig is the admin kubeconfig.
func (c *Cluster) Kubeconfig() string { return c.API.Kubeconfig }

// Exited returns an error naming the first process that exited on its own,
// with its log tail; nil while all run.
func (c *Cluster) Exited() error {
	for _, p := range c.procs {
		if p.Exited() {
			return fmt.Errorf("%s exited (%v); log %s ends with:\n%s", p.Name(), p.ExitError(), p.LogPath(), p.LogTail(20))
		}
	}
	return nil
}

// Stop stops every process, newest first (schedulers before the apiserver
// before the store, so nothing logs errors about a vanished dependency).
func (c *Cluster) Stop(grace time.Duration) error {
	var errs []error
	for _, p := range slices.Backward(c.procs) {
		if err := p.Stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
