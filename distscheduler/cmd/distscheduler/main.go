// Command distscheduler runs one member of the sharded Kubernetes scheduler:
// upstream kube-scheduler (its flags and --config) plus distscheduler's own
// flags. See the module README for the design.
package main

import (
	"fmt"
	"os"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/spf13/cobra"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	metricsfeatures "k8s.io/component-base/metrics/features"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// The gates upstream's kube-scheduler command registers in its own init;
// logging options consult them (ContextualLogging and friends).
func init() {
	utilruntime.Must(logsapi.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
	utilruntime.Must(metricsfeatures.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
}

func main() {
	root := command.NewRoot("distscheduler", "Kubernetes default scheduler sharded over many replicas")
	opts := options.NewOptions()
	host, _ := os.Hostname()
	cfg := app.Config{Scheduler: opts}

	fs := root.Cmd.Flags()
	for _, name := range opts.Flags.Order {
		fs.AddFlagSet(opts.Flags.FlagSet(name))
	}
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", ":50051", "gRPC server address of this member's tree endpoint")
	fs.BoolVar(&cfg.LeaderEligible, "leader-eligible", true, "Whether this scheduler should run for leader election")
	fs.StringVar(&cfg.NodeSelector, "node-selector", "", "Scheduler only tracks nodes with this label selector (only applies for leader)")
	fs.IntVar(&cfg.NumConcurrentSchedulers, "num-concurrent-schedulers", 8, "number of concurrent schedulers (accepted for compatibility; see README)")
	fs.BoolVar(&cfg.PermitAlwaysDeny, "permit-always-deny", false, "Have Permit deny all pods. For testing only")
	fs.BoolVar(&cfg.RelayOnly, "relay-only", false, "Only relay pods, do not schedule ourselves")
	fs.Float64Var(&cfg.WaitForSubschedulers, "wait-for-subschedulers", 1.0, "seconds a gather waits for sub-schedulers before deciding without the stragglers")
	fs.BoolVar(&cfg.WatchPods, "watch-pods", false, "Leader watches for unscheduled pods (otherwise just use admission hook; see README)")
	fs.StringSliceVar(&cfg.Seeds, "seeds", nil, "tree membership seeds (host:port of other members); empty runs a single-member tree")
	fs.StringVar(&cfg.GossipKey, "gossip-key", "", "shared secret encrypting tree membership gossip")
	fs.StringVar(&cfg.Member, "member-name", host, "this member's name: its tree identity and its nodes' shard label value")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":10262", "address for /metrics, /healthz, /readyz and /debug/pprof (empty disables)")
	fs.StringVar(&cfg.LeaseNamespace, "lease-namespace", "kube-system", "namespace of the distscheduler leader Lease")
	fs.StringVar(&cfg.LeaseName, "lease-name", "dist-scheduler", "name of the distscheduler leader Lease")
	fs.DurationVar(&cfg.LeaseDuration, "lease-duration", defaultLease.duration, "leader Lease duration")
	fs.DurationVar(&cfg.RenewDeadline, "lease-renew-deadline", defaultLease.renew, "leader Lease renew deadline")
	fs.DurationVar(&cfg.RetryPeriod, "lease-retry-period", defaultLease.retry, "leader Lease retry period")
	for flag, env := range map[string]string{
		"grpc-addr":                 "DISTSCHEDULER_GRPC_ADDR",
		"leader-eligible":           "DISTSCHEDULER_LEADER_ELIGIBLE",
		"node-selector":             "DISTSCHEDULER_NODE_SELECTOR",
		"num-concurrent-schedulers": "DISTSCHEDULER_NUM_CONCURRENT_SCHEDULERS",
		"permit-always-deny":        "DISTSCHEDULER_PERMIT_ALWAYS_DENY",
		"relay-only":                "DISTSCHEDULER_RELAY_ONLY",
		"wait-for-subschedulers":    "DISTSCHEDULER_WAIT_FOR_SUBSCHEDULERS",
		"watch-pods":                "DISTSCHEDULER_WATCH_PODS",
		"seeds":                     "DISTSCHEDULER_SEEDS",
		"gossip-key":                "DISTSCHEDULER_GOSSIP_KEY",
		"member-name":               "DISTSCHEDULER_MEMBER_NAME",
		"http-addr":                 "DISTSCHEDULER_HTTP_ADDR",
	} {
		command.BindEnv(fs, flag, env)
	}

	root.Cmd.RunE = func(c *cobra.Command, _ []string) error {
		log, err := root.Logger()
		if err != nil {
			return err
		}
		fg := opts.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
		if err := logsapi.ValidateAndApply(opts.Logs, fg); err != nil {
			return fmt.Errorf("upstream logging options: %w", err)
		}
		app.RouteKlog(log)
		// Upstream's secure serving endpoint is not served; --http-addr
		// carries metrics and health. Binding it would only hold a port.
		opts.SecureServing.BindPort = 0
		return app.Run(c.Context(), log, cfg)
	}
	command.Execute(root.Cmd)
}
