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

// BenchmarkRegister measures POST /v1/peers through the whole handler chain
// (auth, decode, allocate, fake interface, render) on an in-process recorder.
// "new" allocates a fresh key each time, so every request writes and fsyncs
// the state file; "repeat" asks again for one key (the boot-time retry path).
func BenchmarkRegister(b *testing.B) {
	for _, mode := range []string{"new", "repeat"} {
		b.Run(mode, func(b *testing.B) {
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
			keys := make([]string, 1)
			if mode == "new" {
				keys = make([]string, min(b.N, 100000))
			}
			for i := range keys {
				k, _ := wgtypes.GeneratePrivateKey()
				keys[i] = `{"publicKey":"` + k.PublicKey().String() + `"}`
			}
			i := 0
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/peers", strings.NewReader(keys[i%len(keys)]))
				req.SetBasicAuth("n", secret)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusCreated && w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				i++
			}
		})
	}
}
