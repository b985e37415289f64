package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Config configures one member. Start from DefaultConfig (a real network) or
// DefaultLocalConfig (many members in one process, tests) and set Name and Role.
type Config struct {
	// Name identifies the member in the cluster; unique. Defaults to the hostname.
	Name string
	// Role says whether the member schedules, may lead, or only relays.
	Role Role
	// Version is the module version published in the gossip metadata.
	Version string

	// GRPCAddr is where the member serves the relay protocol ("host:port"; port 0
	// picks a free port).
	GRPCAddr string
	// AdvertiseGRPCAddr is the address peers dial; defaults to the listener's
	// address (set it when GRPCAddr is a wildcard like ":50051").
	AdvertiseGRPCAddr string

	// GossipAddr and GossipPort are where memberlist listens (UDP and TCP; port 0
	// picks a free port).
	GossipAddr string
	GossipPort int
	// AdvertiseGossipAddr and AdvertiseGossipPort override what peers are told.
	AdvertiseGossipAddr string
	AdvertiseGossipPort int
	// GossipKeys encrypt gossip (16, 24 or 32 bytes each, AES); the first one
	// encrypts, all of them decrypt, so keys can be rotated. None: plain text.
	GossipKeys [][]byte

	// Fanout is the most children a member forwards items to.
	Fanout int
	// MaxBatch is the most items, scores, verdicts or decisions in one message.
	MaxBatch int
	// BatchDelay is how long a busy Report, verdict or Decide stream waits
	// for a short batch to fill before sending it: scores and verdicts come
	// one per item and member, and one message carrying many costs far less
	// CPU than many carrying one. A stream is busy when it sent within the
	// last 5*BatchDelay, so an item alone is never delayed. Zero: never wait.
	// Scatter streams never wait (their items arrive in batches already).
	BatchDelay time.Duration
	// AckDelay is how long a member holds the acknowledgement of a Scatter
	// batch so that one message acknowledges every batch received meanwhile.
	// An acknowledgement only lets the parent forget what it would send again
	// on a new stream (the child drops repeats), so waiting delays no item;
	// at a low item rate, where every batch carries one item, acknowledging
	// each at once was a quarter of the relay's messages. Zero: at once.
	AckDelay time.Duration
	// DefaultDeadline is the time a gatherer waits for reports when a submitted
	// item has no deadline of its own.
	DefaultDeadline time.Duration
	// VerdictGrace is how long past an item's deadline a reporter waits for its
	// verdict before taking it as lost.
	VerdictGrace time.Duration
	// DecisionGrace is how long past an item's deadline the origin waits for the
	// gatherer's decision before deciding "no winner" itself.
	DecisionGrace time.Duration
	// Retention is how long past its deadline a member remembers an item (to drop
	// duplicates and re-answer late reports with the same verdict).
	Retention time.Duration

	// ServerTLS, when set, serves the gRPC protocol over TLS; set ClientAuth to
	// tls.RequireAndVerifyClientCert for mutual TLS. ClientTLS is what this
	// member presents when it dials peers. See MutualTLSFromFiles. With
	// mutual TLS, a peer's messages may only carry a member name its
	// certificate names (see CertNames).
	ServerTLS *tls.Config
	ClientTLS *tls.Config

	// AllowInsecure lets a member start without TLS on its gRPC links
	// (ServerTLS and ClientTLS) or without gossip encryption (GossipKeys).
	// Without it New refuses such a configuration: anyone who reaches the
	// ports could then join, read every item and forge scores and decisions.
	// It is for tests and loopback clusters; New logs a warning when it is
	// used. DefaultLocalConfig sets it.
	AllowInsecure bool

	// MaxDeadline caps how far in the future an item's deadline may be,
	// whoever set it (a peer's items and scores included): gathers, pending
	// reports and duplicate filters live until the deadline plus Retention,
	// so an unbounded deadline from a peer would hold memory for ever.
	// Deadlines beyond it are shortened to it. Zero: DefaultMaxDeadline.
	MaxDeadline time.Duration
	// MaxQueue bounds each queue of messages waiting for one stream (to a
	// peer, or verdicts for one reporter's stream). A stream whose queue
	// overflows does not drain: it is closed, its queue dropped, and
	// relay_link_overflows_total counts it. Zero: DefaultMaxQueue.
	MaxQueue int

	// Handler receives items on scheduling members. Nil: items are forwarded but
	// not handled (the member never reports).
	Handler Handler
	// Decisions receives the final outcome of items this member submitted.
	Decisions DecisionHandler
	// Events is told about joins, leaves and updates of members.
	Events EventHandler

	// Logger receives the member's logs (memberlist's logs go to it at debug).
	Logger zerolog.Logger
	// Registerer receives the member's metrics; nil: metrics are kept but not
	// registered anywhere.
	Registerer prometheus.Registerer

	// Memberlist is the base memberlist configuration; New copies it and sets
	// name, addresses, keys, delegates and logger on the copy.
	Memberlist *memberlist.Config
}

