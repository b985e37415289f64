package app

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// RelayConfig maps the member's flags onto the relay configuration the
// relay binary would build from the same values.
func TestRelayConfig(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	k2 := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba98"))
	keyFile := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(keyFile, []byte("# rotated\n"+k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Member: "m1", GRPCAddr: "127.0.0.1:50051", GossipAddr: "127.0.0.1", GossipPort: 7947,
		Fanout: 4, GossipKey: k1, GossipKeyFile: keyFile, LeaderEligible: true, WaitForSubschedulers: 0.5,
	}
	for _, tc := range []struct {
		name       string
		scheduling bool
		eligible   bool
		want       relay.Role
	}{
		{"relay-only", false, true, relay.RoleRelayOnly},
		{"leader-eligible", true, true, relay.RoleLeaderEligible},
		{"scheduler", true, false, relay.RoleScheduler},
	} {
		c := cfg
		c.LeaderEligible = tc.eligible
		rc, err := RelayConfig(c, tc.scheduling, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if rc.Role != tc.want {
			t.Errorf("%s: role %v, want %v", tc.name, rc.Role, tc.want)
		}
		if rc.Name != "m1" || rc.GRPCAddr != "127.0.0.1:50051" || rc.GossipAddr != "127.0.0.1" || rc.GossipPort != 7947 || rc.Fanout != 4 {
			t.Errorf("%s: addresses not taken from the flags: %+v", tc.name, rc)
		}
		if rc.DefaultDeadline.Seconds() != 0.5 {
			t.Errorf("%s: deadline %v", tc.name, rc.DefaultDeadline)
		}
		if len(rc.GossipKeys) != 2 || string(rc.GossipKeys[0]) != "0123456789abcdef" || len(rc.GossipKeys[1]) != 24 {
			t.Errorf("%s: gossip keys %q", tc.name, rc.GossipKeys)
		}
	}
	bad := cfg
	bad.GossipKey = base64.StdEncoding.EncodeToString([]byte("short"))
	if _, err := RelayConfig(bad, true, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "--gossip-key: key is 5 bytes") {
		t.Errorf("a 5-byte gossip key: %v, want relay's size rule naming the flag", err)
	}
}

// A tree member without mutual TLS or a gossip key does not start unless
// --insecure-tree says so; the TLS flags give it mutual TLS.
func TestRelayConfigInsecureTree(t *testing.T) {
	cfg := Config{Member: "m1", GRPCAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1", GossipPort: 0, Fanout: 4, WaitForSubschedulers: 0.5,
		Registry: prometheus.NewRegistry()}
	rc, err := RelayConfig(cfg, true, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := relay.New(rc); err == nil {
		_ = r.Shutdown()
		t.Fatal("a tree member without TLS or gossip key started without --insecure-tree")
	}
	cfg.InsecureTree = true
	if rc, err = RelayConfig(cfg, true, zerolog.Nop()); err != nil || !rc.AllowInsecure {
		t.Fatalf("--insecure-tree not passed on: %v, %v", rc.AllowInsecure, err)
	}
	r, err := relay.New(rc)
	if err != nil {
		t.Fatalf("with --insecure-tree: %v", err)
	}
	_ = r.Shutdown()
	cfg.TLSCertFile = filepath.Join(t.TempDir(), "missing.crt")
	if _, err := RelayConfig(cfg, true, zerolog.Nop()); err == nil {
		t.Fatal("half-given TLS flags accepted")
	}
}
