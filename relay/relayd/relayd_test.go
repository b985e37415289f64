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
	seed := newMember(t, "seed")
	t.Cleanup(func() { _ = seed.Shutdown() })

	r := startRelayd(t, "relay-0", seed.GossipAddr(), 5*time.Second)
	poll(t, func() bool { code, _ := r.get("/readyz"); return code == http.StatusOK })
	if code, body := r.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	poll(t, func() bool { return len(seed.Members()) == 2 })
	code, body := r.get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `relay_members{role="relay-only"} 1`) || !strings.Contains(body, "relay_gather_decision_latency_seconds") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Graceful leave: the seed hears it without waiting for failure detection.
	poll(t, func() bool { return len(seed.Members()) == 1 })
}

// TestNotReadyUntilJoined: a member whose seed does not answer is live but
// not ready, so a load balancer keeps work away from it.
func TestNotReadyUntilJoined(t *testing.T) {
	// A loopback port nobody listens on: bind one, note it, free it.
	dead := newMember(t, "dead")
	seedAddr := dead.GossipAddr()
	if err := dead.Shutdown(); err != nil {
		t.Fatal(err)
	}

	r := startRelayd(t, "lonely", seedAddr, time.Second)
	t.Cleanup(func() { _ = r.stop() })
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		code, body := r.get(path)
		if code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
		if path == "/readyz" && !strings.Contains(body, "not joined yet") {
			t.Errorf("/readyz body %q does not say why", body)
		}
	}
}

// newMember starts a leader-eligible member on loopback.
func newMember(t *testing.T, name string) *relay.Relay {
	t.Helper()
	cfg := relay.DefaultLocalConfig()
	cfg.Name, cfg.Role = name, relay.RoleLeaderEligible
	cfg.Memberlist.Logger = nil
	m, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// relaydRun is one Run of a relay-only member serving HTTP on loopback.
type relaydRun struct {
	base   string // http://host:port
	cancel context.CancelFunc
	done   chan error
}

// startRelayd runs a relay-only member joining seed and returns once its
// HTTP server listens.
func startRelayd(t *testing.T, name, seed string, leave time.Duration) *relaydRun {
	t.Helper()
	cfg := Config{Relay: relay.DefaultLocalConfig(), Seeds: []string{seed}, MetricsAddr: "127.0.0.1:0", LeaveTimeout: leave, JoinRetry: 50 * time.Millisecond}
	cfg.Relay.Name = name
	cfg.Relay.Memberlist.Logger = nil
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	r := &relaydRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, zerolog.Nop(), cfg) }()
	select {
	case a := <-addr:
		r.base = "http://" + a
	case err := <-r.done:
		cancel()
		t.Fatalf("run ended: %v", err)
	}
	return r
}

// stop cancels the run and returns its error; a second stop returns nil.
func (r *relaydRun) stop() error {
	r.cancel()
	err, ok := <-r.done
	if ok {
		close(r.done)
	}
	return err
}

func (r *relaydRun) get(path string) (int, string) {
	resp, err := http.Get(r.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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
