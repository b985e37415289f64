// Package app is the makenodes command line: flags parsed into the nodes, pods
// and kwok packages' configs, one cobra command per action. Running makenodes
// with no subcommand creates nodes, as the original make_nodes did.
package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/makenodes/bulk"
	"github.com/k8s1m/k8s1m/makenodes/kube"
	"github.com/k8s1m/k8s1m/makenodes/nodes"
	"github.com/k8s1m/k8s1m/makenodes/pods"
	"github.com/k8s1m/k8s1m/makenodes/progress"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// common are the flags every API-calling command has.
type common struct {
	kubeconfig  string
	concurrency int
	qps         float64
	dryRun      bool
	noList      bool
	logEvery    time.Duration
	cpuProfile  string
	transport   string
}

func (c *common) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file; empty: ~/.kube/config, then in-cluster")
	command.BindEnv(fs, "kubeconfig", "KUBECONFIG")
	fs.IntVar(&c.concurrency, "concurrency", 500, "API calls in flight")
	fs.Float64Var(&c.qps, "qps", 0, "maximum API calls started per second; 0 = unlimited")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what would be done and the first object (YAML), call no API")
	fs.BoolVar(&c.noList, "no-list", false, "do not list existing objects first; rely on AlreadyExists/NotFound alone")
	fs.DurationVar(&c.logEvery, "progress-interval", 10*time.Second, "progress log interval when stderr is not a terminal")
	fs.StringVar(&c.transport, "transport", kube.DefaultTransport, "HTTP transport of the bulk creates and deletes: "+
		kube.TransportH2Bulk+" (lean HTTP/2, many requests per write; falls back to client-go for exec/auth-provider kubeconfigs, impersonation or a proxy) or "+
		kube.TransportClientGo+" (the clientsets' own)")
	command.BindEnv(fs, "transport", "MAKENODES_TRANSPORT")
	fs.StringVar(&c.cpuProfile, "cpu-profile", "", "write a Go CPU profile of this run to the file (to check the tool is not the bottleneck)")
}

// session is what a command needs once its flags are parsed.
type session struct {
	log     zerolog.Logger
	clients *kube.Clients
	bulk    bulk.Config
	close   func()
}

func (c *common) open(root *command.Root) (*session, error) {
	log, err := root.Logger()
	if err != nil {
		return nil, err
	}
	if c.concurrency <= 0 {
		return nil, fmt.Errorf("--concurrency %d: must be positive", c.concurrency)
	}
	if c.qps < 0 {
		return nil, fmt.Errorf("--qps %g: must not be negative", c.qps)
	}
	s := &session{log: log, bulk: bulk.Config{Concurrency: c.concurrency, QPS: c.qps}, close: func() {}}
	// A bulk run allocates a little per request and keeps almost nothing, so
	// the default GC target collects far more often than memory needs; a higher
	// one cuts the tool's CPU (what must stay small next to the apiserver's).
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpu-profile: %w", err)
		}
		s.close = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
	}
	if c.dryRun {
		return s, nil
	}
	rc, err := kube.Config(c.kubeconfig)
	if err != nil {
		return nil, err
	}
	if s.clients, err = kube.NewClients(rc, kube.Options{Concurrency: c.concurrency, Transport: c.transport}); err != nil {
		return nil, fmt.Errorf("--transport %s: %w", c.transport, err)
	}
	if s.clients.Fallback != "" {
		log.Warn().Str("reason", s.clients.Fallback).Msg("--transport " + kube.TransportH2Bulk + " cannot be used; using " + kube.TransportClientGo)
	}
	log.Debug().Str("transport", s.clients.Transport).Msg("bulk transport")
	closeProfile := s.close
	s.close = func() {
		s.clients.Close()
		closeProfile()
	}
	return s, nil
}

func (c *common) reporter(s *session, what string) *progress.Reporter {
	return progress.New(what, s.log, os.Stderr, c.logEvery)
}

