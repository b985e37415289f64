// Package snat lets tunnel traffic out through the gateway's own IPv4 address,
// and only there: it turns on IPv4 forwarding, keeps one nftables masquerade
// rule for the tunnel pool on the outbound interface, and a forward filter so
// that what arrives from the tunnel can leave only through that interface and
// never towards denied destinations (other peers, the gateway's LAN,
// link-local and cloud metadata addresses). It talks netlink directly (no nft
// or iptables binaries), and applying twice leaves the same rules.
package snat

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// DefaultTable is the nftables table the rule lives in. A table of our own
// means we never edit rules someone else owns, and removal is one delete.
const DefaultTable = "k8s1m_wggateway"

const (
	chainName       = "postrouting"
	filterChainName = "forward"
)

// LinkLocal is always denied to tunnel traffic: it holds the cloud metadata
// service (169.254.169.254), which hands out the gateway VM's credentials.
var LinkLocal = netip.MustParsePrefix("169.254.0.0/16")

// Config of the masquerade rule and the forward filter.
type Config struct {
	// Pool is the IPv4 tunnel prefix whose traffic is masqueraded.
	Pool netip.Prefix
	// OutInterface is the interface carrying the gateway's IPv4 address.
	OutInterface string
	// TunnelInterface is the WireGuard interface: packets arriving on it may
	// only be forwarded out of OutInterface, and not to Deny.
	TunnelInterface string
	// Deny are IPv4 destinations tunnel traffic must not reach even through
	// OutInterface: the gateway's LAN (see ConnectedPrefixes) and whatever
	// the operator adds. LinkLocal is always denied.
	Deny []netip.Prefix
	// Table overrides DefaultTable.
	Table string
	// ProcSys is the root of the sysctl tree; empty means /proc/sys.
	ProcSys string
}

func (c *Config) defaults() error {
	if !c.Pool.IsValid() || !c.Pool.Addr().Is4() {
		return fmt.Errorf("snat pool %q: not an IPv4 prefix", c.Pool)
	}
	c.Pool = c.Pool.Masked()
	if c.OutInterface == "" || len(c.OutInterface) >= unix.IFNAMSIZ {
		return fmt.Errorf("snat out interface %q: want 1 to %d bytes", c.OutInterface, unix.IFNAMSIZ-1)
	}
	if c.TunnelInterface == "" || len(c.TunnelInterface) >= unix.IFNAMSIZ {
		return fmt.Errorf("snat tunnel interface %q: want 1 to %d bytes", c.TunnelInterface, unix.IFNAMSIZ-1)
	}
	if c.TunnelInterface == c.OutInterface {
		return fmt.Errorf("snat tunnel interface %q is also the out interface", c.TunnelInterface)
	}
	deny := []netip.Prefix{LinkLocal}
	for _, p := range c.Deny {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("snat deny %q: not an IPv4 prefix", p)
		}
		p = p.Masked()
		if !slices.Contains(deny, p) {
			deny = append(deny, p)
		}
	}
	c.Deny = deny
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.ProcSys == "" {
		c.ProcSys = "/proc/sys"
	}
	return nil
}

// ConnectedPrefixes returns the IPv4 prefixes of the addresses on ifname: the
// gateway's LAN, which tunnel peers must not reach through it.
func ConnectedPrefixes(ifname string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifname, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		addr, ok := netip.AddrFromSlice(ipn.IP)
		ones, _ := ipn.Mask.Size()
		if addr = addr.Unmap(); !ok || !addr.Is4() {
			continue
		}
		out = append(out, netip.PrefixFrom(addr, ones).Masked())
	}
	return out, nil
}

// Apply enables forwarding and installs the rules, replacing whatever our
// tables held before in one nftables transaction, so there is no moment with
// the masquerade but without the filter, and no way to end up with two.
func Apply(cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := enableForwarding(cfg.ProcSys); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: cfg.Table})
	chain := c.AddChain(&nftables.Chain{
		Name:     chainName,
		Table:    table,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	c.FlushChain(chain)
	c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: masqueradeExprs(cfg)})

	// The filter is in an inet table of the same name: one chain sees both
	// families, so tunnel IPv6 (never meant to leave) is dropped there too.
	ftable := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: cfg.Table})
	accept := nftables.ChainPolicyAccept
	fchain := c.AddChain(&nftables.Chain{
		Name:     filterChainName,
		Table:    ftable,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	})
	c.FlushChain(fchain)
	for _, r := range filterRules(cfg) {
		c.AddRule(&nftables.Rule{Table: ftable, Chain: fchain, Exprs: r})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install masquerade and forward filter for %s out of %s: %w", cfg.Pool, cfg.OutInterface, err)
	}
	return nil
}

