package device

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/wggateway/internal/netnstest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func genKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func peerKeys(d *wgtypes.Device) map[wgtypes.Key][]string {
	out := map[wgtypes.Key][]string{}
	for _, p := range d.Peers {
		for _, a := range p.AllowedIPs {
			out[p.PublicKey] = append(out[p.PublicKey], a.String())
		}
	}
	return out
}

// TestUserspaceLifecycle runs in a namespace of its own: it creates an
// in-process userspace device, configures it through wgctrl, reconciles,
// adds and removes peers, and checks that a second Open adopts it.
func TestUserspaceLifecycle(t *testing.T) {
	if !netnstest.InChild() {
		netnstest.RunIsolated(t)
		return
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	// The name carries the pid: the UAPI socket directory is shared by all
	// namespaces.
	name := "wgt" + itoa(os.Getpid()%100000)
	dev, err := Open(Config{Name: name, Userspace: true, Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.1/24"), netip.MustParsePrefix("fd00:99::1/64")}}, log, m)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dev.Close() })

	key := genKey(t)
	// The listen port is not set here: changing it rebinds from the UAPI
	// goroutine, and only the e2e test (a whole process per namespace) may do
	// that without leaking a socket into the host's namespace.
	if err := dev.Setup(key, nil); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	st, err := dev.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.PublicKey != key.PublicKey() {
		t.Fatalf("public key %s, want %s", st.PublicKey, key.PublicKey())
	}

	a, b, c := genKey(t).PublicKey(), genKey(t).PublicKey(), genKey(t).PublicKey()
	steps := []struct {
		name  string
		apply func() error
		want  map[wgtypes.Key][]string
	}{
		{"reconcile two", func() error {
			return dev.Reconcile([]Peer{
				{PublicKey: a, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")}},
				{PublicKey: b, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.3/32"), netip.MustParsePrefix("fd00:99::3/128")}},
			})
		}, map[wgtypes.Key][]string{a: {"10.99.0.2/32"}, b: {"10.99.0.3/32", "fd00:99::3/128"}}},
		{"add third", func() error {
			return dev.AddPeer(Peer{PublicKey: c, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.4/32")}})
		}, map[wgtypes.Key][]string{a: {"10.99.0.2/32"}, b: {"10.99.0.3/32", "fd00:99::3/128"}, c: {"10.99.0.4/32"}}},
		{"add again is an update", func() error {
			return dev.AddPeer(Peer{PublicKey: c, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.5/32")}})
		}, map[wgtypes.Key][]string{a: {"10.99.0.2/32"}, b: {"10.99.0.3/32", "fd00:99::3/128"}, c: {"10.99.0.5/32"}}},
		{"remove", func() error { return dev.RemovePeer(b) },
			map[wgtypes.Key][]string{a: {"10.99.0.2/32"}, c: {"10.99.0.5/32"}}},
		{"remove absent", func() error { return dev.RemovePeer(b) },
			map[wgtypes.Key][]string{a: {"10.99.0.2/32"}, c: {"10.99.0.5/32"}}},
		{"reconcile drops unknown", func() error {
			return dev.Reconcile([]Peer{{PublicKey: c, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.5/32")}}})
		}, map[wgtypes.Key][]string{c: {"10.99.0.5/32"}}},
	}
	for _, s := range steps {
		if err := s.apply(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		st, err := dev.State()
		if err != nil {
			t.Fatal(err)
		}
		got := peerKeys(st)
		if len(got) != len(s.want) {
			t.Fatalf("%s: peers %v, want %v", s.name, got, s.want)
		}
		for k, ips := range s.want {
			if len(got[k]) != len(ips) {
				t.Fatalf("%s: peer %s has %v, want %v", s.name, k, got[k], ips)
			}
			for i := range ips {
				if got[k][i] != ips[i] {
					t.Fatalf("%s: peer %s has %v, want %v", s.name, k, got[k], ips)
				}
			}
		}
		if g := testutil.ToFloat64(m.peers); int(g) != len(s.want) {
			t.Fatalf("%s: peers gauge %v, want %d", s.name, g, len(s.want))
		}
	}

	// A second Open of the same name adopts the running device instead of
	// creating another; closing it leaves the device alone.
	again, err := Open(Config{Name: name, Userspace: true}, log, nil)
	if err != nil {
		t.Fatalf("adopting Open: %v", err)
	}
	if again.userspace != nil {
		t.Fatal("second Open started a second device instead of adopting")
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.State(); err != nil {
		t.Fatalf("device gone after closing the adopter: %v", err)
	}

	if err := dev.AddRoutes([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}); err != nil {
		t.Fatalf("AddRoutes: %v", err)
	}
	dev.Close()
	// Closing the in-process device removes its UAPI socket.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/var/run/wireguard/" + name + ".sock"); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("uapi socket still there after Close")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenRejectsBadName(t *testing.T) {
	for _, n := range []string{"", "a-name-that-is-too-long"} {
		if _, err := Open(Config{Name: n}, zerolog.Nop(), nil); err == nil {
			t.Fatalf("Open(%q) succeeded", n)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
