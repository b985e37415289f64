package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func newTestStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s := New(cfg)
	t.Cleanup(s.Close)
	return s
}

func mustPut(t *testing.T, s *Store, key, val string, lease int64) *PutResult {
	t.Helper()
	res, w, err := s.Put(&PutRequest{Key: []byte(key), Value: []byte(val), Lease: lease, PrevKV: true})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if err := w.Wait(context.Background()); err != nil {
		t.Fatalf("wait put %s: %v", key, err)
	}
	return res
}

func keysOf(kvs []KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

// TestRangeAcrossShards checks that ordered scans merge shard and misc keys
// exactly as one sorted keyspace would.
func TestRangeAcrossShards(t *testing.T) {
	s := newTestStore(t, Config{})
	keys := []string{"/a", "/registry/a-b/x", "/registry/a.b/c", "/registry/a.b/c/1", "/registry/a.b/c/2",
		"/registry/a/1", "/registry/a/2", "/registry/ab", "/registry/b/1", "/registry/pods", "/registry/pods/ns/p", "/z", "a", "zz"}
	for _, k := range slices.Backward(keys) {
		mustPut(t, s, k, "v", 0)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	for _, tc := range []struct{ start, end string }{
		{"\x00", "\x00"}, {"/registry/", "/registry0"}, {"/registry/a", "/registry/b"},
		{"/registry/a/", "/registry/a0"}, {"/registry/a.b/c/", "/registry/a.b/c0"}, {"/", "\x00"},
		{"/registry/a/2", "/registry/pods/ns/q"}, {"b", "\x00"},
	} {
		res, err := s.Range(&RangeRequest{Key: []byte(tc.start), End: []byte(tc.end)})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, k := range sorted {
			if (tc.start == "\x00" || k >= tc.start) && (tc.end == "\x00" || k < tc.end) {
				want = append(want, k)
			}
		}
		if got := keysOf(res.KVs); !slices.Equal(got, want) || res.Count != int64(len(want)) {
			t.Errorf("range [%q,%q) = %q (count %d), want %q", tc.start, tc.end, got, res.Count, want)
		}
	}
}

func TestPutRangeDeleteRevisions(t *testing.T) {
	s := newTestStore(t, Config{})
	if r := mustPut(t, s, "/k/a", "1", 0); r.Rev != 2 || r.PrevKV != nil {
		t.Fatalf("first put: rev %d prev %v", r.Rev, r.PrevKV)
	}
	r := mustPut(t, s, "/k/a", "2", 0)
	if r.Rev != 3 || r.PrevKV == nil || string(r.PrevKV.Value) != "1" {
		t.Fatalf("second put: %+v", r)
	}
	mustPut(t, s, "/k/b", "3", 0)
	mustPut(t, s, "/k/c", "4", 0)

	tests := []struct {
		name      string
		req       RangeRequest
		wantKeys  []string
		wantCount int64
		wantMore  bool
		wantErr   error
	}{
		{"single", RangeRequest{Key: []byte("/k/a")}, []string{"/k/a"}, 1, false, nil},
		{"missing", RangeRequest{Key: []byte("/k/zz")}, nil, 0, false, nil},
		{"prefix", RangeRequest{Key: []byte("/k/"), End: []byte("/k0")}, []string{"/k/a", "/k/b", "/k/c"}, 3, false, nil},
		{"limit", RangeRequest{Key: []byte("/k/"), End: []byte("/k0"), Limit: 2}, []string{"/k/a", "/k/b"}, 3, true, nil},
		{"count only", RangeRequest{Key: []byte("/k/"), End: []byte("/k0"), CountOnly: true}, nil, 3, false, nil},
		{"descend", RangeRequest{Key: []byte("/k/"), End: []byte("/k0"), SortOrder: SortDescend, Limit: 1}, []string{"/k/c"}, 3, true, nil},
		{"at old rev", RangeRequest{Key: []byte("/k/"), End: []byte("/k0"), Rev: 3}, []string{"/k/a"}, 1, false, nil},
		{"future rev", RangeRequest{Key: []byte("/k/a"), Rev: 99}, nil, 0, false, ErrFutureRev},
		{"mod filter", RangeRequest{Key: []byte("/k/"), End: []byte("/k0"), MinModRev: 4}, []string{"/k/b", "/k/c"}, 2, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Range(&tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := keysOf(res.KVs); !slices.Equal(got, tc.wantKeys) && !(len(got) == 0 && len(tc.wantKeys) == 0) {
				t.Errorf("keys %q, want %q", got, tc.wantKeys)
			}
			if res.Count != tc.wantCount || res.More != tc.wantMore || res.Rev != 5 {
				t.Errorf("count %d more %v rev %d, want %d %v 5", res.Count, res.More, res.Rev, tc.wantCount, tc.wantMore)
			}
		})
	}

	res, err := s.Range(&RangeRequest{Key: []byte("/k/a")})
	if err != nil || res.KVs[0].CreateRevision != 2 || res.KVs[0].ModRevision != 3 || res.KVs[0].Version != 2 {
		t.Fatalf("/k/a metadata: %+v %v", res, err)
	}
	del, w, err := s.DeleteRange(&DeleteRequest{Key: []byte("/k/"), End: []byte("/k0"), PrevKV: true})
	if err != nil || w.Wait(context.Background()) != nil {
		t.Fatal(err)
	}
	if del.Deleted != 3 || del.Rev != 6 || len(del.PrevKVs) != 3 {
		t.Fatalf("delete: %+v", del)
	}
	// Deleting nothing keeps the revision.
	del, _, _ = s.DeleteRange(&DeleteRequest{Key: []byte("/k/a")})
	if del.Deleted != 0 || del.Rev != 6 {
		t.Fatalf("empty delete: %+v", del)
	}
	// Re-created keys start a new life.
	if r := mustPut(t, s, "/k/a", "again", 0); r.Rev != 7 {
		t.Fatalf("recreate rev %d", r.Rev)
	}
	res, _ = s.Range(&RangeRequest{Key: []byte("/k/a")})
	if kv := res.KVs[0]; kv.CreateRevision != 7 || kv.Version != 1 {
		t.Fatalf("recreated: %+v", kv)
	}
}

func TestTxnGuaranteedUpdate(t *testing.T) {
	s := newTestStore(t, Config{})
	mustPut(t, s, "/k", "v1", 0) // rev 2
	update := func(mod int64, val string) *TxnResult {
		t.Helper()
		res, w, err := s.Txn(&TxnRequest{
			Compare: []Compare{{Key: []byte("/k"), Target: CompareMod, Result: CompareEqual, Int: mod}},
			Success: []TxnOp{{Put: &PutRequest{Key: []byte("/k"), Value: []byte(val)}}, {Range: &RangeRequest{Key: []byte("/k")}}},
			Failure: []TxnOp{{Range: &RangeRequest{Key: []byte("/k")}}},
		})
		if err != nil || w.Wait(context.Background()) != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := update(2, "v2"); !r.Succeeded || r.Rev != 3 || string(r.Results[1].Range.KVs[0].Value) != "v2" {
		t.Fatalf("update at right revision: %+v", r)
	}
	if r := update(2, "v3"); r.Succeeded || r.Rev != 3 || r.Results[0].Range.KVs[0].ModRevision != 3 {
		t.Fatalf("update at stale revision: %+v", r)
	}
	// create-if-absent: version == 0 on a missing key holds.
	res, _, err := s.Txn(&TxnRequest{
		Compare: []Compare{{Key: []byte("/new"), Target: CompareVersion, Result: CompareEqual, Int: 0}},
		Success: []TxnOp{{Put: &PutRequest{Key: []byte("/new"), Value: []byte("x")}}},
	})
	if err != nil || !res.Succeeded || res.Rev != 4 {
		t.Fatalf("create if absent: %+v %v", res, err)
	}
	// A value compare on a missing key fails.
	res, _, _ = s.Txn(&TxnRequest{Compare: []Compare{{Key: []byte("/none"), Target: CompareValue, Result: CompareNotEqual, Value: []byte("a")}}})
	if res.Succeeded {
		t.Fatal("value compare on missing key succeeded")
	}
	// Unknown lease: nothing is applied.
	_, _, err = s.Txn(&TxnRequest{Success: []TxnOp{
		{Put: &PutRequest{Key: []byte("/a"), Value: []byte("x")}},
		{Put: &PutRequest{Key: []byte("/b"), Value: []byte("x"), Lease: 42}},
	}})
	if !errors.Is(err, ErrLeaseNotFound) || s.Rev() != 4 {
		t.Fatalf("txn with unknown lease: err %v rev %d", err, s.Rev())
	}
}

// TestTxnBadReadAppliesNothing: a branch that writes and then reads at a
// revision that is in the future or compacted fails as a whole, nested or
// not: no key is written and the revision (so no event) does not move.
func TestTxnBadReadAppliesNothing(t *testing.T) {
	s := newTestStore(t, Config{})
	for i := 0; i < 4; i++ {
		mustPut(t, s, "/k", fmt.Sprint(i), 0)
	}
	if _, err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	put := TxnOp{Put: &PutRequest{Key: []byte("/new"), Value: []byte("x")}}
	for _, tc := range []struct {
		name string
		rev  int64
		want error
	}{{"future", 99, ErrFutureRev}, {"compacted", 2, ErrCompacted}} {
		read := TxnOp{Range: &RangeRequest{Key: []byte("/k"), Rev: tc.rev}}
		for _, req := range []*TxnRequest{
			{Success: []TxnOp{put, read}},
			{Success: []TxnOp{put, {Txn: &TxnRequest{Success: []TxnOp{read}}}}},
			// The nested branch that would not run is checked too.
			{Success: []TxnOp{put, {Txn: &TxnRequest{Failure: []TxnOp{read}}}}},
		} {
			before := s.Rev()
			if _, _, err := s.Txn(req); !errors.Is(err, tc.want) {
				t.Fatalf("%s: err %v, want %v", tc.name, err, tc.want)
			}
			if s.Rev() != before {
				t.Fatalf("%s: revision moved %d -> %d", tc.name, before, s.Rev())
			}
			if res, _ := s.Range(&RangeRequest{Key: []byte("/new")}); res.Count != 0 {
				t.Fatalf("%s: /new was written: %+v", tc.name, res.KVs)
			}
		}
	}
}

func TestPutIgnoreFlags(t *testing.T) {
	s := newTestStore(t, Config{})
	if _, _, err := s.Put(&PutRequest{Key: []byte("/x"), IgnoreValue: true}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("ignore_value on missing key: %v", err)
	}
	mustPut(t, s, "/x", "keep", 0)
	if _, _, err := s.Put(&PutRequest{Key: []byte("/x"), IgnoreValue: true}); err != nil {
		t.Fatal(err)
	}
	res, _ := s.Range(&RangeRequest{Key: []byte("/x")})
	if string(res.KVs[0].Value) != "keep" || res.KVs[0].Version != 2 {
		t.Fatalf("after ignore_value: %+v", res.KVs[0])
	}
}

func TestCompaction(t *testing.T) {
	s := newTestStore(t, Config{})
	mustPut(t, s, "/a", "1", 0)                      // 2
	mustPut(t, s, "/a", "2", 0)                      // 3
	mustPut(t, s, "/b", "1", 0)                      // 4
	s.DeleteRange(&DeleteRequest{Key: []byte("/b")}) // 5
	mustPut(t, s, "/a", "3", 0)                      // 6
	if _, err := s.Compact(99); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
	if _, err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(5); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact twice: %v", err)
	}
	if _, err := s.Range(&RangeRequest{Key: []byte("/a"), Rev: 4}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below compaction: %v", err)
	}
	res, err := s.Range(&RangeRequest{Key: []byte("/"), End: []byte("0"), Rev: 5})
	if err != nil || !slices.Equal(keysOf(res.KVs), []string{"/a"}) || string(res.KVs[0].Value) != "2" {
		t.Fatalf("read at compaction revision: %+v %v", res, err)
	}
	if e := s.keys.get([]byte("/b")); e != nil {
		t.Fatalf("deleted key kept after compaction: %+v", e)
	}
	if _, err := s.ReadEvents(4, 0); !errors.Is(err, ErrCompacted) {
		t.Fatalf("events below compaction: %v", err)
	}
	b, err := s.ReadEvents(5, 0)
	if err != nil || len(b.Events) != 2 || b.Events[0].Type != EventDelete {
		t.Fatalf("events from compaction revision: %+v %v", b, err)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestLeaseExpiry: keys of an expired lease go in one revision with delete
// events; a kept-alive lease survives.
func TestLeaseExpiry(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	s := newTestStore(t, Config{Now: clk.Now, LeaseCheckInterval: time.Hour})
	short, _, err := s.Grant(0, 5)
	if err != nil || short.ID <= 0 {
		t.Fatalf("grant: %+v %v", short, err)
	}
	long, _, _ := s.Grant(77, 60)
	if short, _, _ := s.Grant(0, 1); short.TTL != 2 {
		t.Fatalf("TTL 1 granted as %d, want etcd's minimum 2", short.TTL)
	} else {
		s.Revoke(short.ID)
	}
	if _, _, err := s.Grant(77, 60); !errors.Is(err, ErrLeaseExists) {
		t.Fatalf("grant duplicate: %v", err)
	}
	mustPut(t, s, "/ev/1", "a", short.ID)
	mustPut(t, s, "/ev/2", "b", short.ID)
	mustPut(t, s, "/keep", "c", long.ID)
	rev := s.Rev()
	clk.Add(4 * time.Second)
	if n := s.ExpireLeases(); n != 0 {
		t.Fatalf("expired %d leases early", n)
	}
	if _, err := s.KeepAlive(short.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(4 * time.Second)
	if n := s.ExpireLeases(); n != 0 {
		t.Fatal("kept-alive lease expired")
	}
	info, _ := s.TimeToLive(short.ID, true)
	if info.RemainingTTL != 1 || len(info.Keys) != 2 {
		t.Fatalf("time to live: %+v", info)
	}
	clk.Add(2 * time.Second)
	if n := s.ExpireLeases(); n != 1 {
		t.Fatalf("expired %d leases, want 1", n)
	}
	if s.Rev() != rev+1 {
		t.Fatalf("expiry took revisions %d..%d, want one", rev, s.Rev())
	}
	b, _ := s.ReadEvents(rev+1, 0)
	if len(b.Events) != 2 || b.Events[0].Type != EventDelete || b.Events[1].Type != EventDelete || b.Events[0].PrevKV == nil {
		t.Fatalf("expiry events: %+v", b.Events)
	}
	res, _ := s.Range(&RangeRequest{Key: []byte("/"), End: []byte("0")})
	if !slices.Equal(keysOf(res.KVs), []string{"/keep"}) {
		t.Fatalf("left after expiry: %q", keysOf(res.KVs))
	}
	if _, err := s.KeepAlive(short.ID); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("keepalive expired lease: %v", err)
	}
}

// recordingJournal keeps every change and fails waits once failAfter changes
// have been appended.
type recordingJournal struct {
	mu        sync.Mutex
	changes   []Change
	failAfter int
}

type errWaiter struct{ err error }

func (w errWaiter) Wait(context.Context) error { return w.err }

func (j *recordingJournal) Append(c *Change) Waiter {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.changes = append(j.changes, *c)
	if j.failAfter > 0 && len(j.changes) > j.failAfter {
		return errWaiter{errors.New("disk on fire")}
	}
	return errWaiter{}
}

// TestJournalReplay: replaying the journal into a new store, or restoring a
// snapshot and replaying the rest, rebuilds the same state.
func TestJournalReplay(t *testing.T) {
	j := &recordingJournal{}
	s := newTestStore(t, Config{Journal: j})
	l, _, _ := s.Grant(5, 100)
	for i := range 10 {
		mustPut(t, s, fmt.Sprintf("/k/%d", i), fmt.Sprint(i), 0)
	}
	mustPut(t, s, "/k/leased", "x", l.ID)
	s.Txn(&TxnRequest{Success: []TxnOp{{Delete: &DeleteRequest{Key: []byte("/k/1")}}, {Put: &PutRequest{Key: []byte("/k/2"), Value: []byte("two")}}}})
	s.Compact(5)
	l2, _, _ := s.Grant(6, 100)
	mustPut(t, s, "/k/l2", "y", l2.ID)
	s.Revoke(l2.ID)

	dump := func(s *Store) string {
		res, err := s.Range(&RangeRequest{Key: []byte("\x00"), End: []byte("\x00")})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("rev=%d compact=%d leases=%v kvs=%+v", s.Rev(), s.CompactRev(), s.Leases(), res.KVs)
	}
	want := dump(s)

	replayed := newTestStore(t, Config{})
	for i := range j.changes {
		if err := replayed.Apply(&j.changes[i]); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	if got := dump(replayed); got != want {
		t.Fatalf("replayed state\n%s\nwant\n%s", got, want)
	}

	var snap []KeyValue
	rev, leases, compactRev, err := s.Snapshot(func(kv KeyValue) error { snap = append(snap, kv); return nil })
	if err != nil {
		t.Fatal(err)
	}
	restored := newTestStore(t, Config{})
	if err := restored.Restore(rev, compactRev, leases, slices.Values(snap)); err != nil {
		t.Fatal(err)
	}
	got := dump(restored)
	if want := fmt.Sprintf("rev=%d compact=%d", rev, rev); got[:len(want)] != want {
		t.Fatalf("restored header %q", got)
	}
	r1, _ := restored.Range(&RangeRequest{Key: []byte("\x00"), End: []byte("\x00")})
	r2, _ := s.Range(&RangeRequest{Key: []byte("\x00"), End: []byte("\x00")})
	if fmt.Sprint(r1.KVs) != fmt.Sprint(r2.KVs) {
		t.Fatalf("restored keys %v, want %v", r1.KVs, r2.KVs)
	}
}

// TestJournalFailureMakesReadOnly: once a wait fails, writes are refused and
// reads still work.
func TestJournalFailureMakesReadOnly(t *testing.T) {
	j := &recordingJournal{failAfter: 1}
	s := newTestStore(t, Config{Journal: j})
	mustPut(t, s, "/a", "1", 0)
	_, w, err := s.Put(&PutRequest{Key: []byte("/b"), Value: []byte("2")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(context.Background()); err == nil {
		t.Fatal("wait succeeded on a failing journal")
	}
	if _, _, err := s.Put(&PutRequest{Key: []byte("/c"), Value: []byte("3")}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write after journal failure: %v", err)
	}
	if _, err := s.Range(&RangeRequest{Key: []byte("/a")}); err != nil {
		t.Fatalf("read after journal failure: %v", err)
	}
}

// TestTxnNestedAndRangeCompare: a compare over a range holds only if every
// key in it holds; nested transactions pick their branch from the state
// before the transaction (as etcd), not after earlier ops; all writes share
// one revision.
func TestTxnNestedAndRangeCompare(t *testing.T) {
	s := newTestStore(t, Config{})
	mustPut(t, s, "/r/a", "1", 0) // 2
	mustPut(t, s, "/r/b", "1", 0) // 3
	allOne := Compare{Key: []byte("/r/"), End: []byte("/r0"), Target: CompareValue, Result: CompareEqual, Value: []byte("1")}
	res, w, err := s.Txn(&TxnRequest{
		Compare: []Compare{allOne},
		Success: []TxnOp{
			{Put: &PutRequest{Key: []byte("/r/a"), Value: []byte("2")}},
			{Txn: &TxnRequest{
				Compare: []Compare{{Key: []byte("/r/a"), Target: CompareValue, Result: CompareEqual, Value: []byte("1")}},
				Success: []TxnOp{{Put: &PutRequest{Key: []byte("/r/c"), Value: []byte("nested")}}},
				Failure: []TxnOp{{Put: &PutRequest{Key: []byte("/r/c"), Value: []byte("wrong branch")}}},
			}},
		},
	})
	if err != nil || w.Wait(context.Background()) != nil {
		t.Fatal(err)
	}
	if !res.Succeeded || !res.Results[1].Txn.Succeeded || res.Rev != 4 || res.Results[1].Txn.Rev != 4 {
		t.Fatalf("txn: %+v, nested %+v", res, res.Results[1].Txn)
	}
	got, _ := s.Range(&RangeRequest{Key: []byte("/r/c")})
	if len(got.KVs) != 1 || got.KVs[0].ModRevision != 4 || string(got.KVs[0].Value) != "nested" {
		t.Fatalf("nested put: %+v", got)
	}
	// Now /r/a is 2: the range compare fails.
	res, _, _ = s.Txn(&TxnRequest{Compare: []Compare{allOne}})
	if res.Succeeded {
		t.Fatal("range compare held with one key differing")
	}
}
