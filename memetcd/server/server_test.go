package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func connect(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func start(t *testing.T, opts memetcdtest.Options) (*memetcdtest.Instance, *clientv3.Client) {
	in := memetcdtest.Start(t, opts)
	return in, connect(t, in.Endpoint)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKV(t *testing.T) {
	_, c := start(t, memetcdtest.Options{})
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := c.Put(ctx, fmt.Sprintf("/registry/pods/ns/p%d", i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	get, err := c.Get(ctx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(get.Kvs) != 2 || !get.More || get.Count != 5 || get.Header.Revision != 6 {
		t.Fatalf("limited get: kvs %d more %v count %d rev %d", len(get.Kvs), get.More, get.Count, get.Header.Revision)
	}
	put, err := c.Put(ctx, "/registry/pods/ns/p0", "new", clientv3.WithPrevKV())
	if err != nil || string(put.PrevKv.Value) != "0" || put.Header.Revision != 7 {
		t.Fatalf("put prev: %+v %v", put, err)
	}
	// Kubernetes' GuaranteedUpdate shape.
	txn, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("/registry/pods/ns/p0"), "=", 7)).
		Then(clientv3.OpPut("/registry/pods/ns/p0", "newer")).
		Else(clientv3.OpGet("/registry/pods/ns/p0")).Commit()
	if err != nil || !txn.Succeeded || txn.Header.Revision != 8 {
		t.Fatalf("txn: %+v %v", txn, err)
	}
	txn, err = c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("/registry/pods/ns/p0"), "=", 7)).
		Then(clientv3.OpPut("/registry/pods/ns/p0", "lost")).
		Else(clientv3.OpGet("/registry/pods/ns/p0")).Commit()
	if err != nil || txn.Succeeded || string(txn.Responses[0].GetResponseRange().Kvs[0].Value) != "newer" {
		t.Fatalf("failed txn: %+v %v", txn, err)
	}
	del, err := c.Delete(ctx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil || del.Deleted != 5 || len(del.PrevKvs) != 5 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	old, err := c.Get(ctx, "/registry/pods/ns/p1", clientv3.WithRev(3))
	if err != nil || len(old.Kvs) != 1 {
		t.Fatalf("read at old rev: %+v %v", old, err)
	}
	if _, err := c.Compact(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "/registry/pods/ns/p1", clientv3.WithRev(3)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read below compaction: %v", err)
	}
	if _, err := c.Get(ctx, "x", clientv3.WithRev(1000)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("read future revision: %v", err)
	}
}

func TestErrors(t *testing.T) {
	_, c := start(t, memetcdtest.Options{})
	ctx := ctxT(t)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"oversize put", func() error { _, err := c.Put(ctx, "k", strings.Repeat("x", 1600*1024)); return err }, rpctypes.ErrRequestTooLarge},
		{"unknown lease on put", func() error { _, err := c.Put(ctx, "k", "v", clientv3.WithLease(12345)); return err }, rpctypes.ErrLeaseNotFound},
		{"revoke unknown lease", func() error { _, err := c.Revoke(ctx, 12345); return err }, rpctypes.ErrLeaseNotFound},
		{"ignore value on missing key", func() error { _, err := c.Put(ctx, "missing", "", clientv3.WithIgnoreValue()); return err }, rpctypes.ErrKeyNotFound},
		{"value with ignore value", func() error { _, err := c.Put(ctx, "missing", "v", clientv3.WithIgnoreValue()); return err }, rpctypes.ErrValueProvided},
		{"duplicate key in txn", func() error {
			_, err := c.Txn(ctx).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("a", "2")).Commit()
			return err
		}, rpctypes.ErrDuplicateKey},
		{"compact future", func() error { _, err := c.Compact(ctx, 1000); return err }, rpctypes.ErrFutureRev},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Outside the subset: a clear Unimplemented.
	if _, err := c.MemberAdd(ctx, []string{"http://127.0.0.1:1"}); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "outside the etcd API subset") {
		t.Fatalf("member add: %v", err)
	}
	if _, err := c.Defragment(ctx, c.Endpoints()[0]); status.Code(err) != codes.Unimplemented {
		t.Fatalf("defragment: %v", err)
	}
}

