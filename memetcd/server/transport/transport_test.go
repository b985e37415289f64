package transport_test

// The transport is tested with the clients that use it in production:
// etcd's clientv3 (grpc-go underneath) against memetcd's services on a
// loopback port. memetcd's whole server suite also runs on it with
// MEMETCD_TRANSPORT=lean (see memetcdtest).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/server"
	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func connect(t *testing.T, endpoint string, tc *tls.Config) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startLean(t *testing.T) (*memetcdtest.Instance, *clientv3.Client) {
	in := memetcdtest.Start(t, memetcdtest.Options{Transport: "lean"})
	return in, connect(t, in.Endpoint, nil)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A reply many times the client's flow-control windows arrives whole: the
// server holds what the windows do not allow and sends it as the client
// grants more.
func TestReplyLargerThanWindows(t *testing.T) {
	_, c := startLean(t)
	ctx := ctxT(t)
	value := strings.Repeat("v", 200<<10)
	const keys = 100 // 20 MiB: past grpc-go's 64 KiB stream and 16 MiB connection windows
	// A watch on the same connection gets every put's event, each larger
	// than the stream window: the writer's inline delivery finds the
	// stream backlogged and leaves the rest to the send loop.
	wch := c.Watch(ctx, "/big/", clientv3.WithPrefix())
	for i := range keys {
		if _, err := c.Put(ctx, fmt.Sprintf("/big/%03d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	for seen := 0; seen < keys; {
		resp := <-wch
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			if want := fmt.Sprintf("/big/%03d", seen); string(ev.Kv.Key) != want || string(ev.Kv.Value) != value {
				t.Fatalf("event %d: key %s (want %s), value of %d bytes", seen, ev.Kv.Key, want, len(ev.Kv.Value))
			}
			seen++
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 { // three at once share the connection window
		wg.Add(1)
		go func() {
			defer wg.Done()
			get, err := c.Get(ctx, "/big/", clientv3.WithPrefix())
			if err != nil {
				errs <- err
				return
			}
			if len(get.Kvs) != keys {
				errs <- fmt.Errorf("got %d keys, want %d", len(get.Kvs), keys)
				return
			}
			for _, kv := range get.Kvs {
				if string(kv.Value) != value {
					errs <- fmt.Errorf("%s: value of %d bytes differs", kv.Key, len(kv.Value))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Many calls at once on one connection, and a watch on the same
// connection sees every write once, in order.
func TestConcurrentCallsAndWatch(t *testing.T) {
	_, c := startLean(t)
	ctx := ctxT(t)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wch := c.Watch(wctx, "/w/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	const writers, each = 32, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Put(ctx, fmt.Sprintf("/w/%02d", w), fmt.Sprint(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := map[string]int{}
	var rev int64
	for seen := 0; seen < writers*each; {
		resp, ok := <-wch
		if !ok {
			t.Fatalf("watch closed after %d events: %v", seen, ctx.Err())
		}
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			seen++
			if ev.Kv.ModRevision <= rev {
				t.Fatalf("event at revision %d after %d", ev.Kv.ModRevision, rev)
			}
			rev = ev.Kv.ModRevision
			var v int
			fmt.Sscan(string(ev.Kv.Value), &v)
			if want := last[string(ev.Kv.Key)]; v != want {
				t.Fatalf("%s: value %d, want %d", ev.Kv.Key, v, want)
			}
			if v > 0 && (ev.PrevKv == nil || string(ev.PrevKv.Value) != fmt.Sprint(v-1)) {
				t.Fatalf("%s=%d: prev %v", ev.Kv.Key, v, ev.PrevKv)
			}
			last[string(ev.Kv.Key)] = v + 1
		}
	}
}

// A deadline from the client (grpc-timeout) reaches the handler, and a
// cancelled watch ends on the server: the stream's slot is free again.
func TestDeadlineAndCancel(t *testing.T) {
	in := memetcdtest.Start(t, memetcdtest.Options{Transport: "lean", Server: server.Config{MaxConcurrentStreams: 4}})
	c := connect(t, in.Endpoint, nil)
	ctx := ctxT(t)
	// A watch at a future revision waits; its stream ends when the client
	// cancels. Ten in turn pass a limit of 4 streams only if each ended.
	for i := range 10 {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := c.Watch(wctx, fmt.Sprintf("/d/%d", i))
		if _, err := c.Put(ctx, fmt.Sprintf("/d/%d", i), "x"); err != nil {
			t.Fatal(err)
		}
		if resp := <-wch; len(resp.Events) != 1 {
			t.Fatalf("watch %d: %+v", i, resp)
		}
		cancel()
		for range wch {
		}
	}
	tctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	_, err := c.Get(tctx, "/d/0")
	if status.Code(err) != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get past its deadline: %v", err)
	}
	if _, err := c.Get(ctx, "/d/0"); err != nil {
		t.Fatalf("get after: %v", err)
	}
}

// Over TLS with ALPN, as kube-apiserver connects in production.
func TestTLS(t *testing.T) {
	ca, err := pki.NewCA("transport-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(pki.CertSpec{CommonName: "memetcd", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.Server})
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Config{Log: zerolog.Nop()})
	srv := server.New(st, server.Config{}, prometheus.NewRegistry())
	tr := srv.LeanServer(&tls.Config{Certificates: []tls.Certificate{serverCert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tr.Serve(lis)
	t.Cleanup(func() { srv.BeginShutdown(); tr.GracefulStop(); st.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	c := connect(t, lis.Addr().String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	ctx := ctxT(t)
	if _, err := c.Put(ctx, "/tls", "yes"); err != nil {
		t.Fatal(err)
	}
	get, err := c.Get(ctx, "/tls")
	if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "yes" {
		t.Fatalf("get over tls: %v %v", get, err)
	}
}

// Graceful stop: BeginShutdown ends the streams, GracefulStop waits for
// the calls in flight and returns, and Serve returns; a connection still in
// its handshake is closed.
func TestGracefulStop(t *testing.T) {
	st := store.New(store.Config{Log: zerolog.Nop()})
	defer st.Close()
	srv := server.New(st, server.Config{}, prometheus.NewRegistry())
	tr := srv.LeanServer(nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- tr.Serve(lis) }()
	c := connect(t, lis.Addr().String(), nil)
	ctx := ctxT(t)
	wch := c.Watch(ctx, "/g", clientv3.WithPrefix())
	if _, err := c.Put(ctx, "/g", "1"); err != nil {
		t.Fatal(err)
	}
	<-wch
	// A client that connected and said nothing yet must not hold the stop.
	silent, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	srv.BeginShutdown()
	stopped := make(chan struct{})
	go func() { tr.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop did not return")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after GracefulStop: %v", err)
	}
}

// Garbage on the port closes that connection alone; the server goes on.
func TestBadClientsLoseNothing(t *testing.T) {
	in, c := startLean(t)
	ctx := ctxT(t)
	if _, err := c.Put(ctx, "/keep", "1"); err != nil {
		t.Fatal(err)
	}
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append([]byte(http2.ClientPreface), 0, 0, 4, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0), // a frame of an unknown type (ignored), then the end inside the next
		append([]byte(http2.ClientPreface), 0, 0, 0, 0, 0, 0, 0, 0, 3),                         // SETTINGS on a stream
	} {
		nc, err := net.Dial("tcp", in.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(junk)
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil { // the server closes it
			t.Fatalf("junk %q: %v", junk, err)
		}
		nc.Close()
	}
	get, err := c.Get(ctx, "/keep")
	if err != nil || len(get.Kvs) != 1 {
		t.Fatalf("after bad clients: %v %v", get, err)
	}
}

// An unknown method fails with Unimplemented; a health check answers.
func TestUnknownMethodAndHealth(t *testing.T) {
	in, _ := startLean(t)
	cc, err := grpc.NewClient(in.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := ctxT(t)
	err = cc.Invoke(ctx, "/etcdserverpb.KV/NoSuchMethod", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("unknown method: %v", err)
	}
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
}

// A compressed request is refused with Unimplemented, not misread: a raw
// HTTP/2 client sends one.
func TestCompressedRequestRefused(t *testing.T) {
	in, _ := startLean(t)
	nc, err := net.Dial("tcp", in.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	bw := bufio.NewWriter(nc)
	bw.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(bw, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/etcdserverpb.KV/Range"}, {":authority", "x"},
		{"content-type", "application/grpc"}, {"grpc-encoding", "gzip"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, []byte{1, 0, 0, 0, 0})
	bw.Flush()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == 1 {
			for _, hf := range h.Fields {
				if hf.Name == "grpc-status" {
					if hf.Value != fmt.Sprint(int(codes.Unimplemented)) {
						t.Fatalf("grpc-status %s, want Unimplemented", hf.Value)
					}
					return
				}
			}
		}
	}
}