// filterRules are, in order:
//
//	iifname <tunnel> oifname != <out> drop      (peer to peer, other interfaces)
//	iifname <tunnel> meta nfproto ipv6 drop     (the IPv6 pool is tunnel-only)
//	iifname <tunnel> ip daddr <deny> drop       (one per denied prefix)
//
// Everything else from the tunnel (IPv4 out of <out>) is accepted by the
// chain's policy; traffic not from the tunnel is not touched.
func filterRules(cfg Config) [][]expr.Any {
	fromTunnel := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(cfg.TunnelInterface)},
	}
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	rules := [][]expr.Any{
		append(slices.Clone(fromTunnel),
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(cfg.OutInterface)},
			drop),
		append(slices.Clone(fromTunnel),
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
			drop),
	}
	for _, p := range cfg.Deny {
		r := append(slices.Clone(fromTunnel),
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
		// IPv4 destination address: network header offset 16, 4 bytes.
		r = append(r, prefixMatch(16, p)...)
		rules = append(rules, append(r, drop))
	}
	return rules
}

// prefixMatch compares the 4 bytes at network header offset off with p.
func prefixMatch(off uint32, p netip.Prefix) []expr.Any {
	addr := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask4(p.Bits()), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
	}
}

func mask4(bits int) []byte {
	m := make([]byte, 4)
	for i := range 4 {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

// masqueradeExprs is `oifname <out> ip saddr <pool> masquerade`.
func masqueradeExprs(cfg Config) []expr.Any {
	r := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(cfg.OutInterface)},
	}
	// IPv4 source address: network header offset 12, 4 bytes.
	r = append(r, prefixMatch(12, cfg.Pool)...)
	return append(r, &expr.Masq{})
}

// ifname pads an interface name to IFNAMSIZ the way the kernel compares it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// Remove deletes our tables (and with them the rules). Removing an absent table is
// not an error. Forwarding is left on: other things on the host may rely on it.
func Remove(table string) error {
	if table == "" {
		table = DefaultTable
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	found := false
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyINet} {
		if t, err := c.ListTableOfFamily(table, fam); err == nil && t != nil {
			c.DelTable(&nftables.Table{Family: fam, Name: table})
			found = true
		}
	}
	if !found {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	return nil
}

// Installed reports whether our tables hold exactly the masquerade rule and
// the forward filter cfg describes; the gateway uses it to re-install them if
// someone flushed them, and tests to check Apply.
func Installed(cfg Config) (bool, error) {
	if err := cfg.defaults(); err != nil {
		return false, err
	}
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	ok, err := chainHolds(c, nftables.TableFamilyIPv4, cfg.Table, chainName, [][]expr.Any{masqueradeExprs(cfg)})
	if err != nil || !ok {
		return false, err
	}
	return chainHolds(c, nftables.TableFamilyINet, cfg.Table, filterChainName, filterRules(cfg))
}

// chainHolds reports whether the chain holds exactly the rules want.
func chainHolds(c *nftables.Conn, fam nftables.TableFamily, table, chain string, want [][]expr.Any) (bool, error) {
	t := &nftables.Table{Family: fam, Name: table}
	rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			return false, nil
		}
		return false, fmt.Errorf("list rules of %s %s: %w", table, chain, err)
	}
	if len(rules) != len(want) {
		return false, nil
	}
	for i, r := range rules {
		if len(r.Exprs) != len(want[i]) {
			return false, nil
		}
		for j := range want[i] {
			if !sameExpr(r.Exprs[j], want[i][j]) {
				return false, nil
			}
		}
	}
	return true, nil
}

// sameExpr compares the fields masqueradeExprs sets.
func sameExpr(got, want expr.Any) bool {
	switch w := want.(type) {
	case *expr.Meta:
		g, ok := got.(*expr.Meta)
		return ok && g.Key == w.Key && g.Register == w.Register
	case *expr.Cmp:
		g, ok := got.(*expr.Cmp)
		return ok && g.Op == w.Op && g.Register == w.Register && bytes.Equal(g.Data, w.Data)
	case *expr.Payload:
		g, ok := got.(*expr.Payload)
		return ok && g.Base == w.Base && g.Offset == w.Offset && g.Len == w.Len
	case *expr.Bitwise:
		g, ok := got.(*expr.Bitwise)
		return ok && bytes.Equal(g.Mask, w.Mask)
	case *expr.Masq:
		_, ok := got.(*expr.Masq)
		return ok
	case *expr.Verdict:
		g, ok := got.(*expr.Verdict)
		return ok && g.Kind == w.Kind
	}
	return false
}

func enableForwarding(procSys string) error {
	p := procSys + "/net/ipv4/ip_forward"
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable ipv4 forwarding: %w", err)
	}
	return nil
}
