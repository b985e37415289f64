package relay

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testCA issues one certificate per member name (CN and DNS SAN), valid for
// 127.0.0.1.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
	mu   sync.Mutex
	next int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{key: key, cert: cert, pool: pool, next: 1}
}

// write puts the CA certificate in dir/file and returns its path.
func (ca *testCA) write(t *testing.T, dir, file string) string {
	t.Helper()
	return writePEM(t, filepath.Join(dir, file), "CERTIFICATE", ca.cert.Raw)
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// member returns the mutual TLS configurations of member name.
func (ca *testCA) member(t *testing.T, name string) (server, client *tls.Config) {
	t.Helper()
	der, key := ca.issue(t, name)
	server, client, err := MutualTLS(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca.pool)
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// writeMember writes member name's certificate and key into dir.
func (ca *testCA) writeMember(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	der, key := ca.issue(t, name)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der), writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER)
}

// issue signs a certificate naming member name (CN and DNS SAN) for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, name string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.mu.Lock()
	ca.next++
	serial := ca.next
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		DNSNames:  []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// TestRefusesInsecureMember: a member without TLS or without a gossip key does
// not start unless AllowInsecure says so, and then it warns.
func TestRefusesInsecureMember(t *testing.T) {
	ca := newTestCA(t)
	srvTLS, cliTLS := ca.member(t, "m")
	key := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name    string
		tune    func(*Config)
		wantErr string
	}{
		{"nothing", func(*Config) {}, "no TLS on the gRPC links and no gossip encryption key"},
		{"TLS only", func(c *Config) { c.ServerTLS, c.ClientTLS = srvTLS, cliTLS }, "no gossip encryption key"},
		{"gossip key only", func(c *Config) { c.GossipKeys = [][]byte{key} }, "no TLS on the gRPC links"},
		{"server TLS without client TLS", func(c *Config) { c.ServerTLS, c.GossipKeys = srvTLS, [][]byte{key} }, "no TLS"},
		{"both", func(c *Config) { c.ServerTLS, c.ClientTLS, c.GossipKeys = srvTLS, cliTLS, [][]byte{key} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			cfg.AllowInsecure = false
			cfg.Name = "m"
			tt.tune(&cfg)
			r, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New with TLS and a gossip key: %v", err)
				}
				_ = r.Shutdown()
				return
			}
			if err == nil {
				_ = r.Shutdown()
				t.Fatal("an insecure member started without AllowInsecure")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "AllowInsecure") {
				t.Fatalf("error %q does not name %q and the way out", err, tt.wantErr)
			}
		})
	}
	// Allowed: it starts, and says so at warn level.
	var logs logtest.Buffer
	cfg := DefaultLocalConfig()
	cfg.Name = "open"
	cfg.Logger = zerolog.New(&logs)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	if out := logs.String(); !strings.Contains(out, `"level":"warn"`) || !strings.Contains(out, "insecure relay member") {
		t.Fatalf("no startup warning for an insecure member:\n%s", out)
	}
}

