// Command distscheduler runs one member of the sharded Kubernetes scheduler:
// upstream kube-scheduler (its flags and --config) plus distscheduler's own
// flags. See the module README for the design.
package main

import (
	"fmt"
	"os"
	"time"

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
	utilruntime.Must(app.SetFeatureDefaults())
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
	fs.BoolVar(&cfg.AlsoDefaultScheduler, "also-default-scheduler", false, "also schedule pods of schedulerName default-scheduler (pods that name no scheduler), with a copy of the first profile that enables DistPermit; for clusters where no kube-scheduler runs")
	fs.StringVar(&cfg.NodeSelector, "node-selector", "", "Scheduler only tracks nodes with this label selector (only applies for leader)")
	fs.IntVar(&cfg.NumConcurrentSchedulers, "num-concurrent-schedulers", 8, "scheduling loops per member (at most GOMAXPROCS), each on its own snapshot of the shard; with --seeds, the leader keeps 4 × this many pods in the tree at once")
	fs.IntVar(&cfg.Bindings, "bindings-in-flight", 128, "most Bindings a member has under way at once (a won pod waits for room); kube-apiserver serves 100 streams per HTTP/2 connection and a client past that opens more connections, each with a TLS handshake")
	fs.BoolVar(&cfg.PermitAlwaysDeny, "permit-always-deny", false, "Have Permit deny all pods. For testing only")
	fs.BoolVar(&cfg.RelayOnly, "relay-only", false, "Only relay pods, do not schedule ourselves")
	fs.Float64Var(&cfg.WaitForSubschedulers, "wait-for-subschedulers", 1.0, "seconds a gather waits for sub-schedulers before deciding without the stragglers")
	fs.BoolVar(&cfg.WatchPods, "watch-pods", false, "Leader watches for unscheduled pods (otherwise just use admission hook; see README)")
	gcPercent := fs.Int("gc-percent", app.DefaultGCPercent, "garbage collector target (GOGC) for this member, with a soft memory limit at 90% of the container's; the GOGC and GOMEMLIMIT environment variables win; 0 keeps Go's default")
	labelIndex := fs.Bool("node-label-index", true, "search only the nodes whose labels can satisfy a pod's nodeSelector and required node affinity (upstream's filters and scores still decide); false visits every node in turn, as kube-scheduler does")
	fs.StringVar(&cfg.WebhookAddr, "webhook-addr", "", "with --seeds, where a leader-eligible member serves the pod admission webhook (HTTPS, self-made certificate); the leader registers it. Empty: no webhook")
	podWebhook := fs.Bool("pod-webhook", false, "with --webhook-addr, also register the pod admission webhook: the leader hears of new pods before its watch does, at the cost of a webhook call per pod in the API server and, when it is overloaded, Bindings that arrive before the pod is stored (localcluster/BENCHMARKS.md); off by default, only the node webhook")
	fs.StringVar(&cfg.WebhookHost, "webhook-host", "", "IP or DNS name the API server dials for the webhook (default: --webhook-addr's host)")
	fs.StringSliceVar(&cfg.Seeds, "seeds", nil, "gossip addresses (host:port, comma-separated; a DNS name joins every address behind it) of tree members to join through the relay; empty runs an in-process single-member tree")
	fs.StringVar(&cfg.GossipKey, "gossip-key", "", "base64 gossip encryption key (16, 24 or 32 bytes), as one line of the relay binary's --gossip-key-file")
	fs.StringVar(&cfg.GossipKeyFile, "gossip-key-file", "", "file of base64 gossip keys, one per line (the relay binary's format); after --gossip-key")
	fs.StringVar(&cfg.TLSCertFile, "tree-tls-cert-file", "", "with --seeds, certificate for mutual TLS on the tree's gRPC links (with --tree-tls-key-file and --tree-tls-ca-file; the relay binary's --tls-*-file); it must name --member-name (CN or DNS SAN)")
	fs.StringVar(&cfg.TLSKeyFile, "tree-tls-key-file", "", "private key for --tree-tls-cert-file")
	fs.StringVar(&cfg.TLSCAFile, "tree-tls-ca-file", "", "CA the tree members' certificates must chain to")
	fs.BoolVar(&cfg.InsecureTree, "insecure-tree", false, "with --seeds, start without mutual TLS or without a gossip key (anyone reaching the tree's ports can join and forge messages; loopback clusters and tests only)")
	fs.StringVar(&cfg.GossipAddr, "gossip-addr", "0.0.0.0", "gossip (memberlist) bind address, UDP and TCP")
	fs.IntVar(&cfg.GossipPort, "gossip-port", 7946, "gossip bind port (0 picks a free port)")
	fs.StringVar(&cfg.AdvertiseGossipAddr, "advertise-gossip-addr", "", "gossip address told to peers (default: bind address or first private IP)")
	fs.StringVar(&cfg.AdvertiseGRPCAddr, "advertise-grpc-addr", "", "gRPC address peers dial (default: --grpc-addr's IP, or the gossip IP with its port)")
	fs.IntVar(&cfg.Fanout, "fanout", 16, "most children a tree member forwards to; the same on every member and relay")
	fs.DurationVar(&cfg.JoinRetry, "join-retry", 2*time.Second, "pause between tree join attempts while no seed answers")
	fs.StringVar(&cfg.Member, "member-name", host, "this member's name: its tree identity and its nodes' shard label value")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":10262", "address for /metrics, /healthz and /readyz (empty disables)")
	fs.BoolVar(&cfg.EnablePprof, "enable-pprof", false, "also serve /debug/pprof on --http-addr (unauthenticated: keep the address private)")
	fs.StringVar(&cfg.LeaseNamespace, "lease-namespace", "kube-system", "namespace of the distscheduler leader Lease")
	fs.StringVar(&cfg.LeaseName, "lease-name", "dist-scheduler", "name of the distscheduler leader Lease")
	fs.DurationVar(&cfg.LeaseDuration, "lease-duration", defaultLease.duration, "leader Lease duration")
	fs.DurationVar(&cfg.RenewDeadline, "lease-renew-deadline", defaultLease.renew, "leader Lease renew deadline")
	fs.DurationVar(&cfg.RetryPeriod, "lease-retry-period", defaultLease.retry, "leader Lease retry period")
	for flag, env := range map[string]string{
		"grpc-addr":                 "DISTSCHEDULER_GRPC_ADDR",
		"leader-eligible":           "DISTSCHEDULER_LEADER_ELIGIBLE",
		"also-default-scheduler":    "DISTSCHEDULER_ALSO_DEFAULT_SCHEDULER",
		"node-selector":             "DISTSCHEDULER_NODE_SELECTOR",
		"num-concurrent-schedulers": "DISTSCHEDULER_NUM_CONCURRENT_SCHEDULERS",
		"bindings-in-flight":        "DISTSCHEDULER_BINDINGS_IN_FLIGHT",
		"permit-always-deny":        "DISTSCHEDULER_PERMIT_ALWAYS_DENY",
		"relay-only":                "DISTSCHEDULER_RELAY_ONLY",
		"wait-for-subschedulers":    "DISTSCHEDULER_WAIT_FOR_SUBSCHEDULERS",
		"watch-pods":                "DISTSCHEDULER_WATCH_PODS",
		"node-label-index":          "DISTSCHEDULER_NODE_LABEL_INDEX",
		"gc-percent":                "DISTSCHEDULER_GC_PERCENT",
		"webhook-addr":              "DISTSCHEDULER_WEBHOOK_ADDR",
		"webhook-host":              "DISTSCHEDULER_WEBHOOK_HOST",
		"pod-webhook":               "DISTSCHEDULER_POD_WEBHOOK",
		"seeds":                     "DISTSCHEDULER_SEEDS",
		"gossip-key":                "DISTSCHEDULER_GOSSIP_KEY",
		"gossip-key-file":           "DISTSCHEDULER_GOSSIP_KEY_FILE",
		"tree-tls-cert-file":        "DISTSCHEDULER_TREE_TLS_CERT_FILE",
		"tree-tls-key-file":         "DISTSCHEDULER_TREE_TLS_KEY_FILE",
		"tree-tls-ca-file":          "DISTSCHEDULER_TREE_TLS_CA_FILE",
		"insecure-tree":             "DISTSCHEDULER_INSECURE_TREE",
		"gossip-addr":               "DISTSCHEDULER_GOSSIP_ADDR",
		"gossip-port":               "DISTSCHEDULER_GOSSIP_PORT",
		"advertise-gossip-addr":     "DISTSCHEDULER_ADVERTISE_GOSSIP_ADDR",
		"advertise-grpc-addr":       "DISTSCHEDULER_ADVERTISE_GRPC_ADDR",
		"fanout":                    "DISTSCHEDULER_FANOUT",
		"join-retry":                "DISTSCHEDULER_JOIN_RETRY",
		"member-name":               "DISTSCHEDULER_MEMBER_NAME",
		"http-addr":                 "DISTSCHEDULER_HTTP_ADDR",
		"enable-pprof":              "DISTSCHEDULER_ENABLE_PPROF",
	} {
		command.BindEnv(fs, flag, env)
	}

	root.Cmd.RunE = func(c *cobra.Command, _ []string) error {
		cfg.DisableNodeLabelIndex = !*labelIndex
		cfg.NoPodWebhook = !*podWebhook
		log, err := root.Logger()
		if err != nil {
			return err
		}
		fg := opts.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
		if err := logsapi.ValidateAndApply(opts.Logs, fg); err != nil {
			return fmt.Errorf("upstream logging options: %w", err)
		}
		app.RouteKlog(log)
		app.TuneGC(*gcPercent, log)
		// Upstream's secure serving endpoint is not served; --http-addr
		// carries metrics and health. Binding it would only hold a port.
		opts.SecureServing.BindPort = 0
		return app.Run(c.Context(), log, cfg)
	}
	command.Execute(root.Cmd)
}
