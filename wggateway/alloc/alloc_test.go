package alloc

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func key(i int) string { return fmt.Sprintf("key-%03d", i) }

func TestNewRejectsBadPools(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no pool", Config{}},
		{"v6 as v4", Config{PoolV4: netip.MustParsePrefix("fd00::/64")}},
		{"v4 too small", Config{PoolV4: netip.MustParsePrefix("10.0.0.0/31")}},
		{"v4 too large", Config{PoolV4: netip.MustParsePrefix("10.0.0.0/7")}},
		{"v4 as v6", Config{PoolV4: netip.MustParsePrefix("10.0.0.0/24"), PoolV6: netip.MustParsePrefix("10.1.0.0/24")}},
		{"v6 smaller than v4", Config{PoolV4: netip.MustParsePrefix("10.0.0.0/24"), PoolV6: netip.MustParsePrefix("fd00::/124")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); err == nil {
				t.Fatal("New accepted a bad pool")
			}
		})
	}
}

func TestAllocateIdempotent(t *testing.T) {
	p := newPool(t, Config{
		PoolV4: netip.MustParsePrefix("10.99.0.0/24"),
		PoolV6: netip.MustParsePrefix("fd00:99::/64"),
	})
	gw4, gw6 := p.Gateway()
	if gw4 != netip.MustParseAddr("10.99.0.1") || gw6 != netip.MustParseAddr("fd00:99::1") {
		t.Fatalf("gateway = %s %s", gw4, gw6)
	}
	a, created, err := p.Allocate("alice")
	if err != nil || !created {
		t.Fatalf("first Allocate = %v, created %v", err, created)
	}
	if a.IPv4 != netip.MustParseAddr("10.99.0.2") || a.IPv6 != netip.MustParseAddr("fd00:99::2") {
		t.Fatalf("first allocation = %s %s", a.IPv4, a.IPv6)
	}
	for range 3 {
		again, created, err := p.Allocate("alice")
		if err != nil || created {
			t.Fatalf("repeat Allocate = %v, created %v", err, created)
		}
		if again.IPv4 != a.IPv4 || again.IPv6 != a.IPv6 {
			t.Fatalf("repeat gave %s %s, first gave %s %s", again.IPv4, again.IPv6, a.IPv4, a.IPv6)
		}
	}
	b, _, err := p.Allocate("bob")
	if err != nil {
		t.Fatal(err)
	}
	if b.IPv4 == a.IPv4 {
		t.Fatalf("bob got alice's address %s", b.IPv4)
	}
}

