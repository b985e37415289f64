// Package integration runs distscheduler members against a real
// kube-apiserver backed by a real etcd.
package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/k8s1m/k8s1m/distscheduler/internal/testcluster"
	"github.com/k8s1m/k8s1m/distscheduler/shard"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

const (
	schedulerName = "dist-scheduler"
	leaseNS       = "kube-system"
	leaseName     = "dist-scheduler"
)

var routeKlogOnce sync.Once

// schedulerConfig writes the example KubeSchedulerConfiguration with the
// cluster's kubeconfig added (the example runs in-cluster).
func schedulerConfig(t *testing.T, kubeconfig string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "clientConnection:\n", "clientConnection:\n  kubeconfig: "+kubeconfig+"\n", 1)
	p := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// member is one distscheduler replica running in the test process.
type member struct {
	name   string
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	ready  chan struct{}
	once   sync.Once
}

// testLogger logs the members at warn level, or at the level named by
// DISTSCHEDULER_TEST_LOG (debug, info, ...) when debugging a test.
func testLogger() zerolog.Logger {
	level := zerolog.WarnLevel
	if l, err := zerolog.ParseLevel(os.Getenv("DISTSCHEDULER_TEST_LOG")); err == nil && l != zerolog.NoLevel {
		level = l
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(level).With().Timestamp().Logger()
}

// treeFunc is app.Config.NewTree.
type treeFunc func(ctx context.Context, cfg app.Config, scheduling bool) (tree.Tree, func(), error)

// startMember runs app.Run for name on the tree newTree joins.
func startMember(t *testing.T, newTree treeFunc, name, configPath string, log zerolog.Logger, mods ...func(*app.Config)) *member {
	t.Helper()
	routeKlogOnce.Do(func() {
		app.RouteKlog(log.Level(zerolog.ErrorLevel))
		if err := app.SetFeatureDefaults(); err != nil {
			panic(err)
		}
	})
	opts := options.NewOptions()
	opts.ConfigFile = configPath
	opts.SecureServing.BindPort = 0
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, reg: prometheus.NewRegistry(), cancel: cancel, done: make(chan error, 1), ready: make(chan struct{})}
	cfg := app.Config{
		Scheduler:               opts,
		Member:                  name,
		HTTPAddr:                "127.0.0.1:0",
		LeaderEligible:          true,
		NumConcurrentSchedulers: 8,
		WaitForSubschedulers:    1,
		WatchPods:               true,
		LeaseNamespace:          leaseNS,
		LeaseName:               leaseName,
		LeaseDuration:           4 * time.Second,
		RenewDeadline:           3 * time.Second,
		RetryPeriod:             500 * time.Millisecond,
		NewTree:                 newTree,
		Registry:                m.reg,
		Ready:                   func() { close(m.ready) },
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	go func() { m.done <- app.Run(ctx, log.With().Str("test_member", name).Logger(), cfg) }()
	t.Cleanup(m.stop)
	select {
	case <-m.ready:
	case err := <-m.done:
		m.done <- err
		t.Fatalf("member %s exited before ready: %v", name, err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("member %s not ready after 2m", name)
	}
	return m
}

// stop cancels the member and waits for Run to return.
func (m *member) stop() {
	m.once.Do(func() {
		m.cancel()
		if err := <-m.done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "member %s: %v\n", m.name, err)
		}
	})
}

// counter sums the samples of the counter named name whose label
// (if label != "") has value.
func (m *member) counter(name, label, value string) float64 {
	mfs, err := m.reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			match := label == ""
			for _, l := range mt.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if match {
				sum += mt.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// poll calls cond every interval until it returns true or timeout passes.
func poll(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(interval)
	}
}

// shardCounts counts nodes per shard label value ("" = unlabelled).
func shardCounts(ctx context.Context, cs kubernetes.Interface) (map[string]int, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range nodes.Items {
		out[n.Labels[shard.Label]]++
	}
	return out, nil
}

func leaseHolder(ctx context.Context, cs kubernetes.Interface) string {
	l, err := cs.CoordinationV1().Leases(leaseNS).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// podScheduledFalse: the leader marked the pod Unschedulable with the
// members' own reason (upstream's FitError words), as the relay carried it.
func podScheduledFalse(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable &&
			strings.HasPrefix(c.Message, "no member can place the pod") && strings.Contains(c.Message, "Insufficient cpu") {
			return true
		}
	}
	return false
}

// shardLabelsAgree checks that every bound pod carries the shard label of
// its node: the member that owns the node is the one whose informer sees it.
func shardLabelsAgree(pods []v1.Pod, nodes []v1.Node) []string {
	owner := map[string]string{}
	for _, n := range nodes {
		owner[n.Name] = n.Labels[shard.Label]
	}
	var bad []string
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			continue
		}
		if got, want := p.Labels[shard.Label], owner[p.Spec.NodeName]; got != want {
			bad = append(bad, fmt.Sprintf("%s on %s: label %q, node's %q", p.Name, p.Spec.NodeName, got, want))
		}
	}
	return bad
}

func newCluster(t *testing.T) *testcluster.Cluster {
	if testing.Short() {
		t.Skip("integration test: starts etcd and kube-apiserver")
	}
	return testcluster.Start(t)
}