// DefaultMaxDeadline and DefaultMaxQueue are what zero MaxDeadline and
// MaxQueue mean.
const (
	DefaultMaxDeadline = time.Minute
	DefaultMaxQueue    = 1 << 16
)

// DefaultAckDelay is DefaultConfig's AckDelay: at a cluster's item rate a
// Scatter batch arrives every few milliseconds per stream, so one
// acknowledgement covers several; on a broken stream the parent sends again at
// most this long's worth of batches, which the child drops as repeats.
const DefaultAckDelay = 20 * time.Millisecond

// DefaultConfig is for members on a real network: memberlist's LAN timings,
// gRPC on :50051, gossip on :7946, fanout 16. It needs TLS and a gossip key
// (or AllowInsecure) before New accepts it.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	ml := memberlist.DefaultLANConfig()
	// A member restarted under its old name usually comes back on a new
	// address (a new pod IP); memberlist refuses that unless the dead entry may
	// be reclaimed.
	ml.DeadNodeReclaimTime = 10 * time.Second
	return Config{
		Name:            host,
		Role:            RoleScheduler,
		Version:         moduleVersion(),
		GRPCAddr:        ":50051",
		GossipAddr:      "0.0.0.0",
		GossipPort:      7946,
		Fanout:          16,
		MaxBatch:        256,
		BatchDelay:      200 * time.Microsecond,
		AckDelay:        DefaultAckDelay,
		DefaultDeadline: 2 * time.Second,
		VerdictGrace:    5 * time.Second,
		DecisionGrace:   5 * time.Second,
		Retention:       30 * time.Second,
		MaxDeadline:     DefaultMaxDeadline,
		MaxQueue:        DefaultMaxQueue,
		Logger:          zerolog.Nop(),
		Memberlist:      ml,
	}
}

// DefaultLocalConfig is for many members in one process or on one machine
// (tests, benchmarks): loopback addresses with free ports, AllowInsecure, and
// gossip timings patient enough for a starved machine: a member is declared
// dead once it has not answered for about half a minute.
func DefaultLocalConfig() Config {
	cfg := DefaultConfig()
	cfg.AllowInsecure = true
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1"
	cfg.GossipPort = 0
	cfg.Fanout = 8
	cfg.DefaultDeadline = time.Second
	cfg.VerdictGrace = 2 * time.Second
	cfg.DecisionGrace = 2 * time.Second
	cfg.Retention = 10 * time.Second
	cfg.Memberlist = patientLocalMemberlist()
	return cfg
}