// NewRoot builds the command tree. Pass os.Args[1:] through SingleDashArgs
// before executing it to accept the original's single-dash flags.
func NewRoot() *command.Root {
	root := command.NewRoot("makenodes", "create and delete huge numbers of kwok nodes and pods")
	root.Cmd.Long = `makenodes fills a cluster with fake nodes for kwok to simulate, and pods to
schedule onto them, as fast as the apiserver accepts them.

  makenodes -count 100000 -kubeconfig k.yaml     create nodes (the original's interface)
  makenodes nodes delete                          delete nodes by --prefix
  makenodes pods create --count 50000             create pods for a scheduler to bind
  makenodes kwok run --count 100000               run the kwok controllers for those nodes

Runs are idempotent: re-running creates only what is missing. Single-dash long
flags (-count, -perKwokGroup, -podsPerNode) work as in the original.`
	root.Cmd.SetGlobalNormalizationFunc(normalizeName)

	// makenodes with no subcommand: the original make_nodes.
	create := newNodesCreate(root)
	root.Cmd.Flags().AddFlagSet(create.Flags())
	root.Cmd.RunE = create.RunE
	root.Cmd.Args = cobra.NoArgs

	nodesCmd := &cobra.Command{Use: "nodes", Short: "create or delete kwok nodes"}
	nodesCmd.AddCommand(newNodesCreate(root), newNodesDelete(root))
	podsCmd := &cobra.Command{Use: "pods", Short: "create or delete pods for a scheduler to bind"}
	podsCmd.AddCommand(newPodsCreate(root), newPodsDelete(root))
	root.Cmd.AddCommand(nodesCmd, podsCmd, newKwok(root))
	return root
}

func newNodesCreate(root *command.Root) *cobra.Command {
	var (
		c     common
		cfg   = nodes.Config{}
		shape = nodes.DefaultShapeFlags()
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "create nodes [skip, count) that do not exist yet",
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags()
	c.register(fs)
	fs.IntVar(&cfg.Count, "count", 1, "create nodes with index below this")
	fs.IntVar(&cfg.Skip, "skip", 0, "start at this index (the first nodes exist elsewhere)")
	fs.IntVar(&cfg.PerKwokGroup, "per-kwok-group", 10000, "nodes per kwok controller: node i gets label kwok-group=i/this")
	fs.StringVar(&cfg.Prefix, "prefix", nodes.DefaultPrefix, "node names are prefix + index")
	fs.StringVar(&shape.CPU, "cpu", shape.CPU, "cpu capacity per node (quantity)")
	fs.StringVar(&shape.Memory, "memory", shape.Memory, "memory capacity per node (quantity)")
	fs.IntVar(&shape.Pods, "pods", shape.Pods, "pod capacity per node (the original's -podsPerNode)")
	fs.StringSliceVar(&shape.Labels, "labels", nil, "extra node labels, key=value,...")
	fs.StringSliceVar(&shape.Taints, "taints", shape.Taints, "node taints, key[=value]:Effect,... (empty string: none)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		shape.Taints = dropEmpty(shape.Taints)
		if cfg.Shape, err = shape.Parse(); err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		s, err := c.open(root)
		if err != nil {
			return err
		}
		defer s.close()
		if c.dryRun {
			return printPlan(cmd.OutOrStdout(), fmt.Sprintf("would create nodes %s..%s (%d), %d kwok groups of %d",
				cfg.Name(cfg.Skip), cfg.Name(max(cfg.Count-1, 0)), cfg.Count-cfg.Skip, cfg.Groups(), cfg.PerKwokGroup), cfg.Build(cfg.Skip))
		}
		_, err = nodes.Create(cmd.Context(), s.log, s.clients, cfg, nodes.Options{
			Bulk: s.bulk, Progress: c.reporter(s, "create nodes"), NoList: c.noList})
		return err
	}
	return cmd
}

func newNodesDelete(root *command.Root) *cobra.Command {
	var (
		c      common
		prefix string
	)
	cmd := &cobra.Command{Use: "delete", Short: "delete every node whose name starts with --prefix", Args: cobra.NoArgs}
	c.register(cmd.Flags())
	cmd.Flags().StringVar(&prefix, "prefix", nodes.DefaultPrefix, "delete nodes whose names start with this")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		s, err := c.open(root)
		if err != nil {
			return err
		}
		defer s.close()
		if c.dryRun {
			return printPlan(cmd.OutOrStdout(), fmt.Sprintf("would delete nodes named %s*", prefix), nil)
		}
		_, err = nodes.Delete(cmd.Context(), s.log, s.clients, prefix, nodes.Options{Bulk: s.bulk, Progress: c.reporter(s, "delete nodes")})
		return err
	}
	return cmd
}

