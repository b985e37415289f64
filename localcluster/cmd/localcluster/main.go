// Command localcluster brings the whole k8s1m system up on one machine, runs a
// scheduling workload on it and prints the figures; `compare` runs it against
// etcd + kube-scheduler side by side. See the module README.
package main

import (
	"os"
	"path/filepath"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/localcluster/app"
	"github.com/k8s1m/k8s1m/localcluster/cluster"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	root := command.NewRoot("localcluster", "the whole k8s1m system on one machine, with its figures")
	var cfg app.Config
	var storeKind string
	var runsDir, binDir string
	var log zerolog.Logger

	workloadFlags := func(fs *pflag.FlagSet) {
		fs.StringVar(&storeKind, "store", string(store.Memetcd), `store: "memetcd" or "etcd"`)
		fs.BoolVar(&cfg.StoreSplit, "store-split", false, "memetcd only: give node Leases, Events and Pods a memetcd each (kube-apiserver --etcd-servers-overrides), the rest stays on the default store")
		fs.StringToStringVar(&cfg.SplitWAL, "store-split-wal", nil, "with --store-split: WAL mode per part, e.g. leases=buffered,pods=fsync (defaults: leases=none, events=none, pods=buffered)")
		fs.StringVar(&cfg.Scheduler, "scheduler", cluster.DistScheduler, `scheduler: "distscheduler" or "kube-scheduler"`)
		fs.IntVar(&cfg.Schedulers, "schedulers", app.DefaultSchedulers, "distscheduler scheduling members, one process each")
		fs.IntVar(&cfg.Relays, "relays", app.DefaultRelays, "relay-only distscheduler members (needs --schedulers 2 or more)")
		fs.IntVar(&cfg.Nodes, "nodes", app.DefaultNodes, "kwok nodes to create")
		fs.IntVar(&cfg.Pods, "pods", app.DefaultPods, "pods to create and schedule")
		fs.IntVar(&cfg.Zones, "zones", app.DefaultZones, "zones the nodes are spread over (topology.kubernetes.io/zone, round robin; 0: no zone labels)")
		fs.StringVar(&cfg.NodeShards, "node-shards", app.NodeShardsCreator, `how nodes get distscheduler's shard label: "creator" (created with it, the scheduling members in turn, as a provisioner that knows them would; both stacks of a compare get the same labels) or "webhook" (the leader's node webhook labels each node at creation)`)
		fs.IntVar(&cfg.Workers, "workers", app.DefaultWorkers, "concurrent create requests")
		fs.IntVar(&cfg.Kwoks, "kwoks", 0, "kwok controllers (0: one per --per-kwok nodes)")
		fs.IntVar(&cfg.PerKwok, "per-kwok", app.DefaultPerKwok, "nodes per kwok controller when --kwoks is 0")
		fs.IntVar(&cfg.KwokParallelism, "kwok-parallelism", cluster.DefaultKwokParallelism, "node stages, pod stages and lease renewals each kwok controller runs at once (kwok's own default is 4)")
		fs.IntVar(&cfg.KwokPriorityBoost, "kwok-priority-boost", app.DefaultKwokPriorityBoost, "nice levels each kwok controller runs above localcluster itself, as kubelets would not share the control plane's CPU (needs root; 0: the same priority)")
		fs.DurationVar(&cfg.NodeLeaseDuration, "node-lease-duration", cluster.DefaultNodeLeaseDuration, "duration of each kwok node's Lease, renewed every quarter of it (the kubelet's is 40s; nothing in the local cluster reads them, so longer only means fewer writes)")
		fs.StringArrayVar(&cfg.APIServerArgs, "apiserver-arg", nil, "extra kube-apiserver flag, e.g. --apiserver-arg=--audit-log-path=/tmp/audit.log (repeatable; added after localcluster's own)")
		fs.StringArrayVar(&cfg.KwokArgs, "kwok-arg", nil, "extra flag for every kwok controller (repeatable; added after localcluster's own)")
		fs.DurationVar(&cfg.Timeout, "timeout", app.DefaultTimeout, "longest wait for all nodes Ready, and again for all pods bound")
		fs.IntVar(&cfg.APIServerPort, "apiserver-port", 0, "kube-apiserver port on 127.0.0.1 (0: a free one)")
		fs.IntVar(&cfg.StorePort, "store-port", 0, "store client port on 127.0.0.1 (0: a free one)")
		fs.StringVar(&cfg.Build, "build", "auto", `"auto" builds missing binaries with make, "always" runs make tools bins, "never" fails`)
		fs.BoolVar(&cfg.SkipMemoryCheck, "skip-memory-check", false, "start even when the memory estimate exceeds what is available")
		fs.BoolVar(&cfg.Chart, "chart", true, "write chart.html (pods bound over time) in the run directory")
		fs.DurationVar(&cfg.ProgressEvery, "progress", 2e9, "interval of live progress lines (0 disables)")
		for flag, env := range map[string]string{"store": "LOCALCLUSTER_STORE", "scheduler": "LOCALCLUSTER_SCHEDULER",
			"nodes": "LOCALCLUSTER_NODES", "pods": "LOCALCLUSTER_PODS", "zones": "LOCALCLUSTER_ZONES", "timeout": "LOCALCLUSTER_TIMEOUT",
			"node-lease-duration": "LOCALCLUSTER_NODE_LEASE_DURATION", "store-split": "LOCALCLUSTER_STORE_SPLIT",
			"node-shards": "LOCALCLUSTER_NODE_SHARDS"} {
			command.BindEnv(fs, flag, env)
		}
	}
	pf := root.Cmd.PersistentFlags()
	pf.StringVar(&runsDir, "runs-dir", "", "directory of run directories and the active-run record (default <repo root>/runs)")
	pf.StringVar(&binDir, "bin-dir", "", "binary directory (default $K8S1M_BIN or <repo root>/bin)")
	command.BindEnv(pf, "runs-dir", "LOCALCLUSTER_RUNS_DIR")

	// resolve fills the paths and the logger once flags are parsed.
	resolve := func(c *cobra.Command) error {
		var err error
		if log, err = root.Logger(); err != nil {
			return err
		}
		cfg.Out = c.OutOrStdout()
		if c.Flags().Lookup("controller-manager") != nil {
			if cfg.ControllerManager, err = c.Flags().GetBool("controller-manager"); err != nil {
				return err
			}
		}
		cfg.Store = store.Kind(storeKind)
		wd, _ := os.Getwd()
		cfg.RepoRoot, _ = bins.RepoRoot(wd)
		if binDir == "" {
			if binDir, err = bins.Dir(); err != nil {
				return err
			}
		}
		cfg.BinDir, _ = filepath.Abs(binDir)
		if runsDir == "" {
			runsDir = "runs"
			if cfg.RepoRoot != "" {
				runsDir = filepath.Join(cfg.RepoRoot, "runs")
			}
		}
		cfg.RunsDir, _ = filepath.Abs(runsDir)
		return nil
	}

	run := &cobra.Command{
		Use:   "run",
		Short: "start the cluster, schedule the workload, print the report, stop everything (keeps the run directory)",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			_, err := app.Run(c.Context(), log, cfg)
			return err
		},
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "like run, but leave the cluster running afterwards (stop it with down)",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			cfg.KeepRunning = true
			_, err := app.Run(c.Context(), log, cfg)
			return err
		},
	}
	compare := &cobra.Command{
		Use:   "compare",
		Short: "run the workload on memetcd+distscheduler and on etcd+kube-scheduler, print both and the ratios",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			_, err := app.Compare(c.Context(), log, cfg)
			return err
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "stop the running local cluster by PID (keeps its run directory)",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := resolve(c); err != nil {
				return err
			}
			return app.Down(log, cfg.RunsDir, cfg.Out)
		},
	}
	for _, c := range []*cobra.Command{run, up, compare} {
		workloadFlags(c.Flags())
		// up leaves a cluster for people to use, so it runs the controllers;
		// run and compare measure scheduling, so by default they do not.
		// Each command has its own default, so the value is read from the
		// command's flag set (resolve), not bound to cfg.
		fs := c.Flags()
		fs.Bool("controller-manager", c == up,
			"run kube-controller-manager (Deployments, Jobs, ServiceAccounts, garbage collection, node lifecycle); default on for up, off for run and compare, whose figures then measure scheduling alone")
		command.BindEnv(fs, "controller-manager", "LOCALCLUSTER_CONTROLLER_MANAGER")
	}
	root.Cmd.AddCommand(run, up, compare, down)
	command.Execute(root.Cmd)
}