// patientLocalMemberlist is memberlist's configuration for many members in one
// process. memberlist's local timings (and the LAN ones) assume each member
// has a CPU of its own. Tens of members in one process share it, and on a
// busy machine UDP acks come late enough for live members to be declared
// dead again and again, and every member's gossip costs that one process
// CPU. What the old timings did is in BENCHMARKS.md ("Many members in one
// process").
func patientLocalMemberlist() *memberlist.Config {
	ml := memberlist.DefaultLocalConfig()
	// A member restarted under its old name comes back on a new port.
	ml.DeadNodeReclaimTime = 200 * time.Millisecond
	// Probe less often and wait longer for the direct ack; the LAN config's
	// three indirect probes and its retransmits give a suspected member more
	// ways to be heard, and its refutation more chances to spread.
	ml.ProbeInterval = 2 * time.Second
	ml.ProbeTimeout = time.Second
	ml.IndirectChecks = 3
	ml.RetransmitMult = 4
	ml.GossipInterval = 200 * time.Millisecond
	// A suspected member has SuspicionMult*max(1, log10(members))*ProbeInterval
	// to refute (30 s with up to 10 members, 41 s with 24); SuspicionMaxTimeoutMult
	// 1 keeps that fixed instead of starting up to 6 times longer and
	// shrinking with other members' confirmations, so a member that really
	// died is gone about half a minute later, whoever noticed.
	ml.SuspicionMult = 15
	ml.SuspicionMaxTimeoutMult = 1
	// Gossip is UDP and a starved process drops some; a full state exchange
	// every 5 s repairs that. TCP exchanges get the LAN config's patience.
	ml.PushPullInterval = 5 * time.Second
	ml.TCPTimeout = 10 * time.Second
	return ml
}

// validate checks the fields New depends on.
func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if !c.Role.valid() {
		errs = append(errs, fmt.Errorf("role %d is not a role", c.Role))
	}
	if c.Fanout < 1 {
		errs = append(errs, fmt.Errorf("fanout %d: must be at least 1", c.Fanout))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max batch %d: must be at least 1", c.MaxBatch))
	}
	if c.BatchDelay < 0 {
		errs = append(errs, fmt.Errorf("batch delay %v: must not be negative", c.BatchDelay))
	}
	if c.AckDelay < 0 {
		errs = append(errs, fmt.Errorf("ack delay %v: must not be negative", c.AckDelay))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"default deadline", c.DefaultDeadline}, {"verdict grace", c.VerdictGrace}, {"decision grace", c.DecisionGrace}, {"retention", c.Retention}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", d.name, d.v))
		}
	}
	for i, k := range c.GossipKeys {
		if err := CheckGossipKey(k); err != nil {
			errs = append(errs, fmt.Errorf("gossip key %d: %w", i, err))
		}
	}
	if c.Memberlist == nil {
		errs = append(errs, errors.New("memberlist config is nil (start from DefaultConfig)"))
	}
	if c.MaxDeadline < 0 || c.MaxQueue < 0 {
		errs = append(errs, errors.New("max deadline and max queue must not be negative"))
	}
	if missing := c.insecurity(); len(missing) > 0 && !c.AllowInsecure {
		errs = append(errs, fmt.Errorf("%s: refusing to start an open member (set AllowInsecure, --insecure-tree, for loopback tests)", strings.Join(missing, " and ")))
	}
	return errors.Join(errs...)
}

// insecurity lists what protection the configuration lacks.
func (c *Config) insecurity() []string {
	var missing []string
	if c.ServerTLS == nil || c.ClientTLS == nil {
		missing = append(missing, "no TLS on the gRPC links")
	}
	if len(c.GossipKeys) == 0 {
		missing = append(missing, "no gossip encryption key")
	}
	return missing
}

// maxDeadline and maxQueue apply the defaults of zero fields.
func (c *Config) maxDeadline() time.Duration {
	if c.MaxDeadline > 0 {
		return c.MaxDeadline
	}
	return DefaultMaxDeadline
}

func (c *Config) maxQueue() int {
	if c.MaxQueue > 0 {
		return c.MaxQueue
	}
	return DefaultMaxQueue
}
