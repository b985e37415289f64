package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/app"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest/kubeapiserver"
	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*app.Config)
		ok     bool
	}{
		{"defaults", func(*app.Config) {}, true},
		{"cert without key", func(c *app.Config) { c.CertFile = "x" }, false},
		{"client auth without ca", func(c *app.Config) { c.CertFile, c.KeyFile, c.ClientCertAuth = "x", "y", true }, false},
		{"bad wal mode", func(c *app.Config) { c.WALDefault = "sometimes" }, false},
		{"fsync", func(c *app.Config) { c.WALDefault = "fsync" }, true},
		{"lean transport", func(c *app.Config) { c.Transport = app.TransportLean }, true},
		{"bad transport", func(c *app.Config) { c.Transport = "carrier-pigeon" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := app.DefaultConfig()
			tc.modify(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMetricsPort(t *testing.T) {
	a := startApp(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{a.ClientAddr()}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(context.Background(), "/registry/pods/a", "v"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/metrics", "etcd_debugging_mvcc_keys_total 1"},
		{"/metrics", `grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1`},
		{"/metrics", "etcd_server_has_leader 1"},
		{"/healthz", "ok"},
		{"/readyz", "ok"},
		{"/health", `{"health":"true","reason":""}`},
	} {
		resp, err := http.Get("http://" + a.MetricsAddr() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, body lacks %q:\n%s", tc.path, resp.StatusCode, tc.want, body)
		}
	}
	if code := getStatus(t, "http://"+a.MetricsAddr()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without --enable-pprof: %d, want 404", code)
	}
}

// TestEnablePprof: --enable-pprof serves /debug/pprof on the metrics port.
func TestEnablePprof(t *testing.T) {
	a := startAppWith(t, func(c *app.Config) { c.EnablePprof = true })
	if code := getStatus(t, "http://"+a.MetricsAddr()+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/goroutine: %d, want 200", code)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClientCertAuth: with --client-cert-auth only clients with a
// certificate from --trusted-ca-file get in.
func TestClientCertAuth(t *testing.T) {
	for _, transport := range []string{app.TransportGRPC, app.TransportLean} {
		t.Run(transport, func(t *testing.T) { testClientCertAuth(t, transport) })
	}
}

func testClientCertAuth(t *testing.T, transport string) {
	pki := kubeapiserver.NewPKI(t)
	a := startAppWith(t, func(cfg *app.Config) {
		cfg.CertFile, cfg.KeyFile, cfg.TrustedCAFile, cfg.ClientCertAuth = pki.ServingCert, pki.ServingKey, pki.CACert, true
		cfg.Transport = transport
	})

	caPEM, _ := os.ReadFile(pki.CACert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	dial := func(withCert bool) error {
		tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if withCert {
			cert, err := tls.LoadX509KeyPair(pki.AdminCert, pki.AdminKey)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + a.ClientAddr()}, TLS: tc, Logger: zap.NewNop(), DialTimeout: 2 * time.Second})
		if err != nil {
			return err
		}
		defer c.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer ccancel()
		_, err = c.Put(cctx, "k", "v")
		return err
	}
	if err := dial(true); err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	if err := dial(false); err == nil {
		t.Fatal("without client certificate: accepted")
	}
}

// TestShutdownRefusesRequests: once shutdown begins, requests get etcd's
// "server stopped" and Run returns.
func TestShutdownRefusesRequests(t *testing.T) {
	for _, transport := range []string{app.TransportGRPC, app.TransportLean} {
		t.Run(transport, func(t *testing.T) { testShutdownRefusesRequests(t, transport) })
	}
}

func testShutdownRefusesRequests(t *testing.T, transport string) {
	cfg := app.DefaultConfig()
	cfg.Transport = transport
	cfg.Port, cfg.MetricsPort = 0, 0
	cfg.WALDir = t.TempDir() // never the default ./wal in the source tree
	a, err := app.New(zerolog.Nop(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{a.ClientAddr()}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wc := c.Watch(context.Background(), "k")
	if _, err := c.Put(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	<-wc
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ccancel()
	if _, err := c.Put(cctx, "k", "v2"); err == nil {
		t.Fatal("put after shutdown succeeded")
	} else if !errors.Is(err, rpctypes.ErrStopped) && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "connection") {
		t.Fatalf("put after shutdown: %v", err)
	}
}
