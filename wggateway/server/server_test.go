package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/wggateway/alloc"
	"github.com/k8s1m/k8s1m/wggateway/auth"
	"github.com/k8s1m/k8s1m/wggateway/device"
	"github.com/k8s1m/k8s1m/wggateway/render"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

const secret = "a shared secret of enough length"

// fakePeers records what the API asks of the interface.
type fakePeers struct {
	mu      sync.Mutex
	peers   map[wgtypes.Key][]netip.Prefix
	failAdd error
}

func (f *fakePeers) AddPeer(p device.Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAdd != nil {
		return f.failAdd
	}
	f.peers[p.PublicKey] = p.AllowedIPs
	return nil
}

func (f *fakePeers) RemovePeer(k wgtypes.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.peers, k)
	return nil
}

func (f *fakePeers) has(k wgtypes.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.peers[k]
	return ok
}

type fixture struct {
	srv   *Server
	url   string
	pool  *alloc.Pool
	peers *fakePeers
	gw    wgtypes.Key
}

func newFixture(t *testing.T, pool string, allowServerKeys bool) *fixture {
	t.Helper()
	return newFixtureWith(t, alloc.Config{PoolV4: netip.MustParsePrefix(pool)}, allowServerKeys)
}

func newFixtureWith(t *testing.T, pc alloc.Config, allowServerKeys bool) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := alloc.New(pc, alloc.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := auth.NewSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := auth.NewFailureLimiter(3, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := wgtypes.GeneratePrivateKey()
	peers := &fakePeers{peers: map[wgtypes.Key][]netip.Prefix{}}
	srv := New(Config{
		GatewayPublicKey: gw.PublicKey(),
		Endpoint:         "[2001:db8::1]:51820",
		AllowedIPs:       []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		Keepalive:        25 * time.Second,
		AllowServerKeys:  allowServerKeys,
	}, p, peers, auth.NewChecker(sec, lim, auth.NewMetrics(reg)), zerolog.New(zerolog.NewTestWriter(t)), reg)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &fixture{srv: srv, url: hs.URL, pool: p, peers: peers, gw: gw}
}

type call struct {
	method, path, body, password, contentType, accept string
}

func (f *fixture) do(t *testing.T, c call) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, f.url+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.password != "" {
		req.SetBasicAuth("node", c.password)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func pubKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

func registerBody(k wgtypes.Key) string { return `{"publicKey":"` + k.String() + `"}` }

func TestRegisterIdempotent(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	k := pubKey(t)
	resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(k), password: secret})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first register: %d %s", resp.StatusCode, body)
	}
	var first render.ClientConfig
	if err := json.Unmarshal(body, &first); err != nil {
		t.Fatal(err)
	}
	if first.Peer.PublicKey != f.gw.PublicKey().String() || first.Peer.Endpoint != "[2001:db8::1]:51820" ||
		first.Peer.PersistentKeepaliveSeconds != 25 || first.Interface.PrivateKey != "" ||
		len(first.Interface.Addresses) != 1 || first.Interface.Addresses[0] != netip.MustParsePrefix("10.99.0.2/32") {
		t.Fatalf("config: %s", body)
	}
	if !f.peers.has(k) {
		t.Fatal("peer not added to the interface")
	}
	resp, body = f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(k), password: secret, contentType: "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second register: %d %s", resp.StatusCode, body)
	}
	var second render.ClientConfig
	if err := json.Unmarshal(body, &second); err != nil {
		t.Fatal(err)
	}
	if second.Interface.Addresses[0] != first.Interface.Addresses[0] {
		t.Fatalf("second register moved the peer: %v -> %v", first.Interface.Addresses, second.Interface.Addresses)
	}
	for _, c := range []call{
		{method: "POST", path: "/v1/peers?format=wg-quick", body: registerBody(k), password: secret},
		{method: "POST", path: "/v1/peers", body: registerBody(k), password: secret, accept: "text/plain"},
	} {
		resp, body = f.do(t, c)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
			!strings.Contains(string(body), "Address = 10.99.0.2/32") || !strings.Contains(string(body), "Endpoint = [2001:db8::1]:51820") {
			t.Fatalf("wg-quick answer: %d %s", resp.StatusCode, body)
		}
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	good := registerBody(pubKey(t))
	tests := []struct {
		name string
		c    call
		want int
	}{
		{"not base64", call{method: "POST", path: "/v1/peers", body: `{"publicKey":"not a key!"}`}, 400},
		{"short key", call{method: "POST", path: "/v1/peers", body: `{"publicKey":"AAAA"}`}, 400},
		{"long key", call{method: "POST", path: "/v1/peers", body: `{"publicKey":"` + strings.Repeat("A", 60) + `="}`}, 400},
		{"zero key", call{method: "POST", path: "/v1/peers", body: `{"publicKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`}, 400},
		{"empty key", call{method: "POST", path: "/v1/peers", body: `{"publicKey":""}`}, 400},
		{"empty body", call{method: "POST", path: "/v1/peers", body: ``}, 400},
		{"not json", call{method: "POST", path: "/v1/peers", body: `publicKey=abc`}, 400},
		{"unknown field", call{method: "POST", path: "/v1/peers", body: `{"publicKey":"x","admin":true}`}, 400},
		{"two values", call{method: "POST", path: "/v1/peers", body: good + good}, 400},
		{"oversize body", call{method: "POST", path: "/v1/peers", body: `{"publicKey":"` + strings.Repeat("A", 2*MaxBodyBytes) + `"}`}, 413},
		{"wrong content type", call{method: "POST", path: "/v1/peers", body: good, contentType: "text/xml"}, 415},
		{"server key not allowed", call{method: "POST", path: "/v1/peers", body: `{"generateKey":true}`}, 403},
		{"both key kinds", call{method: "POST", path: "/v1/peers", body: `{"generateKey":true,"publicKey":"x"}`}, 400},
		{"release malformed key", call{method: "DELETE", path: "/v1/peers", body: `{"publicKey":"zzz"}`}, 400},
		{"release unknown key", call{method: "DELETE", path: "/v1/peers", body: registerBody(pubKey(t))}, 404},
		{"unknown path", call{method: "GET", path: "/v1/secrets"}, 404},
		{"unknown nested path", call{method: "POST", path: "/v1/peers/x", body: good}, 404},
		{"wrong method on peers", call{method: "GET", path: "/v1/peers"}, 405},
		{"put on peers", call{method: "PUT", path: "/v1/peers", body: good}, 405},
		{"wrong method on healthz", call{method: "POST", path: "/healthz"}, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.password = secret
			resp, body := f.do(t, tt.c)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want < 404 || tt.want > 405 {
				var e Error
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Fatalf("error body not JSON {error}: %s", body)
				}
			}
		})
	}
	if n := len(f.pool.List()); n != 0 {
		t.Fatalf("bad requests allocated %d addresses", n)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	body := registerBody(pubKey(t))
	resp, _ := f.do(t, call{method: "POST", path: "/v1/peers", body: body})
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("missing credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for range 2 {
		if resp, _ := f.do(t, call{method: "POST", path: "/v1/peers", body: body, password: "guess"}); resp.StatusCode != 401 {
			t.Fatalf("wrong secret: %d", resp.StatusCode)
		}
	}
	// Three failures spent the budget (limit 3): the right secret is refused too.
	resp, _ = f.do(t, call{method: "POST", path: "/v1/peers", body: body, password: secret})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d", resp.StatusCode)
	}
	// Health and metrics need no secret.
	if resp, _ := f.do(t, call{method: "GET", path: "/healthz"}); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	resp, m := f.do(t, call{method: "GET", path: "/metrics"})
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`wggateway_auth_failures_total{reason="missing"} 1`,
		`wggateway_auth_failures_total{reason="wrong"} 2`,
		`wggateway_auth_failures_total{reason="rate_limited"} 1`,
		`wggateway_server_requests_total{code="401",route="POST /v1/peers"} 3`,
		`wggateway_alloc_allocations 0`,
	} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %q:\n%s", want, m)
		}
	}
	if strings.Contains(string(m), secret) {
		t.Fatal("metrics reveal the secret")
	}
}

