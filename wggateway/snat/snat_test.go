package snat

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/k8s1m/k8s1m/wggateway/internal/netnstest"
)

// TestApplyIdempotent runs in a namespace of its own, so the rule and the
// forwarding switch it sets are private to the test.
func TestApplyIdempotent(t *testing.T) {
	if !netnstest.InChild() {
		netnstest.RunIsolated(t)
		return
	}
	cfg := Config{Pool: netip.MustParsePrefix("10.99.0.0/24"), OutInterface: "lo", TunnelInterface: "wgtest",
		Deny: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	if ok, err := Installed(cfg); err != nil || ok {
		t.Fatalf("Installed before Apply = %v, %v", ok, err)
	}
	for i := range 3 {
		if err := Apply(cfg); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
		ok, err := Installed(cfg)
		if err != nil || !ok {
			t.Fatalf("Installed after Apply %d = %v, %v", i, ok, err)
		}
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("ip_forward = %q, %v", b, err)
	}
	// A changed pool replaces the rule rather than adding a second one.
	moved := cfg
	moved.Pool = netip.MustParsePrefix("10.98.0.0/16")
	if err := Apply(moved); err != nil {
		t.Fatal(err)
	}
	if ok, _ := Installed(cfg); ok {
		t.Fatal("old rule still installed")
	}
	if ok, err := Installed(moved); err != nil || !ok {
		t.Fatalf("new rule: %v, %v", ok, err)
	}
	// A changed deny list is a different filter: Installed says so, and
	// Apply replaces the filter rather than adding to it.
	wider := moved
	wider.Deny = append(wider.Deny, netip.MustParsePrefix("198.51.100.0/24"))
	if ok, _ := Installed(wider); ok {
		t.Fatal("filter with another deny list reported installed")
	}
	if err := Apply(wider); err != nil {
		t.Fatal(err)
	}
	if ok, err := Installed(wider); err != nil || !ok {
		t.Fatalf("wider filter: %v, %v", ok, err)
	}
	if ok, _ := Installed(moved); ok {
		t.Fatal("old filter still reported installed")
	}
	for range 2 {
		if err := Remove(""); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if ok, err := Installed(moved); err != nil || ok {
		t.Fatalf("Installed after Remove = %v, %v", ok, err)
	}
}

func TestConfigRejected(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no pool", Config{OutInterface: "eth0", TunnelInterface: "wg0"}},
		{"v6 pool", Config{Pool: netip.MustParsePrefix("fd00::/64"), OutInterface: "eth0", TunnelInterface: "wg0"}},
		{"no interface", Config{Pool: netip.MustParsePrefix("10.0.0.0/24"), TunnelInterface: "wg0"}},
		{"long interface", Config{Pool: netip.MustParsePrefix("10.0.0.0/24"), OutInterface: "a-very-long-interface", TunnelInterface: "wg0"}},
		{"no tunnel interface", Config{Pool: netip.MustParsePrefix("10.0.0.0/24"), OutInterface: "eth0"}},
		{"tunnel is out", Config{Pool: netip.MustParsePrefix("10.0.0.0/24"), OutInterface: "wg0", TunnelInterface: "wg0"}},
		{"v6 deny", Config{Pool: netip.MustParsePrefix("10.0.0.0/24"), OutInterface: "eth0", TunnelInterface: "wg0", Deny: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Apply(tt.cfg); err == nil {
				t.Fatal("Apply accepted a bad config")
			}
		})
	}
}

func TestMaskBits(t *testing.T) {
	tests := []struct {
		pool string
		mask []byte
		addr []byte
	}{
		{"10.0.0.0/8", []byte{255, 0, 0, 0}, []byte{10, 0, 0, 0}},
		{"10.99.0.0/24", []byte{255, 255, 255, 0}, []byte{10, 99, 0, 0}},
		{"10.99.0.0/20", []byte{255, 255, 240, 0}, []byte{10, 99, 0, 0}},
		{"10.99.0.5/30", []byte{255, 255, 255, 252}, []byte{10, 99, 0, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			cfg := Config{Pool: netip.MustParsePrefix(tt.pool), OutInterface: "eth0", TunnelInterface: "wg0"}
			if err := cfg.defaults(); err != nil {
				t.Fatal(err)
			}
			exprs := masqueradeExprs(cfg)
			bw, ok := exprs[3].(*expr.Bitwise)
			if !ok || !bytes.Equal(bw.Mask, tt.mask) {
				t.Fatalf("mask expr %#v, want mask %v", exprs[3], tt.mask)
			}
			cmp, ok := exprs[4].(*expr.Cmp)
			if !ok || !bytes.Equal(cmp.Data, tt.addr) {
				t.Fatalf("address expr %#v, want %v", exprs[4], tt.addr)
			}
		})
	}
}
