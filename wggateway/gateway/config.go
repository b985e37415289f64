// Package gateway runs the WireGuard gateway: it opens the interface, restores
// every persisted peer onto it, keeps the SNAT rule in place, serves the HTTP
// API and expires idle peers, until its context is cancelled.
package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/wggateway/internal/flagvalue"
	"github.com/spf13/pflag"
)

// SecretEnv holds the shared secret when --secret-file is not given. The
// secret itself is never a flag: flag values show in ps and /proc/<pid>/cmdline.
const SecretEnv = "WGGATEWAY_SECRET"

// Config of a gateway.
type Config struct {
	Listen          string // HTTP(S) listen address
	TLSCert, TLSKey string // serve HTTPS when both are set
	// BehindTLSProxy allows plain HTTP: a proxy in front terminates TLS, so
	// the secret and server-generated keys are encrypted on the wire outside.
	BehindTLSProxy  bool
	SecretFile      string       // file holding the shared secret (else SecretEnv)
	Interface       string       // WireGuard interface name
	Userspace       bool         // run WireGuard in-process on a TUN device
	MTU             int          // MTU of a created interface
	ListenPort      int          // WireGuard UDP port
	PrivateKeyFile  string       // gateway private key, created when missing
	Endpoint        string       // host:port clients send WireGuard to
	PoolV4          netip.Prefix // IPv4 tunnel pool
	PoolV6          netip.Prefix // optional IPv6 tunnel pool
	AllowedIPs      []netip.Prefix
	DNS             []netip.Addr
	Keepalive       time.Duration
	StateFile       string
	IdleTimeout     time.Duration // 0 keeps peers until released
	SweepInterval   time.Duration // how often idle expiry and the SNAT check run
	SNATInterface   string        // outbound IPv4 interface; empty disables SNAT
	AllowServerKeys bool
	AuthFailBurst   int
	AuthFailRefill  time.Duration
	ShutdownTimeout time.Duration
	// MaxPeersPerSource caps the allocations one source address holds (0: no cap).
	MaxPeersPerSource int
	// ForwardDeny are IPv4 destinations tunnel traffic may not reach, on top
	// of the SNAT interface's own subnets and link-local (always denied).
	ForwardDeny []netip.Prefix
}

// DefaultConfig returns the defaults the flags show.
func DefaultConfig() Config {
	return Config{
		Listen:          "[::]:8080",
		Interface:       "wg0",
		ListenPort:      51820,
		PrivateKeyFile:  "/var/lib/wggateway/private.key",
		PoolV4:          netip.MustParsePrefix("10.99.0.0/16"),
		AllowedIPs:      []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		Keepalive:       25 * time.Second,
		StateFile:       "/var/lib/wggateway/peers.json",
		SweepInterval:   time.Minute,
		AuthFailBurst:   5,
		AuthFailRefill:  time.Minute,
		ShutdownTimeout: 10 * time.Second,
		// A node holds one allocation; a few more cover key changes and
		// reinstalls before the old one expires.
		MaxPeersPerSource: 4,
	}
}

