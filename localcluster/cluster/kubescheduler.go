package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

// kubeSchedulerConfig lifts the scheduler's client rate limit (50 QPS by
// default), which would otherwise cap binding at ~50 pods/s and measure the
// limiter instead of the scheduler; scheduler_perf does the same.
const kubeSchedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 5000
  burst: 5000
leaderElection:
  leaderElect: false
`

// insecureLocalProbe probes a component's self-signed loopback health endpoint;
// only readiness is learned from it, nothing is sent.
var insecureLocalProbe = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback health probe

func (c *Cluster) startKubeScheduler(ctx context.Context) error {
	bin, err := c.bin("kube-scheduler")
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(c.cfg.RunDir, "kube-scheduler.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, kubeSchedulerConfig, c.API.Kubeconfig), 0o644); err != nil {
		return fmt.Errorf("kube-scheduler config: %w", err)
	}
	port, err := proc.FreePort()
	if err != nil {
		return err
	}
	args := []string{
		"--config=" + cfgPath,
		"--authentication-kubeconfig=" + c.API.Kubeconfig,
		"--authorization-kubeconfig=" + c.API.Kubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(c.cfg.RunDir, "kube-scheduler-certs"),
	}
	p, err := proc.Start(proc.Spec{
		Name:           "kube-scheduler",
		Path:           bin,
		Args:           append(args, c.cfg.SchedulerArgs...),
		RunDir:         c.cfg.RunDir,
		KillWithParent: c.cfg.KillWithParent,
	})
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	if err := p.WaitReady(ctx, proc.HTTPProbe(url, insecureLocalProbe), 2*time.Minute); err != nil {
		_ = p.Stop(5 * time.Second)
		return fmt.Errorf("kube-scheduler: %w", err)
	}
	c.Schedulers = append(c.Schedulers, p)
	c.SchedulerName = "default-scheduler"
	c.started(p, "kube-scheduler")
	return nil
}
