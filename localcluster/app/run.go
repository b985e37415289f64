package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
	"github.com/k8s1m/k8s1m/localcluster/cluster"
	"github.com/k8s1m/k8s1m/localcluster/memcheck"
	"github.com/k8s1m/k8s1m/localcluster/report"
	"github.com/k8s1m/k8s1m/localcluster/runstate"
	"github.com/rs/zerolog"
)

// stopGrace is how long a process gets between SIGTERM and SIGKILL.
const stopGrace = 10 * time.Second

// Run brings one cluster up, runs the workload, reports and (unless
// KeepRunning) tears it down. The run directory is kept either way.
func Run(ctx context.Context, log zerolog.Logger, cfg Config) (*report.Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := preflight(ctx, log, cfg, cfg); err != nil {
		return nil, err
	}
	runDir := filepath.Join(cfg.RunsDir, time.Now().UTC().Format("20060102-150405")+"-"+string(cfg.Store)+"-"+cfg.Scheduler)
	rs, st, err := acquire(cfg.RunsDir, runDir)
	if err != nil {
		return nil, err
	}
	r, err := runOne(ctx, log, cfg, runDir, rs, st)
	if r != nil {
		r.Print(cfg.Out)
	}
	if err == nil && cfg.KeepRunning {
		printUsage(cfg.Out, st.Kubeconfig, cfg.RunsDir)
	}
	return r, err
}

// preflight checks memory for the largest of the stacks and finds or builds
// their binaries.
func preflight(ctx context.Context, log zerolog.Logger, cfgs ...Config) error {
	var names []string
	var need int64
	var shape memcheck.Shape
	for _, c := range cfgs {
		names = append(names, c.needed()...)
		s := c.shape()
		if e := memcheck.Estimate(s); e > need {
			need, shape = e, s
		}
	}
	avail, err := memcheck.Available()
	if err != nil {
		return err
	}
	log.Info().Str("estimate", memcheck.GiB(need)).Str("available", memcheck.GiB(avail)).Msg("memory check")
	if !cfgs[0].SkipMemoryCheck {
		if err := memcheck.Check(shape, avail); err != nil {
			return err
		}
	}
	return ensureBinaries(ctx, log, cfgs[0], names)
}

func (c Config) shape() memcheck.Shape {
	s := memcheck.Shape{Nodes: c.Nodes, Pods: c.Pods, Kwoks: c.kwoks(), Schedulers: 1, ControllerManager: c.ControllerManager}
	if c.Scheduler == cluster.DistScheduler {
		// Each member's node informer holds its shard only.
		s.Schedulers, s.Sharded, s.Relays = c.Schedulers, true, c.Relays
	}
	return s
}

// acquire records the run as active, refusing when another is up.
func acquire(runsDir, runDir string) (*runstate.Store, *runstate.State, error) {
	rs, err := runstate.New(runsDir)
	if err != nil {
		return nil, nil, err
	}
	st := &runstate.State{RunDir: runDir, PID: os.Getpid(), Started: time.Now().UTC()}
	if err := rs.Acquire(st); err != nil {
		return nil, nil, err
	}
	return rs, st, nil
}

// runOne runs one stack in runDir under the active-run record st.
func runOne(ctx context.Context, log zerolog.Logger, cfg Config, runDir string, rs *runstate.Store, st *runstate.State) (_ *report.Report, err error) {
	log = log.With().Str("run", cfg.name()).Logger()
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	log.Info().Str("run_dir", runDir).Int("nodes", cfg.Nodes).Int("pods", cfg.Pods).Msg("starting")
	started := time.Now()
	cl, err := cluster.Up(ctx, log, cluster.Config{
		RunDir:            runDir,
		BinDir:            cfg.BinDir,
		Store:             cfg.Store,
		StoreSplit:        cfg.StoreSplit,
		SplitWAL:          cfg.SplitWAL,
		Scheduler:         cfg.Scheduler,
		Schedulers:        cfg.Schedulers,
		Relays:            cfg.Relays,
		Kwoks:             cfg.kwoks(),
		KwokParallelism:   cfg.KwokParallelism,
		KwokPriorityBoost: cfg.KwokPriorityBoost,
		NodeLeaseDuration: cfg.NodeLeaseDuration,
		APIServerArgs:     cfg.APIServerArgs,
		KwokArgs:          cfg.KwokArgs,
		ControllerManager: cfg.ControllerManager,
		APIServerPort:     cfg.APIServerPort,
		StorePort:         cfg.StorePort,
		KillWithParent:    !cfg.KeepRunning,
		Started: func(p *proc.Process) {
			st.Processes = append(st.Processes, runstate.Process{Name: p.Name(), PID: p.PID(), Log: p.LogPath()})
			_ = rs.Update(st)
		},
	})
	if err != nil {
		_ = rs.Release(st.RunDir)
		if ctx.Err() != nil {
			return nil, interrupted(runDir)
		}
		return nil, err
	}
	st.Kubeconfig = cl.Kubeconfig()
	_ = rs.Update(st)
	defer func() {
		if cfg.KeepRunning && err == nil {
			return
		}
		if serr := cl.Stop(stopGrace); serr != nil {
			log.Warn().Err(serr).Msg("stop")
		}
		_ = rs.Release(st.RunDir)
	}()

	r, werr := runWorkload(ctx, log, cfg, cl, started)
	if r == nil {
		if ctx.Err() != nil {
			// The deferred Stop runs before the caller prints this.
			werr = interrupted(runDir)
		}
		return nil, werr
	}
	r.RunDir = runDir
	if !cfg.KeepRunning {
		// Stop first so usage comes from the kernel's rusage of the whole life.
		if serr := cl.Stop(stopGrace); serr != nil {
			log.Warn().Err(serr).Msg("stop")
		}
	}
	for _, p := range cl.Processes() {
		u := p.Usage()
		r.Processes = append(r.Processes, report.Process{Name: p.Name(), CPUSeconds: u.CPUSeconds, PeakRSSBytes: u.PeakRSSBytes})
	}
	if err := report.WriteJSON(filepath.Join(runDir, "report.json"), r); err != nil {
		return r, err
	}
	if cfg.Chart {
		if err := report.WriteChart(filepath.Join(runDir, "chart.html"), r); err != nil {
			return r, err
		}
	}
	if werr == nil && !r.OK() {
		werr = errors.New("not every pod was bound exactly once (see the report)")
	}
	return r, werr
}

// interrupted is the error of a run stopped by Ctrl-C or SIGTERM: it says
// what became of the processes and where the run directory is, not
// "context canceled".
func interrupted(runDir string) error {
	return fmt.Errorf("interrupted: every process this run started is stopped; run directory kept: %s", runDir)
}
