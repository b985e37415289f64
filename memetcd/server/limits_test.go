package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/server"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestQuotaNospace fills a store with a 64 KiB quota the way etcd's NOSPACE
// runbook describes: the write that would pass the quota fails and raises the
// alarm; from then on every write that adds data fails, however small, while
// reads, deletes and compaction work; room made by deletes does not help until
// the alarm is disarmed, after which writes work again.
func TestQuotaNospace(t *testing.T) {
	_, c := start(t, memetcdtest.Options{Server: server.Config{QuotaBackendBytes: 64 << 10}})
	ctx := ctxT(t)
	val := strings.Repeat("v", 4<<10)
	var filled int
	for ; filled < 100; filled++ {
		_, err := c.Put(ctx, fmt.Sprintf("/fill/%03d", filled), val)
		if errors.Is(err, rpctypes.ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if filled == 100 || filled < 10 {
		t.Fatalf("quota hit after %d puts of 4 KiB into 64 KiB", filled)
	}
	alarms := func() []*pb.AlarmMember {
		t.Helper()
		resp, err := c.AlarmList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Alarms
	}
	if a := alarms(); len(a) != 1 || a[0].Alarm != pb.AlarmType_NOSPACE || a[0].MemberID != server.MemberID {
		t.Fatalf("alarm list %v, want NOSPACE", a)
	}
	if st, err := c.Status(ctx, c.Endpoints()[0]); err != nil || len(st.Errors) == 0 || !strings.Contains(st.Errors[0], "NOSPACE") {
		t.Fatalf("status errors %v, %v", st, err)
	}
	for name, write := range map[string]func() error{
		"small put":   func() error { _, err := c.Put(ctx, "/x", "1"); return err },
		"txn put":     func() error { _, err := c.Txn(ctx).Then(clientv3.OpPut("/y", "1")).Commit(); return err },
		"lease grant": func() error { _, err := c.Grant(ctx, 60); return err },
	} {
		if err := write(); !errors.Is(err, rpctypes.ErrNoSpace) {
			t.Fatalf("%s under NOSPACE: %v, want %v", name, err, rpctypes.ErrNoSpace)
		}
	}
	if _, err := c.Get(ctx, "/fill/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		t.Fatalf("read under NOSPACE: %v", err)
	}
	del, err := c.Delete(ctx, "/fill/", clientv3.WithPrefix())
	if err != nil || del.Deleted != int64(filled) {
		t.Fatalf("delete under NOSPACE: %v, %v", del, err)
	}
	if _, err := c.Compact(ctx, del.Header.Revision); err != nil {
		t.Fatalf("compact under NOSPACE: %v", err)
	}
	if _, err := c.Put(ctx, "/x", "1"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put with room but the alarm raised: %v", err)
	}
	if _, err := c.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: server.MemberID, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	if a := alarms(); len(a) != 0 {
		t.Fatalf("alarms after disarm: %v", a)
	}
	if _, err := c.Put(ctx, "/x", "1"); err != nil {
		t.Fatalf("put after disarm: %v", err)
	}
}

// TestMaxWatchersPerStream: a stream holding the most watchers allowed gets
// further creates refused (canceled with the reason), and still serves the
// ones it has; another stream is not affected.
func TestMaxWatchersPerStream(t *testing.T) {
	_, c := start(t, memetcdtest.Options{Server: server.Config{MaxWatchersPerStream: 3}})
	ctx := ctxT(t)
	var chans []clientv3.WatchChan
	for i := range 3 {
		chans = append(chans, c.Watch(ctx, fmt.Sprintf("/w/%d", i), clientv3.WithCreatedNotify()))
	}
	for i, ch := range chans {
		if r := <-ch; !r.Created || r.Canceled {
			t.Fatalf("watcher %d: %+v", i, r)
		}
	}
	over := c.Watch(ctx, "/w/3", clientv3.WithCreatedNotify())
	r, ok := <-over
	if !ok || !r.Canceled || !strings.Contains(r.Err().Error(), "--max-watchers-per-stream") {
		t.Fatalf("fourth watcher on the stream: %+v (open %v)", r, ok)
	}
	if _, err := c.Put(ctx, "/w/0", "x"); err != nil {
		t.Fatal(err)
	}
	if r := <-chans[0]; len(r.Events) != 1 {
		t.Fatalf("existing watcher after the refusal: %+v", r)
	}
	// Another stream (other metadata) has its own budget.
	other := c.Watch(metadata.AppendToOutgoingContext(ctx, "stream", "2"), "/w/3", clientv3.WithCreatedNotify())
	if r := <-other; !r.Created || r.Canceled {
		t.Fatalf("watcher on another stream: %+v", r)
	}
}

// TestMaxConcurrentStreams: with room for two streams on a connection, a
// third watch stream waits (HTTP/2 flow control, no error) until one of the
// two ends, and then works. Unary calls are streams too: the writes go over
// a second connection, which has its own budget.
func TestMaxConcurrentStreams(t *testing.T) {
	in, c := start(t, memetcdtest.Options{Server: server.Config{MaxConcurrentStreams: 2}})
	ctx := ctxT(t)
	writer := connect(t, in.Endpoint)
	if _, err := writer.Put(ctx, "/s", "0"); err != nil {
		t.Fatal(err)
	}
	streamCtx := func(i int) (context.Context, context.CancelFunc) {
		return context.WithCancel(metadata.AppendToOutgoingContext(ctx, "stream", fmt.Sprint(i)))
	}
	ctx1, cancel1 := streamCtx(1)
	ctx2, cancel2 := streamCtx(2)
	defer cancel2()
	w1 := c.Watch(ctx1, "/s", clientv3.WithCreatedNotify())
	w2 := c.Watch(ctx2, "/s", clientv3.WithCreatedNotify())
	<-w1
	<-w2
	ctx3, cancel3 := streamCtx(3)
	defer cancel3()
	// clientv3's Watch call itself waits for the stream: make it aside.
	w3c := make(chan clientv3.WatchChan, 1)
	go func() { w3c <- c.Watch(ctx3, "/s", clientv3.WithCreatedNotify()) }()
	// A write both open streams report is a point at which the third stream,
	// had the server let it open, would have been counted.
	if _, err := writer.Put(ctx, "/s", "1"); err != nil {
		t.Fatal(err)
	}
	<-w1
	<-w2
	if n := gauge(t, in, "etcd_debugging_mvcc_watch_stream_total"); n != 2 {
		t.Fatalf("%v watch streams open on one connection, the limit is 2", n)
	}
	select {
	case <-w3c:
		t.Fatal("third stream opened past the limit")
	default:
	}
	cancel1()
	select {
	case w3 := <-w3c:
		if r := <-w3; !r.Created {
			t.Fatalf("third stream: %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("third stream never opened after the first one closed")
	}
}

// TestMaxResponseBytes: a Range whose reply is larger than the limit fails
// with the gRPC error an etcd client sees for an oversized message, and
// reading the same keys in pages (as kube-apiserver lists) works.
func TestMaxResponseBytes(t *testing.T) {
	_, c := start(t, memetcdtest.Options{Server: server.Config{MaxResponseBytes: 256 << 10}})
	ctx := ctxT(t)
	val := strings.Repeat("v", 8<<10)
	const n = 64 // 512 KiB in all
	for i := range n {
		if _, err := c.Put(ctx, fmt.Sprintf("/big/%03d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Get(ctx, "/big/", clientv3.WithPrefix())
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("unpaginated range of 512 KiB: %v, want ResourceExhausted", err)
	}
	got, key := 0, "/big/"
	for {
		resp, err := c.Get(ctx, key, clientv3.WithRange("/big0"), clientv3.WithLimit(10))
		if err != nil {
			t.Fatalf("page after %d keys: %v", got, err)
		}
		got += len(resp.Kvs)
		if !resp.More {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	if got != n {
		t.Fatalf("pages gave %d keys, want %d", got, n)
	}
}

// gauge reads a gauge of the instance's registry.
func gauge(t *testing.T, in *memetcdtest.Instance, name string) float64 {
	t.Helper()
	mfs, err := in.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
