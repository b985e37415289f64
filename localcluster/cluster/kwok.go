package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

// startKwoks starts one kwok controller per kwok-group, each faking only the
// nodes with its group's label (the original's layout: one controller per
// 10,000 nodes) and serving /healthz on a loopback port.
func (c *Cluster) startKwoks(ctx context.Context) error {
	bin, err := c.bin("kwok")
	if err != nil {
		return err
	}
	parallelism := c.cfg.KwokParallelism
	if parallelism <= 0 {
		parallelism = DefaultKwokParallelism
	}
	leaseSeconds := int(c.nodeLeaseDuration() / time.Second)
	stages, err := writeKwokStages(c.cfg.RunDir, parallelism)
	if err != nil {
		return err
	}
	for i := range max(c.cfg.Kwoks, 1) {
		port, err := proc.FreePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		args := []string{
			"--kubeconfig=" + c.API.Kubeconfig,
			"--config=" + stages,
			"--manage-all-nodes=false",
			fmt.Sprintf("--manage-nodes-with-label-selector=kwok-group=%d", i),
			"--server-address=" + addr,
			"--node-ip=10.0.0.1",
			// Heartbeat through Leases, as kubelets do, not full status updates.
			fmt.Sprintf("--node-lease-duration-seconds=%d", leaseSeconds),
			// Distinct pod IP ranges per controller keep IPs unique cluster-wide.
			fmt.Sprintf("--cidr=10.%d.0.0/16", 64+i%128),
		}
		p, err := proc.Start(proc.Spec{
			Name:           fmt.Sprintf("kwok-%d", i),
			Path:           bin,
			Args:           append(args, c.cfg.KwokArgs...),
			RunDir:         c.cfg.RunDir,
			KillWithParent: c.cfg.KillWithParent,
			// kwok reads ~/.kwok/kwok.yaml when present: keep a user's file out.
			Env: []string{"HOME=" + c.cfg.RunDir},
		})
		if err != nil {
			return err
		}
		c.Kwoks = append(c.Kwoks, p)
		if c.cfg.KwokPriorityBoost > 0 {
			// kwok stands in for kubelets, which do not compete with the
			// control plane for CPU: it gets the CPU first.
			if nice, err := raisePriority(p.PID(), c.cfg.KwokPriorityBoost); err != nil {
				c.log.Warn().Err(err).Str("process", p.Name()).Msg("kwok keeps the default priority")
			} else {
				c.log.Debug().Str("process", p.Name()).Int("nice", nice).Msg("kwok priority raised")
			}
		}
		if err := p.WaitReady(ctx, proc.HTTPProbe("http://"+addr+"/healthz", nil), time.Minute); err != nil {
			_ = p.Stop(5 * time.Second)
			return fmt.Errorf("kwok: %w", err)
		}
		c.started(p, "kwok")
	}
	return nil
}
