package durability

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	crashCycles  = flag.Int("crash.cycles", 3, "SIGKILL/restart cycles per WAL mode (CI runs the default; try 50)")
	crashWriters = flag.Int("crash.writers", 8, "concurrent writers per cycle")
	crashModes   = flag.String("crash.modes", "fsync,buffered,none", "WAL modes to crash-test, comma separated")
	crashSeed    = flag.Uint64("crash.seed", 0, "random seed (0: from the clock; the seed used is logged)")
)

// keyState is a key as the store holds it; exists=false is "absent".
type keyState struct {
	exists bool
	value  string
	modRev int64
	lease  int64
}

func (s keyState) String() string {
	if !s.exists {
		return "absent"
	}
	return fmt.Sprintf("%q@%d", s.value, s.modRev)
}

// keyOp is one write to one key: a put of value (exists) or a delete.
type keyOp struct {
	put   bool
	value string
	lease int64
	rev   int64 // revision the server acknowledged; 0 while unacknowledged
}

// pendingOp is the write a writer had in flight when the process died: it
// may or may not have happened, but if it did, it did completely.
type pendingOp struct {
	keys []string
	op   keyOp
}

// writer owns its keys (no other writer touches them), so each key's history
// is exactly the writer's sequence of acknowledged ops plus, at most, the one
// in flight at the crash.
type writer struct {
	id, cycle int
	keys      []string // pods, pods, configmaps, leases
	ops       map[string][]keyOp
	pending   *pendingOp
	grants    []int64 // acknowledged lease grants
	maxRev    int64
}

func newWriter(id, cycle int) *writer {
	w := &writer{id: id, cycle: cycle, ops: map[string][]keyOp{}}
	for _, k := range []string{"pods/c%d/w%d-a", "pods/c%d/w%d-b", "configmaps/c%d/w%d-c", "leases/c%d/w%d-d"} {
		w.keys = append(w.keys, "/registry/"+fmt.Sprintf(k, cycle, id))
	}
	return w
}

// run writes until ctx ends or a request fails (the server died).
func (w *writer) run(ctx context.Context, c *clientv3.Client, rng *rand.Rand) {
	for i := 0; ctx.Err() == nil; i++ {
		value := fmt.Sprintf("c%d-w%d-%d", w.cycle, w.id, i)
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var rev int64
		wrote := true // false for a delete that found nothing: its revision is not one of its own
		var err error
		switch r := rng.IntN(10); {
		case r < 4:
			k := w.keys[rng.IntN(3)]
			w.pending = &pendingOp{keys: []string{k}, op: keyOp{put: true, value: value}}
			var resp *clientv3.PutResponse
			if resp, err = c.Put(opCtx, k, value); err == nil {
				rev = resp.Header.Revision
			}
		case r < 6:
			k := w.keys[rng.IntN(3)]
			w.pending = &pendingOp{keys: []string{k}, op: keyOp{}}
			var resp *clientv3.DeleteResponse
			if resp, err = c.Delete(opCtx, k); err == nil {
				rev, wrote = resp.Header.Revision, resp.Deleted > 0
			}
		case r < 8:
			// One Txn over two resources: two WAL files, one record.
			ks := []string{w.keys[rng.IntN(2)], w.keys[2]}
			w.pending = &pendingOp{keys: ks, op: keyOp{put: true, value: value}}
			var resp *clientv3.TxnResponse
			resp, err = c.Txn(opCtx).If(clientv3.Compare(clientv3.Version(ks[0]), "!=", -1)).
				Then(clientv3.OpPut(ks[0], value), clientv3.OpPut(ks[1], value)).Commit()
			if err == nil {
				rev = resp.Header.Revision
			}
		default:
			var g *clientv3.LeaseGrantResponse
			w.pending = nil
			if g, err = c.Grant(opCtx, 600); err != nil {
				break
			}
			w.grants = append(w.grants, int64(g.ID))
			k := w.keys[3]
			w.pending = &pendingOp{keys: []string{k}, op: keyOp{put: true, value: value, lease: int64(g.ID)}}
			var resp *clientv3.PutResponse
			if resp, err = c.Put(opCtx, k, value, clientv3.WithLease(g.ID)); err == nil {
				rev = resp.Header.Revision
			}
		}
		cancel()
		if err != nil {
			return // the in-flight op stays pending: outcome unknown
		}
		if w.pending != nil {
			op := w.pending.op
			op.rev = rev
			for _, k := range w.pending.keys {
				w.ops[k] = append(w.ops[k], op)
			}
		}
		w.pending = nil
		if wrote {
			// Only a write's own revision is a durability promise: a no-op
			// reports the current revision, which may belong to another
			// client's write still waiting for its fsync.
			w.maxRev = max(w.maxRev, rev)
		}
	}
}

func after(op keyOp) keyState {
	if !op.put {
		return keyState{}
	}
	return keyState{exists: true, value: op.value, modRev: op.rev, lease: op.lease}
}

