package app

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/makenodes/kwok"
	"github.com/spf13/cobra"
)

func newKwok(root *command.Root) *cobra.Command {
	cmd := &cobra.Command{Use: "kwok", Short: "run the kwok controllers for the nodes, or print their StatefulSet"}
	cmd.AddCommand(newKwokRun(root), newKwokManifest())
	return cmd
}

// groupsFor is how many controllers count nodes at perGroup per group need.
func groupsFor(count, perGroup int) (int, error) {
	if count <= 0 || perGroup <= 0 {
		return 0, fmt.Errorf("--count %d and --per-kwok-group %d must be positive", count, perGroup)
	}
	return (count + perGroup - 1) / perGroup, nil
}

func newKwokRun(root *command.Root) *cobra.Command {
	var (
		cfg             kwok.Config
		kubeconfig      string
		count, perGroup int
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run one local kwok controller per kwok group until interrupted",
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig the controllers use")
	command.BindEnv(fs, "kubeconfig", "KUBECONFIG")
	fs.IntVar(&count, "count", 10000, "nodes to simulate (with --per-kwok-group, sets the number of controllers)")
	fs.IntVar(&perGroup, "per-kwok-group", 10000, "nodes per controller, as given to node creation")
	fs.IntVar(&cfg.FirstGroup, "first-group", 0, "first group this machine runs (split groups over machines)")
	fs.StringVar(&cfg.Binary, "kwok-binary", defaultKwokBinary(), "the kwok controller binary (make bin/kwok)")
	fs.StringVar(&cfg.Dir, "dir", filepath.Join(os.TempDir(), "makenodes-kwok"), "directory for the stage config and controller logs")
	fs.IntVar(&cfg.NodeLeaseDurationSeconds, "node-lease-duration-seconds", 40, "node lease duration kwok writes (renewed at a quarter of it)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log, err := root.Logger()
		if err != nil {
			return err
		}
		if cfg.Groups, err = groupsFor(count, perGroup); err != nil {
			return err
		}
		cfg.Groups -= cfg.FirstGroup
		if cfg.Groups <= 0 {
			return fmt.Errorf("--first-group %d: only %d groups for --count %d", cfg.FirstGroup, cfg.Groups+cfg.FirstGroup, count)
		}
		if p, err := exec.LookPath(cfg.Binary); err == nil {
			cfg.Binary = p
		}
		if kubeconfig != "" {
			if cfg.Kubeconfig, err = filepath.Abs(kubeconfig); err != nil {
				return err
			}
		}
		cfg.Log = log
		ctx := cmd.Context()
		ctrls, err := kwok.Start(ctx, cfg)
		if err != nil {
			return err
		}
		defer ctrls.Stop()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				if err := ctrls.Exited(); err != nil {
					return err
				}
			}
		}
	}
	return cmd
}

func newKwokManifest() *cobra.Command {
	var (
		cfg             kwok.ManifestConfig
		count, perGroup int
	)
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "print the kwok controller StatefulSet (with RBAC and stages) for count nodes",
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.IntVar(&count, "count", 1000000, "nodes to simulate")
	fs.IntVar(&perGroup, "per-kwok-group", 10000, "nodes per controller (one replica per group)")
	fs.StringVar(&cfg.Namespace, "namespace", "kube-system", "namespace of the controllers")
	fs.StringVar(&cfg.Image, "image", kwok.DefaultImage, "kwok image")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if cfg.Replicas, err = groupsFor(count, perGroup); err != nil {
			return err
		}
		out, err := kwok.Manifest(cfg)
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(out)
		return err
	}
	return cmd
}