// rawClient dials r's gRPC port with tlsCfg (a stranger speaking the protocol
// by hand).
func rawClient(t *testing.T, r *Relay, tlsCfg *tls.Config, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(r.GRPCAddr(), append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestNamesBoundToCertificates: mallory holds a valid certificate of the
// cluster, for the name "mallory". Scores, decisions and batches she sends in
// another member's name are refused; in her own name they are taken.
func TestNamesBoundToCertificates(t *testing.T) {
	ca := newTestCA(t)
	reg := prometheus.NewRegistry()
	cfg := DefaultLocalConfig()
	cfg.Name = "gatherer"
	cfg.ServerTLS, cfg.ClientTLS = ca.member(t, "gatherer")
	cfg.GossipKeys = [][]byte{bytes.Repeat([]byte{1}, 32)}
	cfg.Registerer = reg
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	_, mallory := ca.member(t, "mallory")
	gc := relayv1.NewGatherServiceClient(rawClient(t, r, mallory))
	sc := relayv1.NewScatterServiceClient(rawClient(t, r, mallory))
	deadline := time.Now().Add(10 * time.Second).UnixNano()
	score := func(member string) *relayv1.Score {
		return &relayv1.Score{RequestId: 1, Key: "k", Origin: "gatherer", DeadlineUnixNano: deadline, Member: member, Node: "n", Score: 100}
	}
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"score in another member's name", func(ctx context.Context) error {
			s, err := gc.Report(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&relayv1.ReportRequest{From: "mallory", Scores: []*relayv1.Score{score("sched-a")}}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"report from another member", func(ctx context.Context) error {
			s, err := gc.Report(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&relayv1.ReportRequest{From: "sched-a"}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"decision by another gatherer", func(ctx context.Context) error {
			s, err := gc.Decide(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&relayv1.DecideRequest{From: "mallory", BatchId: 1, Decisions: []*relayv1.Decision{{RequestId: 1, Key: "k", Gatherer: "sched-a", Winner: "mallory"}}}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"scatter from another parent", func(ctx context.Context) error {
			s, err := sc.Scatter(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&relayv1.ScatterRequest{From: "leader", Root: "leader", BatchId: 1}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := tt.call(ctx); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("got %v, want PermissionDenied", err)
			}
			if n := testutil.ToFloat64(r.metrics.refusedNames); n != float64(i+1) {
				t.Fatalf("relay_link_refused_names_total = %v, want %d", n, i+1)
			}
		})
	}
	// In her own name, her score is taken: the gatherer answers it (the item
	// is unknown and long past, so with "lose").
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := gc.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := score("mallory")
	old.DeadlineUnixNano = time.Now().Add(-time.Hour).UnixNano()
	if err := s.Send(&relayv1.ReportRequest{From: "mallory", Scores: []*relayv1.Score{old}}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil || len(resp.GetVerdicts()) != 1 {
		t.Fatalf("own-name report: %v, %v", resp, err)
	}
}

// TestStalledReportStreamClosed: a reporter sends scores and never reads its
// verdicts. Once MaxQueue verdicts wait for its stream, the gatherer closes the
// stream (ResourceExhausted) and counts it, instead of queueing without end.
func TestStalledReportStreamClosed(t *testing.T) {
	// A fixed 64 KiB window (no BDP growth): the stream's flow control
	// stops the gatherer's sender after a dozen verdicts.
	// No batch delay: the sender takes verdicts as soon as they come, so its
	// queue only grows while it is stuck in Send.
	r, conn := startAlone(t, func(cfg *Config) { cfg.MaxQueue, cfg.BatchDelay = 64, 0 },
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := relayv1.NewGatherServiceClient(conn).Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Scores for items long past are answered at once ("lose"), in batches
	// smaller than MaxQueue: the queue only overflows once the sender is
	// stuck in Send because the reporter reads nothing. Long keys fill the
	// window after a dozen verdicts.
	key := strings.Repeat("k", 4096)
	past := time.Now().Add(-time.Hour).UnixNano()
	for batch := 0; batch < 256 && testutil.ToFloat64(r.metrics.overflowVerdict) == 0; batch++ {
		req := &relayv1.ReportRequest{From: "stalled"}
		for i := range 8 {
			req.Scores = append(req.Scores, &relayv1.Score{RequestId: uint64(batch*8 + i + 1), Key: key, Origin: "o", DeadlineUnixNano: past, Member: "stalled"})
		}
		if s.Send(req) != nil {
			break
		}
	}
	eventually(t, 30*time.Second, func() error {
		if testutil.ToFloat64(r.metrics.overflowVerdict) == 0 {
			return errors.New("no overflow counted")
		}
		return nil
	})
	// The gatherer ends the stream although the reporter still reads
	// nothing (its status waits behind the unread verdicts on the wire).
	eventually(t, 30*time.Second, func() error {
		if n := testutil.ToFloat64(r.metrics.reportStreams); n != 0 {
			return fmt.Errorf("%v report streams still served", n)
		}
		return nil
	})
	// Now read: the buffered verdicts, then the reason the stream ended.
	for {
		_, err := s.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("stream ended with %v, want ResourceExhausted", err)
		}
		break
	}
}

// startAlone starts member "m" on its own (insecure, loopback) and a plain
// gRPC connection to it, a stranger speaking the protocol by hand.
func startAlone(t *testing.T, tune func(*Config), opts ...grpc.DialOption) (*Relay, *grpc.ClientConn) {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.Name = "m"
	tune(&cfg)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown() })
	conn, err := grpc.NewClient(r.GRPCAddr(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return r, conn
}

// TestOutboxBounded: a push past the limit drops the queue, counts the
// overflow and closes the stream draining it.
func TestOutboxBounded(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	ob := newOutbox[int](0, 4, c)
	kicked := 0
	ob.setKick(func() { kicked++ })
	if !ob.push(1, 2, 3) || !ob.push(4) {
		t.Fatal("pushes within the limit refused")
	}
	if ob.push(5) {
		t.Fatal("push past the limit accepted")
	}
	if ob.len() != 0 || kicked != 1 || testutil.ToFloat64(c) != 1 || !ob.hasOverflowed() {
		t.Fatalf("after overflow: len %d, kicked %d, counted %v", ob.len(), kicked, testutil.ToFloat64(c))
	}
	if !ob.push(6) || ob.len() != 1 {
		t.Fatal("outbox unusable after an overflow")
	}
}

// TestPeerDeadlinesCapped: a peer scatters an item due in a day. The member
// handles it with its deadline shortened to MaxDeadline, so nothing it keeps
// for the item outlives that (plus Retention).
func TestPeerDeadlinesCapped(t *testing.T) {
	got := make(chan Item, 2)
	const maxDeadline = 5 * time.Second
	r, conn := startAlone(t, func(cfg *Config) {
		cfg.MaxDeadline = maxDeadline
		cfg.Handler = HandlerFunc(func(it Item) { got <- it })
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := relayv1.NewScatterServiceClient(conn).Scatter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	far := sent.Add(24 * time.Hour).UnixNano()
	if err := s.Send(&relayv1.ScatterRequest{From: "peer", Root: "peer", BatchId: 1, Items: []*relayv1.Item{
		{RequestId: 42, Key: "far", Origin: "peer", Gatherer: "m", DeadlineUnixNano: far},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	// Submitted locally with a far deadline: capped the same way.
	if err := r.Submit(Item{Key: "local", Deadline: sent.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case it := <-got:
			if it.Deadline.After(time.Now().Add(maxDeadline)) {
				t.Fatalf("item %s handled with deadline %v, more than %v away", it.Key, it.Deadline, maxDeadline)
			}
		case <-ctx.Done():
			t.Fatal("item not handled")
		}
	}
	if n := testutil.ToFloat64(r.metrics.cappedDeadlines); n != 2 {
		t.Fatalf("relay_scatter_capped_deadlines_total = %v, want 2", n)
	}
}

// TestRequestIDsUnpredictable: ids a member draws are not a counter another
// member could extend from the ids it has seen.
func TestRequestIDsUnpredictable(t *testing.T) {
	a, err := newRequestIDs()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newRequestIDs()
	seen := map[uint64]bool{}
	prev := a.next()
	for range 10000 {
		id := a.next()
		if id == 0 || seen[id] {
			t.Fatalf("id %d zero or repeated", id)
		}
		if d := id - prev; d < 1<<20 || d > ^uint64(0)-1<<20 {
			t.Fatalf("id %d is %d from the previous one: guessable", id, int64(d))
		}
		seen[id], prev = true, id
	}
	// Two members (or one restarted) draw different sequences.
	if x, y := a.next(), b.next(); x == y {
		t.Fatal("two generators drew the same id")
	}
}
