package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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

// ShardLabel is the node label by which distscheduler's members select
// their shards (distscheduler README, "Shards"): a node created with it,
// naming a scheduling member, is never sent to the leader's node webhook
// (its object selector skips it) and is not moved while that member lives.
const ShardLabel = "k8s1m.io/dist-scheduler-shard"

// SchedulingMembers are the names of a tree's n scheduling members (the
// shard label values).
func SchedulingMembers(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = schedulingMemberName(i)
	}
	return names
}

func schedulingMemberName(i int) string { return fmt.Sprintf("scheduler-%d", i) }

// distMember is one distscheduler process of the tree.
type distMember struct {
	name                   string // member name and shard label value
	proc                   string // process and log file name
	relayOnly              bool
	grpcAddr, httpAddr     string
	gossipAddr, gossipPort string
	webhookAddr            string
}

// portsPerMember: gRPC, HTTP, gossip and admission webhook.
const portsPerMember = 4

// distTree plans the tree's processes: schedulers scheduling members, then
// relays relay-only members, each with its own loopback gRPC, HTTP, gossip
// and webhook ports taken from ports (portsPerMember each).
func distTree(schedulers, relays int, ports []int) []distMember {
	var ms []distMember
	add := func(name, procName string, relayOnly bool) {
		i := portsPerMember * len(ms)
		ms = append(ms, distMember{
			name:        name,
			proc:        procName,
			relayOnly:   relayOnly,
			grpcAddr:    fmt.Sprintf("127.0.0.1:%d", ports[i]),
			httpAddr:    fmt.Sprintf("127.0.0.1:%d", ports[i+1]),
			gossipAddr:  "127.0.0.1",
			gossipPort:  fmt.Sprint(ports[i+2]),
			webhookAddr: fmt.Sprintf("127.0.0.1:%d", ports[i+3]),
		})
	}
	for i := range schedulers {
		add(schedulingMemberName(i), fmt.Sprintf("distscheduler-%d", i), false)
	}
	for i := range relays {
		add(fmt.Sprintf("relay-%d", i), fmt.Sprintf("distscheduler-relay-%d", i), true)
	}
	return ms
}

// args are the member's distscheduler flags. A tree of one member needs no
// membership: without --seeds distscheduler runs its in-process
// single-member tree and opens no tree ports. In a larger tree every member,
// the first included (a seed may be the member itself), joins the relay tree
// through the first member's gossip address, with --insecure-tree: every
// member listens on loopback only, where nothing but this machine's own
// processes reach the ports, so certificates and a gossip key would guard
// nothing the machine does not already share.
// Every member also serves default-scheduler, as no kube-scheduler runs
// beside it: pods that name no scheduler are scheduled by the tree too.
func (m distMember) args(cfgPath, kubeconfig string, tree []distMember) []string {
	args := []string{
		"--config=" + cfgPath,
		"--kubeconfig=" + kubeconfig,
		"--member-name=" + m.name,
		"--grpc-addr=" + m.grpcAddr,
		"--http-addr=" + m.httpAddr,
		"--node-selector=" + NodeSelector,
		"--also-default-scheduler",
		"--log-format=console",
		// The leader's admission webhooks: pods reach the intake as they
		// are created, and nodes get their shard label at creation.
		"--webhook-addr=" + m.webhookAddr,
	}
	if m.relayOnly {
		args = append(args, "--relay-only")
	}
	if len(tree) > 1 {
		seed := tree[0]
		args = append(args,
			"--gossip-addr="+m.gossipAddr,
			"--gossip-port="+m.gossipPort,
			"--seeds="+seed.gossipAddr+":"+seed.gossipPort,
			"--insecure-tree")
	}
	return args
}

// startDistScheduler starts cfg.Schedulers scheduling members and cfg.Relays
// relay-only members (`distscheduler --relay-only`), one process each, in that
// order, each waited for until its /readyz answers (caches synced, tree
// joined). The first member seeds the tree's membership; all campaign for
// the Lease, whose holder is the tree's root (it submits the pods) and
// writes the shard labels. Only nodes created by localcluster are sharded.
func (c *Cluster) startDistScheduler(ctx context.Context) error {
	bin, err := c.bin("distscheduler")
	if err != nil {
		return err
	}
	n := max(c.cfg.Schedulers, 1)
	if c.cfg.Relays > 0 && n < 2 {
		return fmt.Errorf("relays need a multi-member tree: use --schedulers 2 or more, or --relays 0")
	}
	cfgPath := filepath.Join(c.cfg.RunDir, "distscheduler.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, distSchedulerConfig, c.API.Kubeconfig, DistSchedulerName), 0o644); err != nil {
		return fmt.Errorf("distscheduler config: %w", err)
	}
	ports, err := proc.FreePorts(portsPerMember * (n + c.cfg.Relays))
	if err != nil {
		return err
	}
	tree := distTree(n, c.cfg.Relays, ports)
	for _, m := range tree {
		p, err := proc.Start(proc.Spec{
			Name:           m.proc,
			Path:           bin,
			Args:           append(m.args(cfgPath, c.API.Kubeconfig, tree), c.cfg.SchedulerArgs...),
			RunDir:         c.cfg.RunDir,
			KillWithParent: c.cfg.KillWithParent,
		})
		if err != nil {
			return err
		}
		if err := p.WaitReady(ctx, proc.HTTPProbe("http://"+m.httpAddr+"/readyz", nil), 2*time.Minute); err != nil {
			_ = p.Stop(5 * time.Second)
			return fmt.Errorf("distscheduler member %s: %w", m.name, err)
		}
		if m.relayOnly {
			c.Relays = append(c.Relays, p)
			c.started(p, "distscheduler relay")
		} else {
			c.Schedulers = append(c.Schedulers, p)
			c.started(p, "distscheduler")
		}
	}
	c.SchedulerName = DistSchedulerName
	return c.waitNodeWebhook(ctx, time.Minute)
}

// waitNodeWebhook waits until the leader has registered its node admission
// webhook, so that the nodes localcluster creates next get their shard
// label at creation instead of by a second write.
func (c *Cluster) waitNodeWebhook(ctx context.Context, timeout time.Duration) error {
	rc, err := clientcmd.BuildConfigFromFlags("", c.API.Kubeconfig)
	if err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, DistSchedulerName, metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("distscheduler's leader did not register its node webhook within %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
