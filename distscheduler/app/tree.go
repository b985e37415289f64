package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/relaytree"
	"github.com/k8s1m/k8s1m/distscheduler/tree/solo"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DefaultTree is the tree a member joins when Config.NewTree is nil. With
// seeds it is the relay tree (gossip membership, gRPC scatter and gather),
// see RelayTree. Without seeds the member is alone (tree/solo): no network,
// and its bid is the decision.
func DefaultTree(ctx context.Context, cfg Config, scheduling bool) (tree.Tree, func(), error) {
	if len(cfg.Seeds) > 0 {
		return RelayTree(ctx, cfg, scheduling)
	}
	t := solo.New(cfg.Member)
	return t, t.Close, nil
}

// joinTree joins cfg.NewTree (DefaultTree when nil) with the member's
// logger and registry.
func joinTree(ctx context.Context, cfg Config, scheduling bool, reg *prometheus.Registry, log zerolog.Logger) (tree.Tree, func(), error) {
	newTree := cfg.NewTree
	if newTree == nil {
		newTree = DefaultTree
	}
	cfg.Log, cfg.Registry = log, reg
	t, leave, err := newTree(ctx, cfg, scheduling)
	if err != nil {
		return nil, nil, fmt.Errorf("join tree: %w", err)
	}
	return t, leave, nil
}

// RelayConfig is the relay member configuration the flags describe: name,
// role (relay-only, leader-eligible scheduler or scheduler), gRPC and
// gossip addresses, gossip keys, fanout and the gather deadline, on top of
// cfg.Relay (relay.DefaultConfig when nil).
func RelayConfig(cfg Config, scheduling bool, log zerolog.Logger) (relay.Config, error) {
	rc := relay.DefaultConfig()
	if cfg.Relay != nil {
		rc = *cfg.Relay
	}
	rc.Name = cfg.Member
	switch {
	case !scheduling:
		rc.Role = relay.RoleRelayOnly
	case cfg.LeaderEligible:
		rc.Role = relay.RoleLeaderEligible
	default:
		rc.Role = relay.RoleScheduler
	}
	if cfg.GRPCAddr != "" {
		rc.GRPCAddr = cfg.GRPCAddr
	}
	if cfg.AdvertiseGRPCAddr != "" {
		rc.AdvertiseGRPCAddr = cfg.AdvertiseGRPCAddr
	}
	if cfg.GossipAddr != "" {
		rc.GossipAddr = cfg.GossipAddr
	}
	if cfg.GossipPort >= 0 {
		rc.GossipPort = cfg.GossipPort
	}
	if cfg.AdvertiseGossipAddr != "" {
		rc.AdvertiseGossipAddr = cfg.AdvertiseGossipAddr
	}
	if cfg.Fanout > 0 {
		rc.Fanout = cfg.Fanout
	}
	keys, err := gossipKeys(cfg)
	if err != nil {
		return relay.Config{}, err
	}
	if len(keys) > 0 {
		rc.GossipKeys = keys
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" || cfg.TLSCAFile != "" {
		if rc.ServerTLS, rc.ClientTLS, err = relay.MutualTLSFromFiles(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile); err != nil {
			return relay.Config{}, fmt.Errorf("tree TLS: %w", err)
		}
	}
	if cfg.InsecureTree {
		rc.AllowInsecure = true
	}
	rc.DefaultDeadline = cfg.GatherDeadline()
	rc.Logger = log
	rc.Registerer = cfg.Registry
	return rc, nil
}

// gossipKeys reads --gossip-key (base64, as one line of the relay binary's
// --gossip-key-file) and --gossip-key-file (the relay binary's format); the
// flag's key comes first, so it encrypts.
func gossipKeys(cfg Config) ([][]byte, error) {
	var keys [][]byte
	if cfg.GossipKey != "" {
		k, err := relay.ParseGossipKey(cfg.GossipKey)
		if err != nil {
			return nil, fmt.Errorf("--gossip-key: %w", err)
		}
		keys = append(keys, k)
	}
	if cfg.GossipKeyFile != "" {
		more, err := relay.LoadGossipKeys(cfg.GossipKeyFile)
		if err != nil {
			return nil, err
		}
		keys = append(keys, more...)
	}
	return keys, nil
}

// RelayTree starts this member's relay tree member and joins cfg.Seeds in
// the background. The returned function leaves the tree gracefully.
func RelayTree(ctx context.Context, cfg Config, scheduling bool) (tree.Tree, func(), error) {
	log := cfg.Log.With().Str("component", "relay").Logger()
	rc, err := RelayConfig(cfg, scheduling, log)
	if err != nil {
		return nil, nil, err
	}
	m, err := relaytree.Start(ctx, relaytree.Config{Relay: rc, Seeds: cfg.Seeds, JoinRetry: cfg.JoinRetry, Log: log})
	if err != nil {
		return nil, nil, err
	}
	log.Info().Str("grpc", m.Relay().GRPCAddr()).Str("gossip", m.GossipAddr()).Str("role", rc.Role.String()).
		Strs("seeds", cfg.Seeds).Msg("relay tree member started")
	var once sync.Once
	return m, func() {
		once.Do(func() {
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := m.Leave(lctx); err != nil {
				log.Warn().Err(err).Msg("leaving the tree")
			}
		})
	}, nil
}