func TestExhaustion(t *testing.T) {
	f := newFixture(t, "10.99.0.0/30", false) // one address for peers
	if resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(pubKey(t)), password: secret}); resp.StatusCode != 201 {
		t.Fatalf("first: %d %s", resp.StatusCode, body)
	}
	resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(pubKey(t)), password: secret})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "exhausted") {
		t.Fatalf("full pool: %d %s", resp.StatusCode, body)
	}
}

// register creates k's allocation and returns its release token.
func (f *fixture) register(t *testing.T, k wgtypes.Key) string {
	t.Helper()
	resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(k), password: secret})
	var r RegisterResponse
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != http.StatusCreated || r.ReleaseToken == "" {
		t.Fatalf("register: %d %s (%v)", resp.StatusCode, body, err)
	}
	return r.ReleaseToken
}

func releaseBody(k wgtypes.Key, token string) string {
	return `{"publicKey":"` + k.String() + `","releaseToken":"` + token + `"}`
}

// TestReleaseNeedsOwnersToken: every node knows the shared secret, so a node
// that knows another's public key tries to release that node's address.
// Only the token handed to the registration that created it releases it.
func TestReleaseNeedsOwnersToken(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	victim, attacker := pubKey(t), pubKey(t)
	f.register(t, victim)
	attackerToken := f.register(t, attacker)
	// A second registration of the victim's key (anyone can send it) gets
	// the config but no token.
	resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(victim), password: secret})
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "releaseToken") {
		t.Fatalf("re-registration of a held key: %d %s", resp.StatusCode, body)
	}
	for _, tt := range []struct{ name, body string }{
		{"no token", registerBody(victim)},
		{"empty token", releaseBody(victim, "")},
		{"another allocation's token", releaseBody(victim, attackerToken)},
		{"made-up token", releaseBody(victim, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
	} {
		resp, body := f.do(t, call{method: "DELETE", path: "/v1/peers", body: tt.body, password: secret})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: release answered %d %s, want 403", tt.name, resp.StatusCode, body)
		}
	}
	if _, ok := f.pool.Get(victim.String()); !ok || !f.peers.has(victim) {
		t.Fatal("the victim's allocation or peer is gone")
	}
}

