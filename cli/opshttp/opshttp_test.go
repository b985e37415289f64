package opshttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "extra") }))
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func call(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "opshttp_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var broken atomic.Bool
	ready := NewReadiness("caches syncing")
	s := start(t, Config{
		Gatherer:   reg,
		Registerer: reg,
		Live: func() error {
			if broken.Load() {
				return errors.New("store is read-only")
			}
			return nil
		},
		Ready: ready.Check,
	})
	base := "http://" + s.Addr()

	type want struct {
		method, path string
		code         int
		body         string
	}
	check := func(stage string, ws ...want) {
		t.Helper()
		for _, w := range ws {
			code, body := call(t, w.method, base+w.path)
			if code != w.code || !strings.Contains(body, w.body) {
				t.Errorf("%s: %s %s = %d %q, want %d containing %q", stage, w.method, w.path, code, body, w.code, w.body)
			}
		}
	}
	check("starting",
		want{"GET", "/metrics", 200, "opshttp_test_total 3"},
		want{"GET", "/healthz", 200, "ok"},
		want{"GET", "/readyz", 503, "not ready: caches syncing"},
		want{"GET", "/extra", 200, "extra"},
		want{"POST", "/healthz", 405, ""},
		want{"GET", "/debug/pprof/", 404, ""},
	)
	ready.Set()
	check("ready", want{"GET", "/readyz", 200, "ok"})
	broken.Store(true)
	check("not live",
		want{"GET", "/healthz", 503, "store is read-only"},
		want{"GET", "/readyz", 503, "store is read-only"},
	)
	broken.Store(false)
	ready.Unset("leaving")
	check("leaving", want{"GET", "/healthz", 200, "ok"}, want{"GET", "/readyz", 503, "not ready: leaving"})
}

func TestDefaultsAndPprof(t *testing.T) {
	s := start(t, Config{Gatherer: prometheus.NewRegistry(), Pprof: true})
	base := "http://" + s.Addr()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok", "/debug/pprof/": "goroutine"} {
		if code, body := call(t, "GET", base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %q, want 200 containing %q", path, code, body, want)
		}
	}
}

// TestShutdownWithoutStart: a process that fails after Listen but before
// Start must still free the port.
func TestShutdownWithoutStart(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Config{Gatherer: prometheus.NewRegistry()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := Listen(addr, Config{Gatherer: prometheus.NewRegistry()}, zerolog.Nop())
	if err != nil {
		t.Fatalf("port not freed: %v", err)
	}
	_ = again.Close()
	if _, err := Listen(addr+"x", Config{}, zerolog.Nop()); err == nil {
		t.Fatal("bad address: no error")
	}
}
