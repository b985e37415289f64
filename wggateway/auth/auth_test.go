package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testSecret = "correct horse battery staple"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func request(src string, setAuth func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/peers", nil)
	r.RemoteAddr = src
	if setAuth != nil {
		setAuth(r)
	}
	return r
}

func withPassword(p string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth("node-1", p) }
}

func TestCheck(t *testing.T) {
	secret, err := NewSecret(testSecret + "\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		auth func(*http.Request)
		want Result
	}{
		{"right", withPassword(testSecret), OK},
		{"right, any user name", func(r *http.Request) { r.SetBasicAuth("", testSecret) }, OK},
		{"wrong", withPassword("correct horse battery stapl"), Wrong},
		{"wrong, longer", withPassword(testSecret + "x"), Wrong},
		{"empty password", withPassword(""), Wrong},
		{"missing", nil, Missing},
		{"bearer instead of basic", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testSecret) }, Missing},
		{"garbled basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			c := NewChecker(secret, nil, m)
			if got := c.Check(request("[2001:db8::5]:4000", tt.auth)); got != tt.want {
				t.Fatalf("Check = %v, want %v", got, tt.want)
			}
			if tt.want != OK {
				if got := testutil.ToFloat64(m.failures.WithLabelValues(tt.want.String())); got != 1 {
					t.Fatalf("failure counter %s = %v", tt.want, got)
				}
			}
		})
	}
}

// The comparison hashes both sides to fixed-size digests first, so a candidate
// of any length walks the same ConstantTimeCompare path; this pins the
// behaviour that makes that true (length differences are not an early exit).
func TestMatchesAnyLength(t *testing.T) {
	s, err := NewSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"", "c", testSecret[:len(testSecret)-1], testSecret + testSecret, strings.Repeat("x", 1<<16)} {
		if s.Matches(c) {
			t.Fatalf("Matches(%q) = true", c)
		}
	}
	if !s.Matches(testSecret) {
		t.Fatal("Matches(secret) = false")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	s, err := NewSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, "horse") {
			t.Fatalf("%s prints the secret: %s", verb, out)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(good, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const env = "WGGATEWAY_TEST_SECRET"
	tests := []struct {
		name    string
		file    string
		env     string
		wantErr bool
	}{
		{name: "file", file: good},
		{name: "env", env: testSecret},
		{name: "both", file: good, env: testSecret, wantErr: true},
		{name: "neither", wantErr: true},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: true},
		{name: "too short", file: short, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(env, tt.env)
			s, err := LoadSecret(tt.file, env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("LoadSecret err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !s.Matches(testSecret) {
				t.Fatal("loaded secret does not match")
			}
			if err != nil && strings.Contains(err.Error(), "horse") {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestRateLimitFailures(t *testing.T) {
	secret, _ := NewSecret(testSecret)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim, err := NewFailureLimiter(3, time.Minute, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(secret, lim, nil)

	attacker := "[2001:db8:1:2::10]:5555"
	for i := range 3 {
		if got := c.Check(request(attacker, withPassword("guess"))); got != Wrong {
			t.Fatalf("attempt %d = %v, want Wrong", i, got)
		}
	}
	// The budget is spent: even the right secret is refused unchecked.
	if got := c.Check(request(attacker, withPassword(testSecret))); got != Limited {
		t.Fatalf("after 3 failures = %v, want Limited", got)
	}
	// Another address in the same /64 shares the budget.
	if got := c.Check(request("[2001:db8:1:2::99]:1", withPassword(testSecret))); got != Limited {
		t.Fatalf("same /64 = %v, want Limited", got)
	}
	// Other sources are unaffected.
	for _, src := range []string{"[2001:db8:1:3::10]:5555", "192.0.2.7:80", "[::ffff:192.0.2.8]:80"} {
		if got := c.Check(request(src, withPassword(testSecret))); got != OK {
			t.Fatalf("unrelated source %s = %v, want OK", src, got)
		}
	}
	// One refill period later the attacker gets exactly one more try.
	clk.add(time.Minute)
	if got := c.Check(request(attacker, withPassword("guess"))); got != Wrong {
		t.Fatalf("after refill = %v, want Wrong", got)
	}
	if got := c.Check(request(attacker, withPassword(testSecret))); got != Limited {
		t.Fatalf("after refill spent = %v, want Limited", got)
	}
	// Successes do not spend budget.
	clk.add(10 * time.Minute)
	for i := range 10 {
		if got := c.Check(request(attacker, withPassword(testSecret))); got != OK {
			t.Fatalf("success %d = %v", i, got)
		}
	}
}

// TestConcurrentGuessesEachCost fires many wrong passwords from one source at
// once: each must spend one attempt, so exactly burst of them are checked
// (Wrong) and the rest refused unchecked (Limited), however they interleave.
func TestConcurrentGuessesEachCost(t *testing.T) {
	secret, _ := NewSecret(testSecret)
	const burst, guesses = 3, 64
	lim, err := NewFailureLimiter(burst, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(secret, lim, nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count = map[Result]int{}
		start = make(chan struct{})
	)
	for range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := c.Check(request("192.0.2.66:1234", withPassword("guess")))
			mu.Lock()
			count[res]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if count[Wrong] != burst || count[Limited] != guesses-burst {
		t.Fatalf("results %v, want %d Wrong and %d Limited", count, burst, guesses-burst)
	}
}

// TestReserveChargesInFlight is the interleaving that made a check-then-charge
// limiter leak: a second attempt arriving while the first is still being
// checked must already see the first one's charge.
func TestReserveChargesInFlight(t *testing.T) {
	lim, err := NewFailureLimiter(1, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.9")
	if !lim.Reserve(src) {
		t.Fatal("first attempt refused")
	}
	if lim.Reserve(src) {
		t.Fatal("second attempt in flight allowed: the budget of 1 was spent twice")
	}
	lim.Refund(src) // the first one authenticated after all
	if !lim.Reserve(src) {
		t.Fatal("refunded attempt not given back")
	}
}

func TestLimiterRefusesBadConfig(t *testing.T) {
	for _, tt := range []struct {
		burst  int
		refill time.Duration
	}{{5, 0}, {5, -time.Second}, {0, time.Minute}} {
		if _, err := NewFailureLimiter(tt.burst, tt.refill, nil); err == nil {
			t.Errorf("NewFailureLimiter(%d, %v) accepted", tt.burst, tt.refill)
		}
	}
}

func TestLimiterBounded(t *testing.T) {
	lim, err := NewFailureLimiter(2, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxSources + 10 {
		lim.Reserve(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := lim.Sources(); n > maxSources {
		t.Fatalf("tracking %d sources, cap is %d", n, maxSources)
	}
}

// BenchmarkMatches compares a candidate that differs in its first byte with one
// that differs in its last: with a constant-time compare the two take the same
// time (read the ns/op side by side; tests do not assert on timing).
func BenchmarkMatches(b *testing.B) {
	s, _ := NewSecret(testSecret)
	early := "X" + testSecret[1:]
	late := testSecret[:len(testSecret)-1] + "X"
	b.Run("early-mismatch", func(b *testing.B) {
		for b.Loop() {
			s.Matches(early)
		}
	})
	b.Run("late-mismatch", func(b *testing.B) {
		for b.Loop() {
			s.Matches(late)
		}
	})
}
