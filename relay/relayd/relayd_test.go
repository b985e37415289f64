package relayd

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/relay"
	"github.com/rs/zerolog"
)

// TestRunServesAndLeaves runs a relay-only member with a seed member, checks
// /readyz, /healthz and /metrics, and that cancelling the context leaves
// gracefully.
func TestRunServesAndLeaves(t *testing.T) {
	seedCfg := relay.DefaultLocalConfig()
	seedCfg.Name, seedCfg.Role = "seed", relay.RoleLeaderEligible
	seedCfg.Memberlist.Logger = nil
	seed, err := relay.New(seedCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = seed.Shutdown() })

	cfg := Config{Relay: relay.DefaultLocalConfig(), Seeds: []string{seed.GossipAddr()}, MetricsAddr: "127.0.0.1:0", LeaveTimeout: 5 * time.Second, JoinRetry: 100 * time.Millisecond}
	cfg.Relay.Name = "relay-0"
	cfg.Relay.Memberlist.Logger = nil
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, zerolog.Nop(), cfg) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	poll(t, func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	poll(t, func() bool { return len(seed.Members()) == 2 })
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `relay_members{role="relay-only"} 1`) || !strings.Contains(body, "relay_gather_decision_latency_seconds") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	// Graceful leave: the seed hears it without waiting for failure detection.
	poll(t, func() bool { return len(seed.Members()) == 1 })
}

// TestNotReadyUntilJoined: a member whose seed does not answer is live but
// not ready, so a load balancer keeps work away from it.
func TestNotReadyUntilJoined(t *testing.T) {
	// A loopback port nobody listens on: bind one, note it, free it.
	dead := relay.DefaultLocalConfig()
	dead.Name = "dead"
	dead.Memberlist.Logger = nil
	d, err := relay.New(dead)
	if err != nil {
		t.Fatal(err)
	}
	seedAddr := d.GossipAddr()
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}

	cfg := Config{Relay: relay.DefaultLocalConfig(), Seeds: []string{seedAddr}, MetricsAddr: "127.0.0.1:0", LeaveTimeout: time.Second, JoinRetry: 50 * time.Millisecond}
	cfg.Relay.Name = "lonely"
	cfg.Relay.Memberlist.Logger = nil
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, zerolog.Nop(), cfg) }()
	t.Cleanup(func() { cancel(); <-done })
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, b, want)
		}
		if path == "/readyz" && !strings.Contains(string(b), "not joined yet") {
			t.Errorf("/readyz body %q does not say why", b)
		}
	}
}

func poll(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
