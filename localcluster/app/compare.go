package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/localcluster/cluster"
	"github.com/k8s1m/k8s1m/localcluster/report"
	"github.com/rs/zerolog"
)

// Compare runs the same workload on the candidate stack (cfg's store and
// scheduler, normally memetcd + distscheduler) and on the baseline (etcd +
// kube-scheduler), one after the other on the same machine, and reports both
// with their ratios. Only ratios measured in one invocation mean anything.
func Compare(ctx context.Context, log zerolog.Logger, cfg Config) (*report.Comparison, error) {
	cfg.KeepRunning = false
	base := cfg
	base.Store, base.Scheduler = store.Etcd, cluster.KubeScheduler
	base.StoreSplit, base.SplitWAL = false, nil
	if cfg.Store == base.Store && cfg.Scheduler == base.Scheduler {
		return nil, fmt.Errorf("compare needs a candidate other than %s: pass --store/--scheduler", base.name())
	}
	for _, c := range []Config{cfg, base} {
		if err := c.validate(); err != nil {
			return nil, err
		}
	}
	if err := preflight(ctx, log, cfg, base); err != nil {
		return nil, err
	}
	root := filepath.Join(cfg.RunsDir, time.Now().UTC().Format("20060102-150405")+"-compare")
	rs, st, err := acquire(cfg.RunsDir, root)
	if err != nil {
		return nil, err
	}
	defer rs.Release(root)
	var reports [2]*report.Report
	var errs []error
	for i, c := range []Config{cfg, base} {
		st.Processes = nil
		r, err := runOne(ctx, log, c, filepath.Join(root, string(c.Store)+"-"+c.Scheduler), rs, st)
		if r != nil {
			r.Print(cfg.Out)
			fmt.Fprintln(cfg.Out)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name(), err))
		}
		if r == nil || ctx.Err() != nil {
			return nil, errors.Join(errs...)
		}
		reports[i] = r
	}
	cmp := report.Compare(reports[0], reports[1])
	cmp.Print(cfg.Out)
	if err := report.WriteJSON(filepath.Join(root, "compare.json"), cmp); err != nil {
		errs = append(errs, err)
	}
	if cfg.Chart {
		if err := report.WriteChart(filepath.Join(root, "chart.html"), reports[0], reports[1]); err != nil {
			errs = append(errs, err)
		}
	}
	fmt.Fprintf(cfg.Out, "run dir: %s\n", root)
	return cmp, errors.Join(errs...)
}