func TestRangeStream(t *testing.T) {
	_, c := start(t, memetcdtest.Options{})
	ctx := ctxT(t)
	const n = 300
	val := strings.Repeat("v", 10000) // 3 MB in all: several chunks
	for i := range n {
		if _, err := c.Put(ctx, fmt.Sprintf("/registry/nodes/n%04d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	rev := int64(n + 1)
	for _, tc := range []struct {
		name      string
		opts      []clientv3.OpOption
		wantKeys  int
		wantCount int64
		wantMore  bool
	}{
		{"limit", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(123)}, 123, n, true},
		{"count only", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}, 0, n, false},
		{"single", nil, 0, 0, false},
		// The last two write during the stream: a key that must not show up.
		{"all", []clientv3.OpOption{clientv3.WithPrefix()}, n, n, false},
		{"all at a negative revision", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(-1)}, n + 1, n + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := c.GetStream(ctx, "/registry/nodes/", tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			chunks := 0
			resp := &pb.RangeResponse{}
			for r := range ch {
				if err := r.Err(); err != nil {
					t.Fatal(err)
				}
				chunks++
				resp.Kvs = append(resp.Kvs, r.Kvs...)
				if r.Header != nil {
					resp.Header, resp.More, resp.Count = r.Header, r.More, r.Count
				}
				// Writes during the stream must not show up in it.
				if chunks == 1 && strings.HasPrefix(tc.name, "all") {
					c.Put(ctx, "/registry/nodes/n0299"+tc.name, "late")
				}
			}
			if len(resp.Kvs) != tc.wantKeys || resp.Count != tc.wantCount || resp.More != tc.wantMore || resp.Header.Revision != rev {
				t.Fatalf("kvs %d count %d more %v rev %d (chunks %d)", len(resp.Kvs), resp.Count, resp.More, resp.Header.Revision, chunks)
			}
			if strings.HasPrefix(tc.name, "all") {
				rev++
				if chunks < 3 {
					t.Fatalf("%d chunks for 3 MB", chunks)
				}
			}
			for i := 1; i < len(resp.Kvs); i++ {
				if string(resp.Kvs[i-1].Key) >= string(resp.Kvs[i].Key) {
					t.Fatalf("keys out of order at %d", i)
				}
			}
		})
	}
}

// TestWatch covers history replay, prev_kv, filters, progress requests and
// cancellation of a watcher below the compaction point.
func TestWatch(t *testing.T) {
	_, c := start(t, memetcdtest.Options{})
	ctx := ctxT(t)
	for i := range 3 {
		c.Put(ctx, fmt.Sprintf("/w/%d", i), "a") // revs 2,3,4
	}
	c.Put(ctx, "/other", "x") // 5
	c.Delete(ctx, "/w/0")     // 6
	c.Put(ctx, "/w/1", "b")   // 7

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wc := c.Watch(wctx, "/w/", clientv3.WithPrefix(), clientv3.WithRev(3), clientv3.WithPrevKV())
	var got []string
	for len(got) < 4 {
		resp := <-wc
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			s := fmt.Sprintf("%s %s@%d", ev.Type, ev.Kv.Key, ev.Kv.ModRevision)
			if ev.PrevKv != nil {
				s += " prev=" + string(ev.PrevKv.Value)
			}
			got = append(got, s)
		}
	}
	want := []string{"PUT /w/1@3", "PUT /w/2@4", "DELETE /w/0@6 prev=a", "PUT /w/1@7 prev=a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed events %q, want %q", got, want)
	}
	// Live events, with a no-delete filter on a second watch of the same stream.
	wc2 := c.Watch(wctx, "/w/", clientv3.WithPrefix(), clientv3.WithFilterDelete())
	c.Delete(ctx, "/w/1")   // 8
	c.Put(ctx, "/w/3", "c") // 9
	if ev := (<-wc).Events[0]; ev.Type != mvccpb.DELETE || ev.Kv.ModRevision != 8 {
		t.Fatalf("live delete: %v", ev)
	}
	if ev := (<-wc2).Events[0]; ev.Type != mvccpb.PUT || ev.Kv.ModRevision != 9 {
		t.Fatalf("filtered watch got %v, want the put at 9", ev)
	}

	// RequestProgress: a progress notification at the current revision.
	if err := c.RequestProgress(wctx); err != nil {
		t.Fatal(err)
	}
	for resp := range wc {
		if resp.IsProgressNotify() {
			if resp.Header.Revision != 9 {
				t.Fatalf("progress at %d, want 9", resp.Header.Revision)
			}
			break
		}
	}

	// A watch from below the compaction point is cancelled with the
	// compaction revision, never silently started later.
	if _, err := c.Compact(ctx, 8); err != nil {
		t.Fatal(err)
	}
	resp := <-c.Watch(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithRev(3))
	if resp.CompactRevision != 8 || !errors.Is(resp.Err(), rpctypes.ErrCompacted) {
		t.Fatalf("compacted watch: %+v err %v", resp, resp.Err())
	}
}

