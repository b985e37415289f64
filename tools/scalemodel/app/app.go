// Package app is the scalemodel command: flags into a cluster and machine
// shape, the model's answer printed as text.
package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
	"github.com/k8s1m/k8s1m/tools/scalemodel/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Options are the flags every subcommand shares.
type Options struct {
	CostsPath string
	// Set overrides figures by name for this run (what-if).
	Set      map[string]string
	Cluster  model.Cluster
	Machines model.Machines
}

// DefaultOptions is the question the command answers without flags: 1M
// nodes, 1M pods, Leases renewed every 10 s, model.DefaultMachines.
func DefaultOptions() *Options {
	return &Options{Cluster: model.Cluster{Nodes: 1_000_000, Pods: 1_000_000, LeaseRenewS: 10}, Machines: model.DefaultMachines()}
}

// DefaultTarget is plan's --target.
const DefaultTarget = 60 * time.Second

// NewRoot builds the scalemodel command.
func NewRoot() *command.Root {
	root := command.NewRoot("scalemodel", "Predict what a k8s1m cluster of N nodes and P pods needs, from the measured per-unit costs")
	root.Cmd.Long = `scalemodel reads the per-unit costs measured on the development machine
(docs/scale-costs.json: CPU per request, per write, per pod, bytes per object,
each with where it was measured) and predicts for N nodes and P pods the
machines and cores per component, memory, messages, the time to schedule the
pods and which limit binds first. docs/scale.md describes the rules.

  scalemodel plan                       the 1M nodes / 1M pods answer (fewest members within --target)
  scalemodel plan --tfvars              the same answer as terraform variables
  scalemodel predict --members 256      one configuration
  scalemodel check                      the model against the measured localcluster runs`
	o := DefaultOptions()
	pf := root.Cmd.PersistentFlags()
	pf.StringVar(&o.CostsPath, "costs", "", "the per-unit costs file (default: "+costs.DefaultPath+" in the repository holding the current directory)")
	command.BindEnv(pf, "costs", "SCALEMODEL_COSTS")
	pf.StringToStringVar(&o.Set, "set", nil, "override figures for this run, e.g. --set sched_fixed_ms=0.25 (names as in the costs file)")
	root.Cmd.AddCommand(planCmd(o), predictCmd(o), checkCmd(o))
	return root
}

func clusterFlags(fs *pflag.FlagSet, o *Options) {
	c, m := &o.Cluster, &o.Machines
	fs.IntVar(&c.Nodes, "nodes", c.Nodes, "nodes in the cluster")
	fs.IntVar(&c.Pods, "pods", c.Pods, "pods to schedule")
	fs.Float64Var(&c.LeaseRenewS, "lease-renew", c.LeaseRenewS, "seconds between a node's Lease renewals (kubelet and kwok with 40 s Leases: 10)")
	fs.Float64Var(&m.APIServerCores, "apiserver-cores", m.APIServerCores, "cores per kube-apiserver machine")
	fs.Float64Var(&m.StoreCores, "store-cores", m.StoreCores, "cores per memetcd machine (one resource each)")
	fs.Float64Var(&m.MemberCores, "member-cores", m.MemberCores, "cores per distscheduler member (also its filter/score parallelism)")
	fs.IntVar(&m.SchedulingLoops, "scheduling-loops", m.SchedulingLoops, "pods a member schedules at once: its scheduling loops (distscheduler: --num-concurrent-schedulers, default 8, at most one per core; the original: 8)")
	fs.Float64Var(&m.RelayCores, "relay-cores", m.RelayCores, "cores per relay-only member")
	fs.Float64Var(&m.KwokCores, "kwok-cores", m.KwokCores, "cores per kwok controller")
	fs.Float64Var(&m.Utilisation, "utilisation", m.Utilisation, "share of each machine's cores the plan may use, in (0, 1]")
	fs.IntVar(&m.Fanout, "fanout", m.Fanout, "relay tree fanout (relay's default: 16)")
	fs.IntVar(&m.NodesPerKwok, "nodes-per-kwok", m.NodesPerKwok, "nodes per kwok controller")
	fs.Float64Var(&m.CompactionS, "compaction", m.CompactionS, "seconds between the kube-apiserver's compactions (history the store keeps)")
}

func planCmd(o *Options) *cobra.Command {
	var target time.Duration
	var tfvars bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "the fewest scheduling members that schedule every pod within --target, and everything around them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := o.load()
			if err != nil {
				return err
			}
			r, err := model.Plan(&f.Figures, o.Cluster, o.Machines, target.Seconds())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if tfvars {
				return printTFVars(out, r.Prediction, cmd.CommandPath())
			}
			printPlan(out, r)
			printPrediction(out, r.Prediction)
			printSensitivities(out, model.Sensitivities(&f.Figures, o.Cluster, o.Machines, target.Seconds()))
			fmt.Fprintln(out)
			return printTFVars(out, r.Prediction, cmd.CommandPath())
		},
	}
	clusterFlags(cmd.Flags(), o)
	cmd.Flags().DurationVar(&target, "target", DefaultTarget, "time to schedule every pod")
	cmd.Flags().BoolVar(&tfvars, "tfvars", false, "print only the terraform variables of the answer")
	return cmd
}

func predictCmd(o *Options) *cobra.Command {
	var members int
	cmd := &cobra.Command{
		Use:   "predict",
		Short: "the model's figures for one configuration (--members scheduling members)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if members < 1 {
				return fmt.Errorf("--members %d: must be at least 1", members)
			}
			if err := errors.Join(o.Cluster.Validate(), o.Machines.Validate()); err != nil {
				return err
			}
			f, err := o.load()
			if err != nil {
				return err
			}
			p := model.Predict(&f.Figures, o.Cluster, o.Machines, members)
			printPrediction(cmd.OutOrStdout(), p)
			return nil
		},
	}
	clusterFlags(cmd.Flags(), o)
	cmd.Flags().IntVar(&members, "members", 256, "scheduling members (the original: 256)")
	return cmd
}

func checkCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "the model's figures for the measured localcluster runs, against what they measured",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := o.load()
			if err != nil {
				return err
			}
			rows, err := model.CheckLocal(f)
			if err != nil {
				return err
			}
			printCheck(cmd.OutOrStdout(), rows)
			return nil
		},
	}
}

func (o *Options) load() (*costs.File, error) {
	path := o.CostsPath
	if path == "" {
		p, err := findCosts()
		if err != nil {
			return nil, err
		}
		path = p
	}
	f, err := costs.Load(path)
	if err != nil {
		return nil, err
	}
	for name, s := range o.Set {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("--set %s=%s: %w", name, s, err)
		}
		if err := f.Figures.Set(name, v); err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
	}
	return f, nil
}

// findCosts looks for the data file in the repository holding the current
// directory (the nearest parent with a go.work).
func findCosts() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find %s: %w", costs.DefaultPath, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, costs.DefaultPath), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the current directory: give --costs (the repository's %s)", costs.DefaultPath)
		}
		dir = parent
	}
}