func TestReleaseAndRollback(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	k := pubKey(t)
	token := f.register(t, k)
	resp, body := f.do(t, call{method: "DELETE", path: "/v1/peers", body: releaseBody(k, token), password: secret})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("release: %d %s", resp.StatusCode, body)
	}
	if f.peers.has(k) {
		t.Fatal("peer still on the interface after release")
	}
	if _, ok := f.pool.Get(k.String()); ok {
		t.Fatal("allocation still held after release")
	}
	// When the interface refuses the peer, a new allocation is rolled back.
	f.peers.failAdd = errors.New("device gone")
	k2 := pubKey(t)
	resp, _ = f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(k2), password: secret})
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("failing device: %d", resp.StatusCode)
	}
	if _, ok := f.pool.Get(k2.String()); ok {
		t.Fatal("allocation kept although the peer was not added")
	}
}

// TestPerSourceQuota: one source with the secret registers fresh keys in a
// loop to empty the pool; it stops at its quota while another source still
// gets an address, and a released allocation gives the source room again.
func TestPerSourceQuota(t *testing.T) {
	f := newFixtureWith(t, alloc.Config{PoolV4: netip.MustParsePrefix("10.99.0.0/24"), MaxPerSource: 3}, true)
	var tokens []string
	var keys []wgtypes.Key
	for range 3 {
		k := pubKey(t)
		keys = append(keys, k)
		tokens = append(tokens, f.register(t, k))
	}
	for range 5 {
		resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: `{"generateKey":true}`, password: secret})
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("over quota: %d %s, want 429 with Retry-After", resp.StatusCode, body)
		}
	}
	if n := len(f.pool.List()); n != 3 {
		t.Fatalf("pool holds %d allocations, want the quota of 3", n)
	}
	// Re-registering a held key is not a new allocation: still served.
	if resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(keys[0]), password: secret}); resp.StatusCode != http.StatusOK {
		t.Fatalf("re-register at quota: %d %s", resp.StatusCode, body)
	}
	// Another source is not affected.
	other := httptest.NewRequest("POST", "/v1/peers", strings.NewReader(registerBody(pubKey(t))))
	other.RemoteAddr = "[2001:db8::7]:4000"
	other.SetBasicAuth("node", secret)
	other.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, other)
	if rec.Code != http.StatusCreated {
		t.Fatalf("other source: %d %s", rec.Code, rec.Body)
	}
	if resp, body := f.do(t, call{method: "DELETE", path: "/v1/peers", body: releaseBody(keys[1], tokens[1]), password: secret}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("release: %d %s", resp.StatusCode, body)
	}
	f.register(t, pubKey(t))
}