func TestExhaustionAndRelease(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	// A /29 has 8 addresses: network, gateway and broadcast leave 5.
	p, err := New(Config{PoolV4: netip.MustParsePrefix("192.168.7.0/29")}, m)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 5 {
		t.Fatalf("Size = %d, want 5", p.Size())
	}
	seen := map[netip.Addr]bool{}
	for i := range 5 {
		a, _, err := p.Allocate(key(i))
		if err != nil {
			t.Fatalf("Allocate %d: %v", i, err)
		}
		if a.IPv4 == netip.MustParseAddr("192.168.7.0") || a.IPv4 == netip.MustParseAddr("192.168.7.1") || a.IPv4 == netip.MustParseAddr("192.168.7.7") {
			t.Fatalf("handed out reserved address %s", a.IPv4)
		}
		seen[a.IPv4] = true
	}
	if len(seen) != 5 {
		t.Fatalf("5 keys got %d distinct addresses", len(seen))
	}
	if _, _, err := p.Allocate("one-too-many"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Allocate on a full pool = %v, want ErrExhausted", err)
	}
	// Existing keys still get their address when the pool is full.
	if _, _, err := p.Allocate(key(2)); err != nil {
		t.Fatalf("existing key on a full pool: %v", err)
	}
	if got := testutil.ToFloat64(m.exhausted); got != 1 {
		t.Fatalf("exhausted counter = %v", got)
	}
	if got := testutil.ToFloat64(m.inUse); got != 5 {
		t.Fatalf("in-use gauge = %v", got)
	}
	freed, err := p.Release(key(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Release(key(2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Release = %v, want ErrNotFound", err)
	}
	a, _, err := p.Allocate("newcomer")
	if err != nil {
		t.Fatalf("Allocate after release: %v", err)
	}
	if a.IPv4 != freed.IPv4 {
		t.Fatalf("newcomer got %s, the only free address is %s", a.IPv4, freed.IPv4)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "peers.json")
	cfg := Config{PoolV4: netip.MustParsePrefix("10.99.0.0/24"), PoolV6: netip.MustParsePrefix("fd00:99::/64"), StatePath: path}
	p := newPool(t, cfg)
	want := map[string]Allocation{}
	for i := range 10 {
		a, _, err := p.Allocate(key(i))
		if err != nil {
			t.Fatal(err)
		}
		want[a.PublicKey] = a
	}
	if _, err := p.Release(key(4)); err != nil {
		t.Fatal(err)
	}
	delete(want, key(4))

	// A new Pool on the same file is a gateway restart.
	p2 := newPool(t, cfg)
	got := p2.List()
	if len(got) != len(want) {
		t.Fatalf("after restart %d peers, want %d", len(got), len(want))
	}
	for _, a := range got {
		w := want[a.PublicKey]
		if a.IPv4 != w.IPv4 || a.IPv6 != w.IPv6 || !a.Created.Equal(w.Created) {
			t.Fatalf("after restart %s = %+v, want %+v", a.PublicKey, a, w)
		}
	}
	// Asking again after the restart returns the same address.
	a, created, err := p2.Allocate(key(7))
	if err != nil || created || a.IPv4 != want[key(7)].IPv4 {
		t.Fatalf("Allocate after restart = %+v created=%v err=%v", a, created, err)
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d files, want only the state file", len(entries))
	}
}

func TestLoadRejectsBadState(t *testing.T) {
	tests := []struct {
		name  string
		state string
	}{
		{"not json", "{"},
		{"wrong version", `{"version": 9, "peers": []}`},
		{"outside pool", `{"version": 1, "peers": [{"publicKey": "a", "ipv4": "10.1.0.5"}]}`},
		{"gateway address", `{"version": 1, "peers": [{"publicKey": "a", "ipv4": "10.99.0.1"}]}`},
		{"duplicate address", `{"version": 1, "peers": [{"publicKey": "a", "ipv4": "10.99.0.5"}, {"publicKey": "b", "ipv4": "10.99.0.5"}]}`},
		{"duplicate key", `{"version": 1, "peers": [{"publicKey": "a", "ipv4": "10.99.0.5"}, {"publicKey": "a", "ipv4": "10.99.0.6"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peers.json")
			if err := os.WriteFile(path, []byte(tt.state), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := New(Config{PoolV4: netip.MustParsePrefix("10.99.0.0/24"), StatePath: path}, nil); err == nil {
				t.Fatal("New accepted bad state")
			}
		})
	}
}

func TestConcurrentAllocationsNeverShare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	p := newPool(t, Config{PoolV4: netip.MustParsePrefix("10.99.0.0/25"), StatePath: path})
	const workers, perWorker = 8, 20 // 160 keys, more than the 125 addresses
	type result struct {
		key string
		a   Allocation
		err error
	}
	results := make(chan result, workers*perWorker*2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				// Every key is asked for twice, by different workers, to mix
				// repeat requests into the race.
				k := key((w*perWorker + i) % (workers * perWorker / 2))
				a, _, err := p.Allocate(k)
				results <- result{k, a, err}
			}
		}()
	}
	wg.Wait()
	close(results)
	owner := map[netip.Addr]string{}
	addrOf := map[string]netip.Addr{}
	for r := range results {
		if r.err != nil {
			if errors.Is(r.err, ErrExhausted) {
				continue
			}
			t.Fatalf("Allocate %s: %v", r.key, r.err)
		}
		if prev, ok := owner[r.a.IPv4]; ok && prev != r.key {
			t.Fatalf("address %s given to %s and %s", r.a.IPv4, prev, r.key)
		}
		if prev, ok := addrOf[r.key]; ok && prev != r.a.IPv4 {
			t.Fatalf("key %s got %s and %s", r.key, prev, r.a.IPv4)
		}
		owner[r.a.IPv4] = r.key
		addrOf[r.key] = r.a.IPv4
	}
	if len(owner) != 80 {
		t.Fatalf("%d distinct addresses for 80 keys", len(owner))
	}
	// The file agrees with memory.
	p2 := newPool(t, Config{PoolV4: netip.MustParsePrefix("10.99.0.0/25"), StatePath: path})
	for _, a := range p2.List() {
		if addrOf[a.PublicKey] != a.IPv4 {
			t.Fatalf("persisted %s = %s, handed out %s", a.PublicKey, a.IPv4, addrOf[a.PublicKey])
		}
	}
}

func TestExpireIdle(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "peers.json")
	cfg := Config{PoolV4: netip.MustParsePrefix("10.99.0.0/24"), StatePath: path, Now: clock.Now}
	p := newPool(t, cfg)
	for _, k := range []string{"active", "handshaking", "idle"} {
		if _, _, err := p.Allocate(k); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(50 * time.Minute)
	if _, _, err := p.Allocate("active"); err != nil { // an API request refreshes
		t.Fatal(err)
	}
	p.Touch("handshaking", clock.Now()) // a WireGuard handshake refreshes
	p.Touch("idle", clock.Now().Add(-2*time.Hour))
	clock.Add(30 * time.Minute)
	gone, err := p.Expire(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0].PublicKey != "idle" {
		t.Fatalf("expired %+v, want only idle", gone)
	}
	p2 := newPool(t, cfg)
	if _, ok := p2.Get("idle"); ok {
		t.Fatal("expired peer is back after restart")
	}
	a, ok := p2.Get("handshaking")
	if !ok || !a.LastSeen.Equal(clock.Now().Add(-30*time.Minute)) {
		t.Fatalf("touch not persisted: %+v", a)
	}
}

// TestQuotaSurvivesRestart: the source of each allocation is on disk, so a
// restart does not hand a source a fresh quota.
func TestQuotaSurvivesRestart(t *testing.T) {
	cfg := Config{PoolV4: netip.MustParsePrefix("10.99.0.0/24"), StatePath: filepath.Join(t.TempDir(), "peers.json"), MaxPerSource: 2}
	src := Owner{Source: netip.MustParseAddr("2001:db8::5")}
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, _, err := p.AllocateFor(k, src); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := p.AllocateFor("c", src); !errors.Is(err, ErrQuota) {
		t.Fatalf("third allocation: %v, want ErrQuota", err)
	}
	p2, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p2.AllocateFor("c", src); !errors.Is(err, ErrQuota) {
		t.Fatalf("after restart: %v, want ErrQuota", err)
	}
	if _, err := p2.Release("a"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := p2.AllocateFor("c", Owner{Source: netip.MustParseAddr("::ffff:192.0.2.1")}); err != nil || !created {
		t.Fatalf("other source: %v %v", created, err)
	}
	if _, created, err := p2.AllocateFor("d", src); err != nil || !created {
		t.Fatalf("after a release: %v %v", created, err)
	}
}
