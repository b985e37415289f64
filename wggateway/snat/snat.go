// Package snat lets tunnel traffic out through the gateway's own IPv4 address:
// it turns on IPv4 forwarding and keeps one nftables masquerade rule for the
// tunnel pool on the outbound interface. It talks netlink directly (no nft or
// iptables binaries), and applying twice leaves the same single rule.
package snat

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// DefaultTable is the nftables table the rule lives in. A table of our own
// means we never edit rules someone else owns, and removal is one delete.
const DefaultTable = "k8s1m_wggateway"

const chainName = "postrouting"

// Config of the masquerade rule.
type Config struct {
	// Pool is the IPv4 tunnel prefix whose traffic is masqueraded.
	Pool netip.Prefix
	// OutInterface is the interface carrying the gateway's IPv4 address.
	OutInterface string
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
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.ProcSys == "" {
		c.ProcSys = "/proc/sys"
	}
	return nil
}

// Apply enables forwarding and installs the rule, replacing whatever our table
// held before in one nftables transaction, so there is no moment without the
// rule and no way to end up with two.
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
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install masquerade for %s out of %s: %w", cfg.Pool, cfg.OutInterface, err)
	}
	return nil
}

// masqueradeExprs is `oifname <out> ip saddr <pool> masquerade`.
func masqueradeExprs(cfg Config) []expr.Any {
	bits := cfg.Pool.Bits()
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
	addr := cfg.Pool.Addr().As4()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(cfg.OutInterface)},
		// IPv4 source address: network header offset 12, 4 bytes.
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
		&expr.Masq{},
	}
}

// ifname pads an interface name to IFNAMSIZ the way the kernel compares it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// Remove deletes our table (and with it the rule). Removing an absent table is
// not an error. Forwarding is left on: other things on the host may rely on it.
func Remove(table string) error {
	if table == "" {
		table = DefaultTable
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if t, err := c.ListTableOfFamily(table, nftables.TableFamilyIPv4); err != nil || t == nil {
		return nil
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: table})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	return nil
}

// Installed reports whether the table holds exactly the masquerade rule cfg
// describes; the gateway uses it to report the state and tests to check Apply.
func Installed(cfg Config) (bool, error) {
	if err := cfg.defaults(); err != nil {
		return false, err
	}
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: cfg.Table}
	rules, err := c.GetRules(t, &nftables.Chain{Name: chainName, Table: t})
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			return false, nil
		}
		return false, fmt.Errorf("list rules of %s: %w", cfg.Table, err)
	}
	if len(rules) != 1 {
		return false, nil
	}
	want := masqueradeExprs(cfg)
	got := rules[0].Exprs
	if len(got) != len(want) {
		return false, nil
	}
	for i := range want {
		if !sameExpr(got[i], want[i]) {
			return false, nil
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
