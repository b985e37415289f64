// Package flagvalue adapts net/netip types to pflag, so addresses and prefixes
// are validated when flags (or their env fallbacks) are parsed, not later.
package flagvalue

import (
	"net/netip"
	"strings"
)

// Prefix is a pflag.Value holding one netip.Prefix; empty means unset.
type Prefix struct{ P *netip.Prefix }

func (v Prefix) String() string {
	if v.P == nil || !v.P.IsValid() {
		return ""
	}
	return v.P.String()
}

// Set parses s; the empty string unsets the value.
func (v Prefix) Set(s string) error {
	if s == "" {
		*v.P = netip.Prefix{}
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return err
	}
	*v.P = p
	return nil
}

// Type names the value in --help.
func (Prefix) Type() string { return "prefix" }

// Prefixes is a comma-separated list of prefixes; each Set replaces the list,
// so an env fallback and a flag behave the same way.
type Prefixes struct{ P *[]netip.Prefix }

func (v Prefixes) String() string {
	if v.P == nil {
		return ""
	}
	s := make([]string, len(*v.P))
	for i, p := range *v.P {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Set parses a comma-separated list.
func (v Prefixes) Set(s string) error {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	*v.P = out
	return nil
}

// Type names the value in --help.
func (Prefixes) Type() string { return "prefixes" }

// Addrs is a comma-separated list of addresses.
type Addrs struct{ A *[]netip.Addr }

func (v Addrs) String() string {
	if v.A == nil {
		return ""
	}
	s := make([]string, len(*v.A))
	for i, a := range *v.A {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// Set parses a comma-separated list.
func (v Addrs) Set(s string) error {
	var out []netip.Addr
	for _, f := range splitList(s) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return err
		}
		out = append(out, a)
	}
	*v.A = out
	return nil
}

// Type names the value in --help.
func (Addrs) Type() string { return "addresses" }

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
