package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

// ControllerManagerName is the kube-controller-manager's process (and log) name.
const ControllerManagerName = "kube-controller-manager"

// Controllers are the controllers kube-controller-manager runs: what the
// workloads people apply need (Deployments, StatefulSets, DaemonSets, Jobs,
// CronJobs and the cleanup behind them), the ServiceAccounts the
// ServiceAccount admission plugin insists on, and node lifecycle (NotReady
// nodes tainted so no pod lands on them). Left out: what needs a real
// kubelet, cloud or storage (volumes, IPAM, certificates), and taint
// eviction, which would delete every pod of a node whose kwok controller
// fell behind on Lease renewals under load.
var Controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"cronjob-controller",
	"ttl-after-finished-controller",
	"garbage-collector-controller",
	"pod-garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"node-lifecycle-controller",
}

// controllerManagerQPS is the controller-manager's client rate limit (its
// default is 20/s, burst 30): a Deployment of a thousand replicas would take
// its ReplicaSet controller nearly a minute to create the pods. This
// apiserver serves one person's experiments, not a shared production cluster.
const controllerManagerQPS = 200

// nodeMonitorGracePeriod is how long the node lifecycle controller waits
// for a node's heartbeat before marking it NotReady: the kubelet's ratio
// (50 s for a 40 s Lease renewed every 10 s) kept for longer Leases, so a
// run with --node-lease-duration 10m does not see every node go NotReady
// between two renewals.
func nodeMonitorGracePeriod(lease time.Duration) time.Duration {
	return lease + lease/4
}

// controllerManagerArgs are kube-controller-manager's flags. It talks to
// the apiserver as the admin (system:masters, no per-controller service
// account credentials), signs legacy service-account token Secrets with the
// key the apiserver verifies them with, and serves its health and metrics
// on a loopback port with a self-signed certificate.
func controllerManagerArgs(kubeconfig, caFile, saKey, certDir string, port int, lease time.Duration) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + certDir,
		"--leader-elect=false",
		"--controllers=" + strings.Join(Controllers, ","),
		"--service-account-private-key-file=" + saKey,
		"--root-ca-file=" + caFile,
		fmt.Sprintf("--kube-api-qps=%d", controllerManagerQPS),
		fmt.Sprintf("--kube-api-burst=%d", 2*controllerManagerQPS),
		"--node-monitor-grace-period=" + nodeMonitorGracePeriod(lease).String(),
	}
}

// startControllerManager starts kube-controller-manager and waits until its
// /healthz answers.
func (c *Cluster) startControllerManager(ctx context.Context) error {
	bin, err := c.bin(ControllerManagerName)
	if err != nil {
		return err
	}
	port, err := proc.FreePort()
	if err != nil {
		return err
	}
	args := controllerManagerArgs(c.API.Kubeconfig, c.PKI.CACert, c.PKI.SAPrivateKey,
		filepath.Join(c.cfg.RunDir, ControllerManagerName+"-certs"), port, c.nodeLeaseDuration())
	p, err := proc.Start(proc.Spec{
		Name:           ControllerManagerName,
		Path:           bin,
		Args:           append(args, c.cfg.ControllerManagerArgs...),
		RunDir:         c.cfg.RunDir,
		KillWithParent: c.cfg.KillWithParent,
	})
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	if err := p.WaitReady(ctx, proc.HTTPProbe(url, insecureLocalProbe), 2*time.Minute); err != nil {
		_ = p.Stop(5 * time.Second)
		return fmt.Errorf("%s: %w", ControllerManagerName, err)
	}
	c.ControllerManager = p
	c.started(p, ControllerManagerName)
	return nil
}
