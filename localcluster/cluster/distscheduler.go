package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

// DistSchedulerName is the schedulerName distscheduler's profile serves.
const DistSchedulerName = "dist-scheduler"

// distSchedulerConfig is the original RUNNING guide's configuration: no client
// rate limit, upstream election off (distscheduler's own Lease only decides who
// writes shard labels), 5% of nodes scored, DistPermit on, no preemption.
// parallelism matches this machine's cores.
const distSchedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 5000
  burst: 5000
leaderElection:
  leaderElect: false
parallelism: 2
profiles:
- schedulerName: %s
  percentageOfNodesToScore: 5
  plugins:
    postFilter:
      disabled:
      - name: DefaultPreemption
    permit:
      enabled:
      - name: DistPermit
`

// startDistScheduler starts cfg.Schedulers distscheduler members and
// cfg.Relays relay-only members. The first member seeds the others' membership;
// all campaign for the shard-writing Lease. Only nodes created by localcluster
// are sharded.
func (c *Cluster) startDistScheduler(ctx context.Context) error {
	bin, err := c.bin("distscheduler")
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(c.cfg.RunDir, "distscheduler.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, distSchedulerConfig, c.API.Kubeconfig, DistSchedulerName), 0o644); err != nil {
		return fmt.Errorf("distscheduler config: %w", err)
	}
	n := max(c.cfg.Schedulers, 1)
	ports, err := proc.FreePorts(2 * n)
	if err != nil {
		return err
	}
	var seeds []string
	if n > 1 {
		seeds = []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}
	}
	for i := range n {
		grpcAddr := fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
		args := []string{
			"--config=" + cfgPath,
			"--kubeconfig=" + c.API.Kubeconfig,
			"--member-name=" + fmt.Sprintf("scheduler-%d", i),
			"--grpc-addr=" + grpcAddr,
			"--http-addr=" + httpAddr,
			"--node-selector=" + NodeSelector,
			"--log-format=console",
		}
		if len(seeds) > 0 && i > 0 {
			args = append(args, "--seeds="+strings.Join(seeds, ","))
		}
		p, err := proc.Start(proc.Spec{
			Name:           fmt.Sprintf("distscheduler-%d", i),
			Path:           bin,
			Args:           append(args, c.cfg.SchedulerArgs...),
			RunDir:         c.cfg.RunDir,
			KillWithParent: c.cfg.KillWithParent,
		})
		if err != nil {
			return err
		}
		if err := p.WaitReady(ctx, proc.HTTPProbe("http://"+httpAddr+"/healthz", nil), 2*time.Minute); err != nil {
			_ = p.Stop(5 * time.Second)
			return fmt.Errorf("distscheduler: %w", err)
		}
		c.Schedulers = append(c.Schedulers, p)
		c.started(p, "distscheduler")
	}
	if c.cfg.Relays > 0 {
		if err := c.startRelays(ctx, seeds); err != nil {
			return err
		}
	}
	c.SchedulerName = DistSchedulerName
	return nil
}

// startRelays starts relay-only tree members. A tree of one scheduler has no
// one to relay to, so relays need at least two members' worth of seeds.
func (c *Cluster) startRelays(ctx context.Context, seeds []string) error {
	if len(seeds) == 0 {
		return fmt.Errorf("relays need a multi-member tree: use --schedulers 2 or more, or --relays 0")
	}
	bin, err := c.bin("relay")
	if err != nil {
		return err
	}
	for i := range c.cfg.Relays {
		ports, err := proc.FreePorts(3)
		if err != nil {
			return err
		}
		metrics := fmt.Sprintf("127.0.0.1:%d", ports[2])
		p, err := proc.Start(proc.Spec{
			Name: fmt.Sprintf("relay-%d", i),
			Path: bin,
			Args: []string{
				fmt.Sprintf("--name=relay-%d", i),
				fmt.Sprintf("--grpc-addr=127.0.0.1:%d", ports[0]),
				"--gossip-addr=127.0.0.1",
				fmt.Sprintf("--gossip-port=%d", ports[1]),
				"--metrics-addr=" + metrics,
				"--seeds=" + strings.Join(seeds, ","),
				"--log-format=console",
			},
			RunDir:         c.cfg.RunDir,
			KillWithParent: c.cfg.KillWithParent,
		})
		if err != nil {
			return err
		}
		if err := p.WaitReady(ctx, proc.HTTPProbe("http://"+metrics+"/healthz", nil), time.Minute); err != nil {
			_ = p.Stop(5 * time.Second)
			return fmt.Errorf("relay: %w", err)
		}
		c.Relays = append(c.Relays, p)
		c.started(p, "relay")
	}
	return nil
}
