// Package device owns a WireGuard interface: it creates the interface (kernel
// WireGuard through netlink, or the userspace implementation on a TUN device in
// this process when the kernel lacks it) or adopts one that already exists, and
// then configures it only through wgctrl, so both kinds are driven by the same
// code. Interface addresses and routes are set through netlink.
package device

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Config selects and shapes the interface.
type Config struct {
	// Name of the interface, at most 15 bytes (Linux IFNAMSIZ).
	Name string
	// Userspace starts golang.zx2c4.com/wireguard on a TUN device inside this
	// process when no interface of that name exists, instead of asking the
	// kernel for a wireguard link. The interface lives as long as the process.
	Userspace bool
	// MTU of a newly created interface; 0 means 1420, WireGuard's usual value
	// (1500 minus the IPv6 + UDP + WireGuard overhead).
	MTU int
	// Addresses are assigned to the interface (replacing equal ones).
	Addresses []netip.Prefix
}

// DefaultMTU leaves room for WireGuard over IPv6 inside a 1500-byte path.
const DefaultMTU = 1420

// Peer is the desired state of one peer.
type Peer struct {
	PublicKey  wgtypes.Key
	AllowedIPs []netip.Prefix
	// Endpoint and Keepalive are set on the client side; the gateway learns
	// its peers' endpoints from their handshakes.
	Endpoint  netip.AddrPort
	Keepalive time.Duration
}

// Interface is an open WireGuard interface.
type Interface struct {
	name    string
	log     zerolog.Logger
	wg      *wgctrl.Client
	metrics *Metrics
	// userspace is the in-process device, nil for kernel or adopted interfaces.
	userspace *userspaceDevice

	// mu serialises wgctrl writes so a reconcile and an incremental change
	// never interleave.
	mu sync.Mutex
}

// Open creates or adopts the interface described by cfg. m may be nil.
func Open(cfg Config, log zerolog.Logger, m *Metrics) (*Interface, error) {
	if cfg.Name == "" || len(cfg.Name) > 15 {
		return nil, fmt.Errorf("interface name %q: want 1 to 15 bytes", cfg.Name)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	log = log.With().Str("interface", cfg.Name).Logger()
	wg, err := wgctrl.New()
	if err != nil {
		return nil, fmt.Errorf("wgctrl: %w", err)
	}
	i := &Interface{name: cfg.Name, log: log, wg: wg, metrics: m}
	if err := i.createOrAdopt(cfg); err != nil {
		i.Close()
		return nil, err
	}
	if err := i.setLink(cfg.Addresses); err != nil {
		i.Close()
		return nil, err
	}
	return i, nil
}

func (i *Interface) createOrAdopt(cfg Config) error {
	_, err := i.wg.Device(cfg.Name)
	switch {
	case err == nil:
		i.log.Info().Msg("adopting existing wireguard interface")
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("look up wireguard interface %s: %w", cfg.Name, err)
	}
	if cfg.Userspace {
		u, err := startUserspace(cfg.Name, cfg.MTU, i.log)
		if err != nil {
			return err
		}
		i.userspace = u
		i.log.Info().Int("mtu", cfg.MTU).Msg("started userspace wireguard device")
		return nil
	}
	link := &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: cfg.Name, MTU: cfg.MTU}}
	if err := netlink.LinkAdd(link); err != nil {
		return fmt.Errorf("create kernel wireguard interface %s (no wireguard module? try --userspace): %w", cfg.Name, err)
	}
	i.log.Info().Int("mtu", cfg.MTU).Msg("created kernel wireguard interface")
	return nil
}

