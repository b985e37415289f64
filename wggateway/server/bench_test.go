package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/wggateway/alloc"
	"github.com/k8s1m/k8s1m/wggateway/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// BenchmarkRegisterRepeat measures POST /v1/peers for a key that is already
// registered (a node re-fetching its config at boot) through the whole
// handler chain: auth, decode, allocate lookup, fake interface, render, on an
// in-process recorder. New registrations are dominated by the state file
// write; alloc's BenchmarkAllocatePersisted measures that.
func BenchmarkRegisterRepeat(b *testing.B) {
	for _, format := range []string{"json", "wg-quick"} {
		b.Run(format, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			pool, err := alloc.New(alloc.Config{PoolV4: netip.MustParsePrefix("10.0.0.0/8"), StatePath: filepath.Join(b.TempDir(), "peers.json")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			sec, _ := auth.NewSecret(secret)
			gw, _ := wgtypes.GeneratePrivateKey()
			srv := New(Config{GatewayPublicKey: gw.PublicKey(), Endpoint: "[2001:db8::1]:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Keepalive: 25 * time.Second},
				pool, &fakePeers{peers: map[wgtypes.Key][]netip.Prefix{}}, auth.NewChecker(sec, nil, nil), zerolog.Nop(), reg)
			h := srv.Handler()
			k, _ := wgtypes.GeneratePrivateKey()
			body := `{"publicKey":"` + k.PublicKey().String() + `"}`
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/peers?format="+format, strings.NewReader(body))
				req.SetBasicAuth("n", secret)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusCreated && w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
