package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/localcluster/cluster"
	"github.com/rs/zerolog"
)

// needed lists the binaries a run of c starts.
func (c Config) needed() []string {
	names := []string{string(c.Store), "kube-apiserver", "kwok"}
	if c.ControllerManager {
		names = append(names, cluster.ControllerManagerName)
	}
	if c.Scheduler == cluster.KubeScheduler {
		return append(names, "kube-scheduler")
	}
	// Relays are distscheduler members started with --relay-only.
	return append(names, "distscheduler")
}

// ensureBinaries finds every binary, building the missing ones with the root
// Makefile when allowed.
func ensureBinaries(ctx context.Context, log zerolog.Logger, c Config, names []string) error {
	var targets []string
	if c.Build == "always" {
		targets = []string{"tools", "bins"}
	} else {
		for _, n := range names {
			if _, err := bins.PathIn(c.BinDir, n); err == nil {
				continue
			} else if !errors.Is(err, bins.ErrMissing) || c.Build == "never" {
				return err
			}
			t := bins.MakeTarget(n)[len("make "):]
			if !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	if len(targets) == 0 {
		return nil
	}
	if c.RepoRoot == "" {
		return fmt.Errorf("binaries missing (%v) and no repo root to build them in: set K8S1M_BIN or run from the repository", targets)
	}
	if _, err := os.Stat(filepath.Join(c.RepoRoot, "Makefile")); err != nil {
		return fmt.Errorf("build %v: no Makefile in %s: %w", targets, c.RepoRoot, err)
	}
	log.Info().Strs("targets", targets).Str("dir", c.RepoRoot).Msg("building binaries (kube-apiserver and etcd take minutes the first time)")
	cmd := exec.CommandContext(ctx, "make", append([]string{"-C", c.RepoRoot, "BIN=" + c.BinDir}, targets...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make %v: %w", targets, err)
	}
	for _, n := range names {
		if _, err := bins.PathIn(c.BinDir, n); err != nil {
			return fmt.Errorf("after make: %w", err)
		}
	}
	return nil
}