func (i *Interface) setLink(addrs []netip.Prefix) error {
	link, err := netlink.LinkByName(i.name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", i.name, err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: prefixToIPNet(p)}
		if p.Addr().Is6() {
			// A point-to-point tunnel has no neighbours to detect duplicates
			// with; skipping DAD makes the address usable at once.
			a.Flags = 0x02 // IFA_F_NODAD
		}
		if err := netlink.AddrReplace(link, a); err != nil {
			return fmt.Errorf("address %s on %s: %w", p, i.name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", i.name, err)
	}
	return nil
}

// AddRoutes routes prefixes through the interface (client side: the gateway's
// AllowedIPs, e.g. 0.0.0.0/0).
func (i *Interface) AddRoutes(prefixes []netip.Prefix) error {
	link, err := netlink.LinkByName(i.name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", i.name, err)
	}
	for _, p := range prefixes {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixToIPNet(p), Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("route %s via %s: %w", p, i.name, err)
		}
	}
	return nil
}

// Name of the interface.
func (i *Interface) Name() string { return i.name }

// Setup sets the private key and, when listenPort is not nil, the UDP port.
func (i *Interface) Setup(key wgtypes.Key, listenPort *int) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.wg.ConfigureDevice(i.name, wgtypes.Config{PrivateKey: &key, ListenPort: listenPort}); err != nil {
		return fmt.Errorf("configure %s: %w", i.name, err)
	}
	return nil
}

// Reconcile makes the interface's peers exactly peers: missing ones are added,
// changed ones updated and unknown ones removed, in one wgctrl call.
func (i *Interface) Reconcile(peers []Peer) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	cfg := wgtypes.Config{ReplacePeers: true, Peers: make([]wgtypes.PeerConfig, 0, len(peers))}
	for _, p := range peers {
		cfg.Peers = append(cfg.Peers, peerConfig(p))
	}
	if err := i.wg.ConfigureDevice(i.name, cfg); err != nil {
		return fmt.Errorf("reconcile %d peers on %s: %w", len(peers), i.name, err)
	}
	i.metrics.setPeers(len(peers))
	return nil
}

// AddPeer adds or updates one peer.
func (i *Interface) AddPeer(p Peer) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.wg.ConfigureDevice(i.name, wgtypes.Config{Peers: []wgtypes.PeerConfig{peerConfig(p)}}); err != nil {
		return fmt.Errorf("add peer %s on %s: %w", p.PublicKey, i.name, err)
	}
	i.refreshPeerGauge()
	return nil
}

// RemovePeer removes one peer; removing an absent peer is not an error.
func (i *Interface) RemovePeer(key wgtypes.Key) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.wg.ConfigureDevice(i.name, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: key, Remove: true}}}); err != nil {
		return fmt.Errorf("remove peer %s on %s: %w", key, i.name, err)
	}
	i.refreshPeerGauge()
	return nil
}

// refreshPeerGauge reads the peer count back from the device. Caller holds mu.
func (i *Interface) refreshPeerGauge() {
	if d, err := i.wg.Device(i.name); err == nil {
		i.metrics.setPeers(len(d.Peers))
	}
}

// State reads the interface as WireGuard reports it.
func (i *Interface) State() (*wgtypes.Device, error) {
	d, err := i.wg.Device(i.name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", i.name, err)
	}
	return d, nil
}

// Close releases the wgctrl client and stops an in-process userspace device
// (which removes its TUN interface). A kernel interface is left in place with
// its peers, so traffic keeps flowing while the gateway restarts; the next
// start reconciles it.
func (i *Interface) Close() error {
	var errs []error
	if i.userspace != nil {
		i.userspace.close()
		i.userspace = nil
	}
	if i.wg != nil {
		errs = append(errs, i.wg.Close())
		i.wg = nil
	}
	return errors.Join(errs...)
}

func peerConfig(p Peer) wgtypes.PeerConfig {
	pc := wgtypes.PeerConfig{PublicKey: p.PublicKey, ReplaceAllowedIPs: true}
	for _, a := range p.AllowedIPs {
		pc.AllowedIPs = append(pc.AllowedIPs, *prefixToIPNet(a))
	}
	if p.Endpoint.IsValid() {
		pc.Endpoint = net.UDPAddrFromAddrPort(p.Endpoint)
	}
	if p.Keepalive > 0 {
		k := p.Keepalive
		pc.PersistentKeepaliveInterval = &k
	}
	return pc
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
