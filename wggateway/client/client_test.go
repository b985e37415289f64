package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/wggateway/render"
	"github.com/k8s1m/k8s1m/wggateway/server"
	"github.com/rs/zerolog"
)

func TestFetchRetriesAndFails(t *testing.T) {
	good := render.ClientConfig{
		Interface: render.Interface{PublicKey: "pk", Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")}},
		Peer:      render.Peer{PublicKey: "gw", Endpoint: "[2001:db8::1]:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
	}
	tests := []struct {
		name      string
		answers   []int // status per attempt; the last repeats
		wantErr   string
		wantCalls int32
	}{
		{"first try", []int{201}, "", 1},
		{"gateway busy then ok", []int{503, 429, 200}, "", 3},
		{"wrong secret is final", []int{401}, "401", 1},
		{"bad key is final", []int{400}, "400", 1},
		{"never ready", []int{503}, "deadline", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				if _, pass, ok := r.BasicAuth(); !ok || pass != "the secret" || r.URL.Path != "/v1/peers" || r.Method != "POST" {
					t.Errorf("request %s %s auth=%v", r.Method, r.URL.Path, ok)
				}
				var req server.RegisterRequest
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.PublicKey != "pk" {
					t.Errorf("body %+v %v", req, err)
				}
				code := tt.answers[min(n, len(tt.answers)-1)]
				w.WriteHeader(code)
				if code < 300 {
					json.NewEncoder(w).Encode(good)
				} else {
					json.NewEncoder(w).Encode(server.Error{Error: "nope"})
				}
			}))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			cc, err := Fetch(ctx, zerolog.Nop(), srv.Client(), srv.URL+"/", "the secret", server.RegisterRequest{PublicKey: "pk"}, 10*time.Millisecond)
			if tt.wantErr == "" {
				if err != nil || cc.Interface.Addresses[0] != good.Interface.Addresses[0] {
					t.Fatalf("Fetch = %+v, %v", cc, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Fetch err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantCalls > 0 && calls.Load() != tt.wantCalls {
				t.Fatalf("%d calls, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

func TestResolveEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"[2001:db8::1]:51820", "[2001:db8::1]:51820", false},
		{"192.0.2.1:51820", "192.0.2.1:51820", false},
		{"localhost:51820", "", false}, // resolved; either loopback is fine
		{"no-port", "", true},
	}
	for _, tt := range tests {
		got, err := resolveEndpoint(context.Background(), tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("resolveEndpoint(%q) err = %v", tt.in, err)
		}
		if tt.want != "" && got.String() != tt.want {
			t.Fatalf("resolveEndpoint(%q) = %s", tt.in, got)
		}
		if tt.in == "localhost:51820" && (!got.Addr().IsLoopback() || got.Port() != 51820) {
			t.Fatalf("localhost resolved to %s", got)
		}
	}
}

func TestRunNeedsServerAndSecret(t *testing.T) {
	t.Setenv(SecretEnv, "")
	cfg := DefaultConfig()
	if err := Run(context.Background(), zerolog.Nop(), cfg); err == nil || !strings.Contains(err.Error(), "--server") {
		t.Fatalf("Run without server = %v", err)
	}
	cfg.Server = "https://[::1]:1"
	if err := Run(context.Background(), zerolog.Nop(), cfg); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("Run without secret = %v", err)
	}
}

// TestRunRefusesPlainHTTP: a gateway URL with http:// would send the shared
// secret in clear. The client refuses before connecting, unless
// --insecure-http says the operator means it.
func TestRunRefusesPlainHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(SecretEnv, "a shared secret of enough length")
	cfg := DefaultConfig()
	cfg.Server = srv.URL
	cfg.KeyFile = filepath.Join(t.TempDir(), "client.key")
	cfg.Timeout = 5 * time.Second
	if err := Run(context.Background(), zerolog.Nop(), cfg); err == nil || !strings.Contains(err.Error(), "--insecure-http") {
		t.Fatalf("Run with %s = %v, want a refusal naming --insecure-http", srv.URL, err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the secret was sent over plain HTTP %d times", n)
	}
	for _, bad := range []string{"ftp://gw", "https://", "[::1]:8080", "gw:8080"} {
		if err := checkServerURL(bad, true); err == nil {
			t.Errorf("server URL %q accepted", bad)
		}
	}
	// Allowed with the flag: it reaches the gateway (which says 401 here).
	cfg.InsecureHTTP = true
	if err := Run(context.Background(), zerolog.Nop(), cfg); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Run with --insecure-http = %v, want the gateway's 401", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("gateway saw %d requests with --insecure-http, want 1", calls.Load())
	}
}

// TestFetchHTTPSWithPrivateCA checks --ca-file: the gateway's certificate is
// trusted through the given bundle and refused without it.
func TestFetchHTTPSWithPrivateCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(render.ClientConfig{Peer: render.Peer{PublicKey: "gw"}})
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := httpClient(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := Fetch(context.Background(), zerolog.Nop(), hc, srv.URL, "s", server.RegisterRequest{PublicKey: "pk"}, time.Millisecond)
	if err != nil || cc.Peer.PublicKey != "gw" {
		t.Fatalf("Fetch over HTTPS = %+v, %v", cc, err)
	}
	plain, err := httpClient("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Fetch(ctx, zerolog.Nop(), plain, srv.URL, "s", server.RegisterRequest{PublicKey: "pk"}, 50*time.Millisecond); err == nil {
		t.Fatal("untrusted certificate accepted without --ca-file")
	}
	if _, err := httpClient(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("missing CA file accepted")
	}
}