func newPodsCreate(root *command.Root) *cobra.Command {
	var (
		c           common
		cfg         pods.Config
		cpu, memory string
		labels      []string
	)
	cmd := &cobra.Command{Use: "create", Short: "create pods [skip, count) (or Deployments) that do not exist yet", Args: cobra.NoArgs}
	fs := cmd.Flags()
	c.register(fs)
	fs.IntVar(&cfg.Count, "count", 1, "pods to create (total replicas with --deployments)")
	fs.IntVar(&cfg.Skip, "skip", 0, "start at this index")
	fs.StringVar(&cfg.Prefix, "prefix", pods.DefaultPrefix, "pod (or Deployment) names are prefix + index")
	fs.StringVar(&cfg.Namespace, "namespace", pods.DefaultNamespace, "namespace of the pods")
	fs.StringVar(&cfg.SchedulerName, "scheduler-name", "", "spec.schedulerName; empty: the default scheduler")
	fs.StringVar(&cpu, "cpu", "100m", "cpu request per pod (quantity; 0: none)")
	fs.StringVar(&memory, "memory", "128Mi", "memory request per pod (quantity; 0: none)")
	fs.StringVar(&cfg.Image, "image", pods.DefaultImage, "container image (kwok never pulls it)")
	fs.StringSliceVar(&labels, "labels", nil, "extra pod labels, key=value,...")
	fs.IntVar(&cfg.Deployments, "deployments", 0, "spread --count replicas over this many Deployments instead of bare pods (needs a controller manager)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if cfg.CPU, err = resource.ParseQuantity(cpu); err != nil {
			return fmt.Errorf("--cpu %q: %w", cpu, err)
		}
		if cfg.Memory, err = resource.ParseQuantity(memory); err != nil {
			return fmt.Errorf("--memory %q: %w", memory, err)
		}
		if cfg.Labels, err = nodes.ParseLabels(labels); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		s, err := c.open(root)
		if err != nil {
			return err
		}
		defer s.close()
		if c.dryRun {
			if cfg.Deployments > 0 {
				return printPlan(cmd.OutOrStdout(), fmt.Sprintf("would create %d Deployments %s0.. with %d replicas in all",
					cfg.Deployments, cfg.Prefix, cfg.Count), cfg.BuildDeployment(0))
			}
			return printPlan(cmd.OutOrStdout(), fmt.Sprintf("would create pods %s/%s..%s (%d)",
				cfg.Namespace, cfg.Name(cfg.Skip), cfg.Name(max(cfg.Count-1, 0)), cfg.Count-cfg.Skip), cfg.Build(cfg.Skip))
		}
		_, err = pods.Create(cmd.Context(), s.log, s.clients, cfg, pods.Options{
			Bulk: s.bulk, Progress: c.reporter(s, "create pods"), NoList: c.noList})
		return err
	}
	return cmd
}

func newPodsDelete(root *command.Root) *cobra.Command {
	var (
		c                 common
		prefix, namespace string
	)
	cmd := &cobra.Command{Use: "delete", Short: "delete Deployments and pods whose names start with --prefix", Args: cobra.NoArgs}
	c.register(cmd.Flags())
	cmd.Flags().StringVar(&prefix, "prefix", pods.DefaultPrefix, "delete objects whose names start with this")
	cmd.Flags().StringVar(&namespace, "namespace", pods.DefaultNamespace, "namespace to delete in")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		s, err := c.open(root)
		if err != nil {
			return err
		}
		defer s.close()
		if c.dryRun {
			return printPlan(cmd.OutOrStdout(), fmt.Sprintf("would delete Deployments and pods named %s/%s*", namespace, prefix), nil)
		}
		_, err = pods.Delete(cmd.Context(), s.log, s.clients, namespace, prefix, pods.Options{Bulk: s.bulk, Progress: c.reporter(s, "delete pods")})
		return err
	}
	return cmd
}

func printPlan(w io.Writer, plan string, first any) error {
	fmt.Fprintln(w, "# "+plan)
	if first == nil {
		return nil
	}
	b, err := yaml.Marshal(first)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// dropEmpty lets --taints "" mean "no taints".
func dropEmpty(items []string) []string {
	out := items[:0:0]
	for _, s := range items {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// defaultKwokBinary is bin/kwok beside the makenodes binary, else kwok on PATH.
func defaultKwokBinary() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "kwok")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "kwok"
}
