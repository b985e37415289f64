package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/wggateway/internal/netnstest"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestValidate(t *testing.T) {
	good := DefaultConfig()
	good.Endpoint = "[2001:db8::1]:51820"
	good.TLSCert, good.TLSKey = "cert.pem", "key.pem"
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults plus endpoint", func(*Config) {}, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "--endpoint is required"},
		{"endpoint without port", func(c *Config) { c.Endpoint = "2001:db8::1" }, "--endpoint"},
		{"half TLS", func(c *Config) { c.TLSKey = "" }, "--tls-key"},
		{"plain HTTP", func(c *Config) { c.TLSCert, c.TLSKey = "", "" }, "--behind-tls-proxy"},
		{"plain HTTP behind a TLS proxy", func(c *Config) { c.TLSCert, c.TLSKey, c.BehindTLSProxy = "", "", true }, ""},
		{"zero auth refill", func(c *Config) { c.AuthFailRefill = 0 }, "--auth-fail-refill"},
		{"zero auth burst", func(c *Config) { c.AuthFailBurst = 0 }, "--auth-fail-burst"},
		{"negative quota", func(c *Config) { c.MaxPeersPerSource = -1 }, "--max-peers-per-source"},
		{"v6 forward deny", func(c *Config) { c.ForwardDeny = []netip.Prefix{netip.MustParsePrefix("fd00::/8")} }, "--forward-deny"},
		{"bad port", func(c *Config) { c.ListenPort = 70000 }, "--listen-port"},
		{"no allowed ips", func(c *Config) { c.AllowedIPs = nil }, "--allowed-ips"},
		{"idle shorter than keepalives", func(c *Config) { c.IdleTimeout = time.Minute }, "too short"},
		{"idle without keepalive", func(c *Config) { c.IdleTimeout = time.Minute; c.Keepalive = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestFlagsAndEnv(t *testing.T) {
	c := DefaultConfig()
	fs := pflag.NewFlagSet("wggateway", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse([]string{"--pool-v4", "10.50.0.0/20", "--dns", "2001:db8::53", "--allowed-ips", "192.0.2.0/24,198.51.100.0/24"}); err != nil {
		t.Fatal(err)
	}
	if c.PoolV4.String() != "10.50.0.0/20" || len(c.DNS) != 1 || len(c.AllowedIPs) != 2 {
		t.Fatalf("parsed %+v", c)
	}
	if err := fs.Parse([]string{"--pool-v4", "not-a-prefix"}); err == nil {
		t.Fatal("bad prefix accepted")
	}
	if got := envName("listen-port"); got != "WGGATEWAY_LISTEN_PORT" {
		t.Fatalf("envName = %q", got)
	}
	if f := fs.Lookup("secret-file"); f == nil || !strings.Contains(f.Usage, "WGGATEWAY_SECRET_FILE") {
		t.Fatal("secret-file has no env fallback in its help")
	}
	if fs.Lookup("secret") != nil {
		t.Fatal("the secret must not be a flag")
	}
}

// TestRunExpiresIdlePeers runs the whole gateway in a namespace of its own
// (userspace device, loopback API): a registered peer that never handshakes is
// expired from the interface and the state file, and cancelling the context
// shuts the gateway down cleanly.
func TestRunExpiresIdlePeers(t *testing.T) {
	if !netnstest.InChild() {
		netnstest.RunIsolated(t)
		return
	}
	dir := t.TempDir()
	t.Setenv(SecretEnv, "gateway test secret 0123456789")
	cfg := DefaultConfig()
	cfg.Endpoint = "[2001:db8::1]:51820"
	cfg.Listen = "127.0.0.1:18080"
	cfg.Userspace = true
	cfg.Interface = fmt.Sprintf("wgrun%d", os.Getpid()%100000)
	cfg.PoolV4 = mustPrefix(t, "10.77.0.0/24")
	cfg.StateFile = filepath.Join(dir, "peers.json")
	cfg.PrivateKeyFile = filepath.Join(dir, "gw.key")
	cfg.Keepalive = 0
	cfg.IdleTimeout = 500 * time.Millisecond
	cfg.SweepInterval = 100 * time.Millisecond
	cfg.SNATInterface = "lo"
	cfg.BehindTLSProxy = true // loopback inside the test's namespace

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = Run(ctx, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel), cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	waitUntil(t, "API up", func() bool {
		resp, err := http.Get("http://" + cfg.Listen + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	k, _ := wgtypes.GeneratePrivateKey()
	req, _ := http.NewRequest("POST", "http://"+cfg.Listen+"/v1/peers", strings.NewReader(`{"publicKey":"`+k.PublicKey().String()+`"}`))
	req.SetBasicAuth("n", "gateway test secret 0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	wg, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer wg.Close()
	peers := func() int {
		d, err := wg.Device(cfg.Interface)
		if err != nil {
			return -1
		}
		return len(d.Peers)
	}
	if n := peers(); n != 1 {
		t.Fatalf("interface has %d peers after register", n)
	}
	waitUntil(t, "idle peer expired", func() bool { return peers() == 0 })
	waitUntil(t, "state file emptied", func() bool {
		b, err := os.ReadFile(cfg.StateFile)
		var s struct{ Peers []json.RawMessage }
		return err == nil && json.Unmarshal(b, &s) == nil && len(s.Peers) == 0
	})

	cancel()
	select {
	case <-done:
		if runErr != nil {
			t.Fatalf("Run after cancel = %v", runErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := net.Dial("tcp", cfg.Listen); err == nil {
		t.Fatal("API still listening after shutdown")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
