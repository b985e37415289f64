package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// parseWGQuick is a small parser of the wg-quick/wg(8) ini format, written
// from its documented rules: [Section] headers, "Key = Value" lines, keys
// case-insensitive, '#' starts a comment, list values separated by commas, and
// a key may repeat (values accumulate). It is strict where the format is, so a
// rendering mistake fails the test instead of parsing loosely.
func parseWGQuick(s string) (map[string]map[string][]string, error) {
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(s))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section %q", n, line)
			}
			section = strings.ToLower(line[1 : len(line)-1])
			if section != "interface" && section != "peer" {
				return nil, fmt.Errorf("line %d: unknown section %q", n, section)
			}
			if _, dup := out[section]; dup && section == "interface" {
				return nil, fmt.Errorf("line %d: second [Interface]", n)
			}
			out[section] = map[string][]string{}
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: key outside a section", n)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '=' in %q", n, line)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return nil, fmt.Errorf("line %d: empty value for %s", n, k)
			}
			out[section][k] = append(out[section][k], item)
		}
	}
	return out, sc.Err()
}

func mustKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWGQuickParsesBack(t *testing.T) {
	clientPriv, gw := mustKey(t), mustKey(t)
	base := ClientConfig{
		Interface: Interface{
			PublicKey: clientPriv.PublicKey().String(),
			Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.7/32"), netip.MustParsePrefix("fd00:99::7/128")},
		},
		Peer: Peer{
			PublicKey:                  gw.PublicKey().String(),
			Endpoint:                   "[2001:db8::1]:51820",
			AllowedIPs:                 []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
			PersistentKeepaliveSeconds: 25,
		},
	}
	withKey := base
	withKey.Interface.PrivateKey = clientPriv.String()
	withDNS := base
	withDNS.Interface.DNS = []netip.Addr{netip.MustParseAddr("2001:4860:4860::8888"), netip.MustParseAddr("1.1.1.1")}
	withDNS.Peer.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")}
	noKeepalive := base
	noKeepalive.Peer.PersistentKeepaliveSeconds = 0

	for name, c := range map[string]ClientConfig{"client key": base, "server key": withKey, "dns and list": withDNS, "no keepalive": noKeepalive} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteWGQuick(&buf, c); err != nil {
				t.Fatal(err)
			}
			got, err := parseWGQuick(buf.String())
			if err != nil {
				t.Fatalf("parse:\n%s\n%v", buf.String(), err)
			}
			back := fromParsed(t, got)
			back.Interface.PublicKey = c.Interface.PublicKey // not a wg-quick field
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("round trip:\n got %+v\nwant %+v\nconfig:\n%s", back, c, buf.String())
			}
			if c.Interface.PrivateKey == "" && !strings.Contains(buf.String(), c.Interface.PublicKey) {
				t.Fatal("config without private key does not name the public key it belongs to")
			}
		})
	}
}

// fromParsed rebuilds a ClientConfig from parsed wg-quick sections, checking
// each value with the parser WireGuard tooling would use (wgtypes keys,
// netip prefixes, host:port endpoints).
func fromParsed(t *testing.T, p map[string]map[string][]string) ClientConfig {
	t.Helper()
	var c ClientConfig
	in, peer := p["interface"], p["peer"]
	if in == nil || peer == nil {
		t.Fatalf("sections missing: %v", p)
	}
	if v := in["privatekey"]; len(v) == 1 {
		k, err := wgtypes.ParseKey(v[0])
		if err != nil {
			t.Fatalf("PrivateKey: %v", err)
		}
		c.Interface.PrivateKey = k.String()
	}
	for _, a := range in["address"] {
		c.Interface.Addresses = append(c.Interface.Addresses, netip.MustParsePrefix(a))
	}
	for _, d := range in["dns"] {
		c.Interface.DNS = append(c.Interface.DNS, netip.MustParseAddr(d))
	}
	if v := peer["publickey"]; len(v) == 1 {
		k, err := wgtypes.ParseKey(v[0])
		if err != nil {
			t.Fatalf("PublicKey: %v", err)
		}
		c.Peer.PublicKey = k.String()
	}
	if v := peer["endpoint"]; len(v) == 1 {
		if _, err := netip.ParseAddrPort(v[0]); err != nil {
			t.Fatalf("Endpoint: %v", err)
		}
		c.Peer.Endpoint = v[0]
	}
	for _, a := range peer["allowedips"] {
		c.Peer.AllowedIPs = append(c.Peer.AllowedIPs, netip.MustParsePrefix(a))
	}
	if v := peer["persistentkeepalive"]; len(v) == 1 {
		n, err := strconv.Atoi(v[0])
		if err != nil {
			t.Fatalf("PersistentKeepalive: %v", err)
		}
		c.Peer.PersistentKeepaliveSeconds = n
	}
	return c
}

func TestJSONRoundTrip(t *testing.T) {
	c := ClientConfig{
		Interface: Interface{PublicKey: mustKey(t).PublicKey().String(), Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")}},
		Peer:      Peer{PublicKey: mustKey(t).PublicKey().String(), Endpoint: "[2001:db8::1]:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, PersistentKeepaliveSeconds: 25},
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "privateKey") {
		t.Fatalf("empty private key rendered: %s", b)
	}
	var back ClientConfig
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("JSON round trip: got %+v want %+v", back, c)
	}
}

func TestParserIsStrict(t *testing.T) {
	for _, bad := range []string{"Address = 10.0.0.1/32", "[Interface]\nAddress", "[Bogus]\nA = b", "[Interface]\nA = ,"} {
		if _, err := parseWGQuick(bad); err == nil {
			t.Fatalf("parser accepted %q", bad)
		}
	}
}