// TestWatchManyEventsInOrder: a watcher far behind gets every event once, in
// order, across many batches.
func TestWatchManyEventsInOrder(t *testing.T) {
	in, c := start(t, memetcdtest.Options{})
	ctx := ctxT(t)
	const n = 2500
	for i := range n {
		if _, _, err := in.Store.Put(&store.PutRequest{Key: fmt.Appendf(nil, "/m/%d", i%10), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	wc := c.Watch(ctx, "/m/", clientv3.WithPrefix(), clientv3.WithRev(2))
	next := int64(2)
	for next < n+2 {
		resp := <-wc
		if resp.Err() != nil {
			t.Fatal(resp.Err())
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision != next {
				t.Fatalf("event at %d, want %d", ev.Kv.ModRevision, next)
			}
			next++
		}
	}
}

// TestLeaseExpiryDeletesKeys: keys attached to a lease that expires are
// deleted in one revision and watchers see the deletes.
func TestLeaseExpiryDeletesKeys(t *testing.T) {
	_, c := start(t, memetcdtest.Options{Store: store.Config{LeaseCheckInterval: 50 * time.Millisecond}})
	ctx := ctxT(t)
	l, err := c.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := c.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(ctx, "/registry/events/ns/e1", "1", clientv3.WithLease(l.ID))
	c.Put(ctx, "/registry/events/ns/e2", "2", clientv3.WithLease(l.ID))
	put, _ := c.Put(ctx, "/registry/events/ns/e3", "3", clientv3.WithLease(keep.ID))
	wc := c.Watch(ctx, "/registry/events/", clientv3.WithPrefix(), clientv3.WithRev(put.Header.Revision+1))
	var dels []*clientv3.Event
	for len(dels) < 2 {
		resp := <-wc
		if resp.Err() != nil {
			t.Fatal(resp.Err())
		}
		dels = append(dels, resp.Events...)
	}
	for _, ev := range dels {
		if ev.Type != mvccpb.DELETE || ev.Kv.ModRevision != put.Header.Revision+1 {
			t.Fatalf("expiry event %v, want deletes at revision %d", ev, put.Header.Revision+1)
		}
	}
	ttl, err := c.TimeToLive(ctx, l.ID)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("expired lease ttl: %+v %v", ttl, err)
	}
	get, _ := c.Get(ctx, "/registry/events/", clientv3.WithPrefix())
	if len(get.Kvs) != 1 || string(get.Kvs[0].Key) != "/registry/events/ns/e3" {
		t.Fatalf("left after expiry: %v", get.Kvs)
	}
	ka, err := c.KeepAliveOnce(ctx, keep.ID)
	if err != nil || ka.TTL != 60 {
		t.Fatalf("keepalive: %+v %v", ka, err)
	}
	ls, err := c.Leases(ctx)
	if err != nil || len(ls.Leases) != 1 || ls.Leases[0].ID != keep.ID {
		t.Fatalf("leases: %+v %v", ls, err)
	}
}

func TestStatusAndMembers(t *testing.T) {
	in, c := start(t, memetcdtest.Options{})
	ctx := ctxT(t)
	c.Put(ctx, "k", "v")
	st, err := c.Status(ctx, in.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "3.7.3" || st.Leader != st.Header.MemberId || st.RaftIndex != 2 || st.DbSize == 0 {
		t.Fatalf("status: %+v", st)
	}
	ml, err := c.MemberList(ctx)
	if err != nil || len(ml.Members) != 1 || ml.Members[0].ClientURLs[0] != "http://"+in.Endpoint {
		t.Fatalf("members: %+v %v", ml, err)
	}
}

// TestJournalFailure: a write whose journal wait fails is not acknowledged,
// and later writes are refused with a clear error.
func TestJournalFailure(t *testing.T) {
	_, c := start(t, memetcdtest.Options{Store: store.Config{Journal: failingJournal{}}})
	ctx := ctxT(t)
	_, err := c.Put(ctx, "k", "v")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not made durable") {
		t.Fatalf("put on failing journal: %v", err)
	}
	_, err = c.Put(ctx, "k2", "v")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("put after journal failure: %v", err)
	}
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatalf("read after journal failure: %v", err)
	}
}

type failingJournal struct{}

func (failingJournal) Append(*store.Change) store.Waiter { return failingWaiter{} }

type failingWaiter struct{}

func (failingWaiter) Wait(context.Context) error { return errors.New("injected fsync failure") }
