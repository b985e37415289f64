// Package app runs one distscheduler member: upstream kube-scheduler built
// as a library with distscheduler's node selection and the DistPermit plugin,
// a tree membership, leader election by Lease, the leader's shard controller,
// and the member's HTTP endpoints (/metrics, /healthz, /readyz, pprof).
package app

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// Config is everything one member needs. Flag names are in cmd/distscheduler.
type Config struct {
	// Scheduler holds upstream kube-scheduler's options (--config and its
	// flags), parsed by the caller.
	Scheduler *options.Options

	// Member is this member's name in the tree and the value of its nodes'
	// shard label; it must be a valid label value.
	Member string
	// GRPCAddr is where the tree listens (--grpc-addr).
	GRPCAddr string
	// HTTPAddr serves /metrics, /healthz, /readyz (and /debug/pprof with
	// EnablePprof); empty disables.
	HTTPAddr string
	// EnablePprof serves /debug/pprof on HTTPAddr (--enable-pprof).
	EnablePprof bool
	// LeaderEligible members campaign for the Lease (--leader-eligible).
	LeaderEligible bool
	// AlsoDefaultScheduler serves pods of schedulerName default-scheduler
	// too, with a copy of the distscheduler profile
	// (--also-default-scheduler): for clusters where no kube-scheduler runs.
	AlsoDefaultScheduler bool
	// NodeSelector limits the nodes the leader hands out (--node-selector).
	NodeSelector string
	// NumConcurrentSchedulers (--num-concurrent-schedulers) is how many
	// scheduling loops a member runs (SchedulingLoops: at most GOMAXPROCS),
	// and sizes how many pods are in the tree at once: the leader keeps
	// InFlightItems items undecided, and a member as many bids awaiting
	// verdicts.
	NumConcurrentSchedulers int
	// PermitAlwaysDeny makes DistPermit reject every pod (--permit-always-deny).
	PermitAlwaysDeny bool
	// RelayOnly members relay and may lead, but do not schedule (--relay-only).
	RelayOnly bool
	// WaitForSubschedulers is the gather deadline in seconds
	// (--wait-for-subschedulers).
	WaitForSubschedulers float64
	// WatchPods selects pod intake by watch (--watch-pods); see README.
	WatchPods bool
	// DisableNodeLabelIndex turns off the node label index
	// (--node-label-index=false): every pod's search then visits the
	// shard's nodes in turn, as upstream's does (see selector).
	DisableNodeLabelIndex bool
	// WebhookAddr is where a leader-eligible member serves the pod
	// admission webhook (--webhook-addr); empty: no webhook, the leader
	// takes pods from its watch.
	WebhookAddr string
	// WebhookHost is the IP or DNS name the API server dials for the
	// webhook (--webhook-host; default: WebhookAddr's host).
	WebhookHost string
	// NoPodWebhook leaves the pod admission webhook unregistered (only the
	// node webhook is used): pods then come from the leader's watch alone
	// (--pod-webhook=false).
	NoPodWebhook bool
	// Seeds are the gossip addresses ("host:port") of tree members to join;
	// with none the member runs an in-process single-member tree.
	Seeds []string
	// GossipKey is a base64 gossip encryption key (16, 24 or 32 bytes);
	// GossipKeyFile holds more, one per line (the relay binary's format).
	GossipKey, GossipKeyFile string
	// TLSCertFile, TLSKeyFile and TLSCAFile give the tree's gRPC links
	// mutual TLS (--tree-tls-*-file, as the relay binary's --tls-*-file flags); the certificate
	// must name the member (CN or DNS SAN).
	TLSCertFile, TLSKeyFile, TLSCAFile string
	// InsecureTree lets a tree member start without mutual TLS or without a
	// gossip key (--insecure-tree): for loopback clusters and tests only.
	InsecureTree bool
	// AdvertiseGRPCAddr is the gRPC address peers dial (default: derived
	// from GRPCAddr and the gossip address, as the relay binary does).
	AdvertiseGRPCAddr string
	// GossipAddr, GossipPort and AdvertiseGossipAddr place the membership
	// gossip (memberlist); GossipPort 0 picks a free port.
	GossipAddr          string
	GossipPort          int
	AdvertiseGossipAddr string
	// Fanout is the most children a tree member forwards to; it must be
	// the same on every member (and on relay binaries).
	Fanout int
	// JoinRetry is the pause between tree join attempts.
	JoinRetry time.Duration
	// InFlight is the most pod items the leader keeps in the tree at once,
	// and the most bids a member keeps awaiting verdicts; 0 means 4 ×
	// NumConcurrentSchedulers.
	InFlight int
	// Bindings (--bindings-in-flight) is the most Bindings a member has
	// under way at once; 0 means cycle's default (128).
	Bindings int
	// Relay is the base relay configuration (timings); nil means
	// relay.DefaultConfig(). Tests pass relay.DefaultLocalConfig().
	Relay *relay.Config
	// Log is set by Run for the tree constructors.
	Log zerolog.Logger

	// Lease names the leader election Lease and its timing.
	LeaseNamespace, LeaseName                 string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// NewTree builds this member's tree once its caches are synced; nil
	// uses DefaultTree.
	NewTree func(ctx context.Context, cfg Config, scheduling bool) (tree.Tree, func(), error)
	// Registry receives distscheduler's own metrics; nil makes a fresh one.
	// Upstream's scheduler metrics live in its global registry and are
	// served beside these.
	Registry *prometheus.Registry
	// Ready, when set, is called once the member is scheduling (tests).
	Ready func()
}

// GatherDeadline is WaitForSubschedulers as a duration.
func (c Config) GatherDeadline() time.Duration {
	return time.Duration(c.WaitForSubschedulers * float64(time.Second))
}

// SchedulingLoops is how many scheduling loops a member runs: one per
// concurrent scheduler (--num-concurrent-schedulers, the original's
// meaning), but no more than the Go scheduler runs at once: a loop more
// than GOMAXPROCS only adds a snapshot to keep current.
func (c Config) SchedulingLoops() int {
	return max(1, min(c.NumConcurrentSchedulers, runtime.GOMAXPROCS(0)))
}

// InFlightItems is the leader's in-flight item budget: InFlight, or four
// items per concurrent scheduler.
func (c Config) InFlightItems() int {
	if c.InFlight > 0 {
		return c.InFlight
	}
	return 4 * c.NumConcurrentSchedulers
}

// Validate checks the member's own settings (upstream validates its own).
func (c Config) Validate() error {
	var errs []error
	if c.Scheduler == nil {
		errs = append(errs, errors.New("scheduler options are required"))
	}
	if msgs := validation.IsValidLabelValue(c.Member); len(msgs) > 0 || c.Member == "" {
		errs = append(errs, fmt.Errorf("member name %q must be a non-empty label value: %v", c.Member, msgs))
	}
	if c.WaitForSubschedulers <= 0 {
		errs = append(errs, fmt.Errorf("--wait-for-subschedulers must be > 0, got %v", c.WaitForSubschedulers))
	}
	if c.NumConcurrentSchedulers < 1 {
		errs = append(errs, fmt.Errorf("--num-concurrent-schedulers must be >= 1, got %d", c.NumConcurrentSchedulers))
	}
	if c.Bindings < 0 {
		errs = append(errs, fmt.Errorf("--bindings-in-flight must be >= 0, got %d", c.Bindings))
	}
	if c.LeaseNamespace == "" || c.LeaseName == "" {
		errs = append(errs, errors.New("lease namespace and name are required"))
	}
	return errors.Join(errs...)
}