// check compares the restarted store with what the writer knows. rev is the
// store's revision after restart; fsync means every acknowledged op counts,
// otherwise (buffered) only those at or below rev, as a prefix of history.
func (w *writer) check(state map[string]keyState, rev int64, fsync bool) []string {
	var errs []string
	pendingSeen := map[bool]int{}
	for _, k := range w.keys {
		got := state[k]
		var last *keyOp
		allIn := true
		for i := range w.ops[k] {
			op := &w.ops[k][i]
			if fsync || op.rev <= rev {
				last = op
			} else {
				allIn = false
			}
		}
		want := keyState{}
		if last != nil {
			want = after(*last)
		}
		if got == want {
			if w.pending != nil && contains(w.pending.keys, k) && !(w.pending.op.put == false && !want.exists) {
				pendingSeen[false]++
			}
			continue
		}
		// The in-flight op may have happened, if nothing acknowledged is
		// missing before it.
		if w.pending != nil && contains(w.pending.keys, k) && allIn {
			p := after(w.pending.op)
			if got.exists == p.exists && got.value == p.value && got.lease == p.lease &&
				(!got.exists || (got.modRev <= rev && (last == nil || got.modRev > last.rev))) {
				pendingSeen[true]++
				continue
			}
		}
		errs = append(errs, fmt.Sprintf("%s: got %v, want %v (last acknowledged) or the unacknowledged %+v", k, got, want, w.pending))
	}
	if pendingSeen[true] > 0 && pendingSeen[false] > 0 {
		errs = append(errs, fmt.Sprintf("writer %d: unacknowledged txn %+v half applied", w.id, w.pending))
	}
	return errs
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// readState reads every key under /registry/ and the store revision.
func readState(ctx context.Context, c *clientv3.Client) (map[string]keyState, int64, error) {
	resp, err := c.Get(ctx, "/registry/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	out := map[string]keyState{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = keyState{exists: true, value: string(kv.Value), modRev: kv.ModRevision, lease: kv.Lease}
	}
	return out, resp.Header.Revision, nil
}

// TestCrashRecovery kills memetcd with SIGKILL while writers run, restarts it
// on the same WAL and checks what each mode promised. Keys checked in one
// cycle must stay exactly as they are through every later crash.
func TestCrashRecovery(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
	for _, mode := range strings.Split(*crashModes, ",") {
		t.Run(mode, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(len(mode))))
			walDir := filepath.Join(t.TempDir(), "wal")
			args := []string{"--wal-default=" + mode, "--wal-snapshot-interval=300ms", "--wal-segment-bytes=65536"}
			settled := map[string]keyState{}
			totalAcked := 0
			for cycle := range *crashCycles {
				p := startT(t, walDir, args...)
				c := client(t, p.Endpoint)
				ctx, stopWriters := context.WithCancel(context.Background())
				writers := make([]*writer, *crashWriters)
				var wg sync.WaitGroup
				for i := range writers {
					writers[i] = newWriter(i, cycle)
					wr := writers[i]
					wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
					wg.Go(func() { wr.run(ctx, c, wrng) })
				}
				time.Sleep(time.Duration(50+rng.IntN(700)) * time.Millisecond) // the random moment to crash
				p.Kill()
				stopWriters()
				wg.Wait()
				c.Close()

				p = startT(t, walDir, args...)
				c = client(t, p.Endpoint)
				rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				state, rev, err := readState(rctx, c)
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				var errs []string
				acked, maxRev := 0, int64(0)
				known := map[string]bool{}
				for _, w := range writers {
					for _, k := range w.keys {
						known[k] = true
						acked += len(w.ops[k])
					}
					maxRev = max(maxRev, w.maxRev)
				}
				switch mode {
				case "none":
					if len(state) != 0 || rev != 1 {
						errs = append(errs, fmt.Sprintf("none mode restarted with %d keys at revision %d, want empty", len(state), rev))
					}
				default:
					if mode == "fsync" && rev < maxRev {
						errs = append(errs, fmt.Sprintf("revision %d after restart, %d was acknowledged", rev, maxRev))
					}
					for _, w := range writers {
						errs = append(errs, w.check(state, rev, mode == "fsync")...)
						if mode == "fsync" {
							for _, id := range w.grants {
								ttl, err := c.TimeToLive(rctx, clientv3.LeaseID(id))
								if err != nil || ttl.TTL <= 0 {
									errs = append(errs, fmt.Sprintf("acknowledged lease %x gone after restart (%v, ttl %v)", id, err, ttl))
								}
							}
						}
					}
					for k, s := range settled {
						if state[k] != s {
							errs = append(errs, fmt.Sprintf("%s was %v after an earlier crash, now %v", k, s, state[k]))
						}
					}
					for k, s := range state {
						if _, old := settled[k]; !old && !known[k] {
							errs = append(errs, fmt.Sprintf("%s = %v was never written", k, s))
						}
						if s.lease != 0 {
							if ttl, err := c.TimeToLive(rctx, clientv3.LeaseID(s.lease)); err != nil || ttl.TTL <= 0 {
								errs = append(errs, fmt.Sprintf("%s refers to lease %x, which is gone (%v)", k, s.lease, err))
							}
						}
					}
					for k, s := range state {
						settled[k] = s
					}
				}
				cancel()
				totalAcked += acked
				t.Logf("cycle %d: %d writes acknowledged (highest revision %d), revision after restart %d, %d keys",
					cycle, acked, maxRev, rev, len(state))
				if len(errs) > 0 {
					t.Fatalf("cycle %d, mode %s:\n%s", cycle, mode, strings.Join(errs, "\n"))
				}
				if err := p.Stop(); err != nil && !errors.Is(err, context.Canceled) {
					t.Fatalf("graceful stop: %v", err)
				}
				c.Close()
			}
			if totalAcked == 0 {
				t.Fatal("no write was acknowledged in any cycle: the test proved nothing")
			}
		})
	}
}