// AddFlags binds c's fields to flags in fs, each with a WGGATEWAY_* env fallback.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP API listen address (host:port)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate file; with --tls-key the API serves HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file for --tls-cert")
	fs.BoolVar(&c.BehindTLSProxy, "behind-tls-proxy", c.BehindTLSProxy, "serve plain HTTP because a TLS-terminating proxy fronts the API (without --tls-cert the gateway refuses to start otherwise: the shared secret and server-generated keys would cross the network in clear)")
	fs.StringVar(&c.SecretFile, "secret-file", c.SecretFile, "file holding the shared secret clients send as the Basic Auth password (else env "+SecretEnv+")")
	fs.StringVar(&c.Interface, "interface", c.Interface, "WireGuard interface to create or adopt")
	fs.BoolVar(&c.Userspace, "userspace", c.Userspace, "run WireGuard in this process on a TUN device (for kernels without the wireguard module)")
	fs.IntVar(&c.MTU, "mtu", c.MTU, "MTU of a created interface (0 means 1420)")
	fs.IntVar(&c.ListenPort, "listen-port", c.ListenPort, "WireGuard UDP listen port")
	fs.StringVar(&c.PrivateKeyFile, "private-key-file", c.PrivateKeyFile, "gateway WireGuard private key (base64), generated with mode 0600 when missing")
	fs.StringVar(&c.Endpoint, "endpoint", c.Endpoint, "endpoint clients reach the gateway's WireGuard port at, e.g. [2001:db8::1]:51820 (required)")
	fs.Var(flagvalue.Prefix{P: &c.PoolV4}, "pool-v4", "IPv4 tunnel pool; its first host address is the gateway's")
	fs.Var(flagvalue.Prefix{P: &c.PoolV6}, "pool-v6", "optional IPv6 tunnel pool (e.g. fd00:99::/64); peers get the address at the same offset as their IPv4 one")
	fs.Var(flagvalue.Prefixes{P: &c.AllowedIPs}, "allowed-ips", "comma-separated prefixes clients route through the tunnel")
	fs.Var(flagvalue.Addrs{A: &c.DNS}, "dns", "comma-separated DNS servers put in client configs (none by default)")
	fs.DurationVar(&c.Keepalive, "keepalive", c.Keepalive, "PersistentKeepalive put in client configs (0 disables)")
	fs.StringVar(&c.StateFile, "state-file", c.StateFile, "file the allocations are persisted in")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "release peers with no handshake or request for this long (0 keeps them until released)")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", c.SweepInterval, "how often idle peers are expired and the SNAT rule is checked")
	fs.StringVar(&c.SNATInterface, "snat-interface", c.SNATInterface, "outbound IPv4 interface to masquerade the IPv4 pool out of (empty: no SNAT, no forwarding change)")
	fs.BoolVar(&c.AllowServerKeys, "allow-server-keys", c.AllowServerKeys, `let clients ask the gateway to generate their key pair ({"generateKey":true})`)
	fs.IntVar(&c.AuthFailBurst, "auth-fail-burst", c.AuthFailBurst, "failed authentications a source may make before it is refused")
	fs.DurationVar(&c.AuthFailRefill, "auth-fail-refill", c.AuthFailRefill, "time after which a source earns back one failed attempt")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests get on shutdown")
	fs.IntVar(&c.MaxPeersPerSource, "max-peers-per-source", c.MaxPeersPerSource, "allocations one source address may hold; more are refused with 429 (0: no cap)")
	fs.Var(flagvalue.Prefixes{P: &c.ForwardDeny}, "forward-deny", "comma-separated IPv4 prefixes tunnel peers may not reach (added to the --snat-interface subnets and 169.254.0.0/16, always denied)")
	for _, name := range []string{"listen", "tls-cert", "tls-key", "behind-tls-proxy", "max-peers-per-source", "forward-deny", "secret-file", "interface", "userspace", "mtu", "listen-port",
		"private-key-file", "endpoint", "pool-v4", "pool-v6", "allowed-ips", "dns", "keepalive", "state-file", "idle-timeout",
		"sweep-interval", "snat-interface", "allow-server-keys", "auth-fail-burst", "auth-fail-refill", "shutdown-timeout"} {
		command.BindEnv(fs, name, envName(name))
	}
}

// envName maps a flag name to its env fallback: listen-port -> WGGATEWAY_LISTEN_PORT.
func envName(flag string) string {
	b := []byte("WGGATEWAY_" + flag)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Validate reports every problem at once, so an operator fixes them in one go.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("--endpoint is required"))
	} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("--endpoint %q: %w", c.Endpoint, err))
	}
	if !c.PoolV4.IsValid() {
		errs = append(errs, errors.New("--pool-v4 is required"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.TLSCert == "" && c.TLSKey == "" && !c.BehindTLSProxy {
		errs = append(errs, errors.New("no --tls-cert/--tls-key: the API would take the shared secret over plain HTTP; give a certificate, or --behind-tls-proxy if a proxy in front terminates TLS"))
	}
	if c.AuthFailBurst < 1 {
		errs = append(errs, errors.New("--auth-fail-burst must be at least 1"))
	}
	if c.AuthFailRefill <= 0 {
		errs = append(errs, errors.New("--auth-fail-refill must be positive (0 would never limit guessing)"))
	}
	if c.MaxPeersPerSource < 0 {
		errs = append(errs, errors.New("--max-peers-per-source must not be negative"))
	}
	for _, p := range c.ForwardDeny {
		if !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("--forward-deny %s: only IPv4 prefixes (tunnel IPv6 is never forwarded)", p))
		}
	}
	if c.ListenPort < 1 || c.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("--listen-port %d out of range", c.ListenPort))
	}
	if len(c.AllowedIPs) == 0 {
		errs = append(errs, errors.New("--allowed-ips is empty"))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, errors.New("--sweep-interval must be positive"))
	}
	if c.IdleTimeout < 0 || c.Keepalive < 0 {
		errs = append(errs, errors.New("--idle-timeout and --keepalive must not be negative"))
	}
	if minIdle := max(4*c.Keepalive, 5*time.Minute); c.IdleTimeout > 0 && c.Keepalive > 0 && c.IdleTimeout < minIdle {
		// A live peer with keepalives handshakes again only every 2 minutes,
		// so the last handshake can be that old; a shorter idle timeout
		// would expire live peers.
		errs = append(errs, fmt.Errorf("--idle-timeout %v is too short for --keepalive %v: use at least %v", c.IdleTimeout, c.Keepalive, minIdle))
	}
	return errors.Join(errs...)
}
