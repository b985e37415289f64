// Command relay is the relay-only member of the k8s1m scheduler tree: it joins
// the gossip cluster, forwards work items to its children and gathers scores,
// but never schedules.
package main

import (
	"time"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/k8s1m/k8s1m/relay/relayd"
	"github.com/spf13/cobra"
)

func main() {
	root := command.NewRoot("relay", "relay-only member of the k8s1m scheduler tree")
	rc := relay.DefaultConfig()
	cfg := relayd.Config{Relay: rc}
	var keyFile, certFile, keyPEMFile, caFile string
	f := root.Cmd.Flags()
	f.StringVar(&cfg.Relay.Name, "name", rc.Name, "member name, unique in the cluster (default: hostname)")
	f.StringVar(&cfg.Relay.GRPCAddr, "grpc-addr", rc.GRPCAddr, "relay protocol (gRPC) listen address")
	f.StringVar(&cfg.Relay.AdvertiseGRPCAddr, "advertise-grpc-addr", "", "gRPC address peers dial (default: listen address, or the gossip IP with the gRPC port)")
	f.StringVar(&cfg.Relay.GossipAddr, "gossip-addr", rc.GossipAddr, "gossip (memberlist) bind address, UDP and TCP")
	f.IntVar(&cfg.Relay.GossipPort, "gossip-port", rc.GossipPort, "gossip bind port")
	f.StringVar(&cfg.Relay.AdvertiseGossipAddr, "advertise-gossip-addr", "", "gossip address told to peers (default: bind address or first private IP)")
	f.StringSliceVar(&cfg.Seeds, "seeds", nil, "comma-separated host:port of members to join; a DNS name joins every address it resolves to")
	f.StringVar(&keyFile, "gossip-key-file", "", "file of base64 gossip keys (16, 24 or 32 bytes), one per line; the first encrypts")
	f.IntVar(&cfg.Relay.Fanout, "fanout", rc.Fanout, "most children a member forwards to (must match the whole cluster)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", ":9090", "serves /metrics, /healthz and /readyz (ready once joined); empty disables")
	f.BoolVar(&cfg.EnablePprof, "enable-pprof", false, "also serve /debug/pprof on --metrics-addr (anyone who reaches it can profile the process)")
	f.DurationVar(&cfg.JoinRetry, "join-retry", 2*time.Second, "pause between join attempts")
	f.DurationVar(&cfg.LeaveTimeout, "leave-timeout", 10*time.Second, "time allowed for a graceful leave on SIGTERM")
	f.StringVar(&certFile, "tls-cert-file", "", "certificate for mutual TLS on gRPC links (with --tls-key-file and --tls-ca-file)")
	f.StringVar(&keyPEMFile, "tls-key-file", "", "private key for --tls-cert-file")
	f.StringVar(&caFile, "tls-ca-file", "", "CA that peers' certificates must chain to; each member's certificate must name it (CN or DNS SAN)")
	f.BoolVar(&cfg.Relay.AllowInsecure, "insecure-tree", false, "start without mutual TLS or without a gossip key (anyone reaching the ports can join and forge messages; loopback tests only)")
	f.DurationVar(&cfg.Relay.MaxDeadline, "max-deadline", rc.MaxDeadline, "longest item deadline accepted from anyone; later ones are shortened to it")
	f.IntVar(&cfg.Relay.MaxQueue, "max-queue", rc.MaxQueue, "most messages queued for one stream; a stream whose queue overflows is closed")
	for flag, env := range map[string]string{
		"name": "RELAY_NAME", "grpc-addr": "RELAY_GRPC_ADDR", "advertise-grpc-addr": "RELAY_ADVERTISE_GRPC_ADDR",
		"gossip-addr": "RELAY_GOSSIP_ADDR", "gossip-port": "RELAY_GOSSIP_PORT", "advertise-gossip-addr": "RELAY_ADVERTISE_GOSSIP_ADDR",
		"seeds": "RELAY_SEEDS", "gossip-key-file": "RELAY_GOSSIP_KEY_FILE", "fanout": "RELAY_FANOUT",
		"metrics-addr": "RELAY_METRICS_ADDR", "enable-pprof": "RELAY_ENABLE_PPROF", "join-retry": "RELAY_JOIN_RETRY", "leave-timeout": "RELAY_LEAVE_TIMEOUT",
		"tls-cert-file": "RELAY_TLS_CERT_FILE", "tls-key-file": "RELAY_TLS_KEY_FILE", "tls-ca-file": "RELAY_TLS_CA_FILE",
		"insecure-tree": "RELAY_INSECURE_TREE", "max-deadline": "RELAY_MAX_DEADLINE", "max-queue": "RELAY_MAX_QUEUE",
	} {
		command.BindEnv(f, flag, env)
	}
	root.Cmd.RunE = func(c *cobra.Command, _ []string) error {
		log, err := root.Logger()
		if err != nil {
			return err
		}
		if keyFile != "" {
			if cfg.Relay.GossipKeys, err = relay.LoadGossipKeys(keyFile); err != nil {
				return err
			}
		}
		if certFile != "" || keyPEMFile != "" || caFile != "" {
			if cfg.Relay.ServerTLS, cfg.Relay.ClientTLS, err = relay.MutualTLSFromFiles(certFile, keyPEMFile, caFile); err != nil {
				return err
			}
		}
		return relayd.Run(c.Context(), log, cfg)
	}
	command.Execute(root.Cmd)
}