func TestServerGeneratedKeys(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", true)
	resp, body := f.do(t, call{method: "POST", path: "/v1/peers", body: `{"generateKey":true}`, password: secret})
	if resp.StatusCode != 201 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("generate: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	var c render.ClientConfig
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	priv, err := wgtypes.ParseKey(c.Interface.PrivateKey)
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	if priv.PublicKey().String() != c.Interface.PublicKey || !f.peers.has(priv.PublicKey()) {
		t.Fatal("generated private key does not belong to the registered peer")
	}
	var buf bytes.Buffer
	if err := render.WriteWGQuick(&buf, c); err != nil || !strings.Contains(buf.String(), "PrivateKey = "+c.Interface.PrivateKey) {
		t.Fatalf("wg-quick with server key: %v\n%s", err, buf.String())
	}
}

// TestConcurrentRegistrations sends many registrations at once over real
// loopback HTTP: every key gets its own address and its peer on the interface.
func TestConcurrentRegistrations(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	const n = 64
	keys := make([]wgtypes.Key, n)
	for i := range keys {
		keys[i] = pubKey(t)
	}
	addrs := make([]netip.Prefix, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each key registers twice concurrently with itself as well.
			for range 2 {
				req, _ := http.NewRequest("POST", f.url+"/v1/peers", strings.NewReader(registerBody(keys[i])))
				req.SetBasicAuth("n", secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var c render.ClientConfig
				err = json.NewDecoder(resp.Body).Decode(&c)
				resp.Body.Close()
				if err != nil || len(c.Interface.Addresses) == 0 {
					t.Errorf("key %d: %v", i, err)
					return
				}
				addrs[i] = c.Interface.Addresses[0]
			}
		}()
	}
	wg.Wait()
	seen := map[netip.Prefix]int{}
	for i, a := range addrs {
		if j, dup := seen[a]; dup {
			t.Fatalf("keys %d and %d both got %s", i, j, a)
		}
		seen[a] = i
		if got := f.peers.peers[keys[i]]; len(got) != 1 || got[0] != a {
			t.Fatalf("interface has %v for key %d, API answered %s", got, i, a)
		}
	}
}

func TestExpireIdleRemovesPeers(t *testing.T) {
	f := newFixture(t, "10.99.0.0/24", false)
	k := pubKey(t)
	f.do(t, call{method: "POST", path: "/v1/peers", body: registerBody(k), password: secret})
	srv := f.srv
	gone, err := srv.ExpireIdle(time.Hour)
	if err != nil || len(gone) != 0 {
		t.Fatalf("fresh peer expired: %v %v", gone, err)
	}
	gone, err = srv.ExpireIdle(-time.Hour) // everything is older than the future
	if err != nil || len(gone) != 1 || gone[0].PublicKey != k.String() {
		t.Fatalf("ExpireIdle = %v, %v", gone, err)
	}
	if f.peers.has(k) {
		t.Fatal("expired peer still on the interface")
	}
}
