package durability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// event is what a watcher saw, reduced to what must match exactly.
type event struct {
	Type                 mvccpb.Event_EventType
	Key, Value           string
	Create, Mod, Version int64
	PrevValue            string
	HasPrev              bool
}

// collect watches from rev until it has seen revision last, then returns.
func collect(ctx context.Context, t *testing.T, c *clientv3.Client, rev, last int64) ([]event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out []event
	wc := c.Watch(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithPrevKV())
	for resp := range wc {
		if err := resp.Err(); err != nil {
			return out, err
		}
		for _, e := range resp.Events {
			ev := event{Type: e.Type, Key: string(e.Kv.Key), Value: string(e.Kv.Value),
				Create: e.Kv.CreateRevision, Mod: e.Kv.ModRevision, Version: e.Kv.Version}
			if e.PrevKv != nil {
				ev.HasPrev, ev.PrevValue = true, string(e.PrevKv.Value)
			}
			out = append(out, ev)
			if e.Kv.ModRevision >= last {
				return out, nil
			}
		}
	}
	return out, fmt.Errorf("watch from %d ended before revision %d: %w", rev, last, ctx.Err())
}

// checkOrder: revisions never go back, no event repeats, and (every write in
// these tests lands under the watched prefix) no revision in [from, last] is
// missing.
func checkOrder(events []event, from, last int64) error {
	seen := map[string]bool{}
	next := from
	var prev int64
	for _, e := range events {
		if e.Mod < prev {
			return fmt.Errorf("revision %d after %d", e.Mod, prev)
		}
		id := fmt.Sprintf("%d/%s", e.Mod, e.Key)
		if seen[id] {
			return fmt.Errorf("duplicate event %s", id)
		}
		seen[id] = true
		if e.Mod > next {
			return fmt.Errorf("revisions %d..%d missing", next, e.Mod-1)
		}
		next = e.Mod + 1
		prev = e.Mod
	}
	if next != last+1 {
		return fmt.Errorf("ended at revision %d, want %d", next-1, last)
	}
	return nil
}

// write runs n random puts, deletes and two-key txns from several clients.
func write(ctx context.Context, t *testing.T, c *clientv3.Client, clients, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for id := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(id), 7))
			for i := range n {
				k := fmt.Sprintf("/registry/pods/ns/k%d", rng.IntN(8))
				v := fmt.Sprintf("%d-%d", id, i)
				var err error
				switch rng.IntN(4) {
				case 0:
					// Deleting an absent key writes no revision; delete only
					// what this put just made so every request is a revision.
					if _, err = c.Put(ctx, k, v); err == nil {
						_, err = c.Delete(ctx, k)
					}
				case 1:
					_, err = c.Txn(ctx).Then(clientv3.OpPut(k, v), clientv3.OpPut("/registry/configmaps/ns/"+v, v)).Commit()
				default:
					_, err = c.Put(ctx, k, v)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestWatchGuarantees(t *testing.T) {
	walDir := filepath.Join(t.TempDir(), "wal")
	args := []string{"--wal-default=fsync", "--wal-snapshot-interval=0"}
	p := startT(t, walDir, args...)
	c := client(t, p.Endpoint)
	ctx := context.Background()

	// Watchers that are live while the writes happen.
	const live = 4
	type result struct {
		events []event
		err    error
	}
	results := make([]chan result, live)
	finalRev := make(chan int64, live)
	var last int64
	for i := range results {
		results[i] = make(chan result, 1)
		go func() {
			l := <-finalRev
			ev, err := collect(ctx, t, c, 2, l)
			results[i] <- result{ev, err}
		}()
	}
	write(ctx, t, c, 8, 100)
	resp, err := c.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	last = resp.Header.Revision
	for range live {
		finalRev <- last
	}
	var full []event
	for i, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatalf("watcher %d: %v", i, r.err)
		}
		if err := checkOrder(r.events, 2, last); err != nil {
			t.Fatalf("watcher %d: %v", i, err)
		}
		if i == 0 {
			full = r.events
		} else if !reflect.DeepEqual(r.events, full) {
			t.Fatalf("watcher %d saw different events than watcher 0", i)
		}
	}

	// Resumable from any revision: a watch from r sees exactly the suffix.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10 {
		from := 2 + rng.Int64N(last-1)
		ev, err := collect(ctx, t, c, from, last)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for i < len(full) && full[i].Mod < from {
			i++
		}
		if !reflect.DeepEqual(ev, full[i:]) {
			t.Fatalf("watch from %d: %d events, want the %d of the full history from there", from, len(ev), len(full)-i)
		}
	}

	// After a restart the replayed history serves the same watch.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	p = startT(t, walDir, args...)
	c2 := client(t, p.Endpoint)
	ev, err := collect(ctx, t, c2, 2, last)
	if err != nil {
		t.Fatalf("watch after restart: %v", err)
	}
	if !reflect.DeepEqual(ev, full) {
		t.Fatalf("after restart the watch from 2 differs: %d events, was %d", len(ev), len(full))
	}

	// Compaction: older revisions answer ErrCompacted, newer ones still work.
	compactAt := last / 2
	if _, err := c2.Compact(ctx, compactAt); err != nil {
		t.Fatal(err)
	}
	if _, err := collect(ctx, t, c2, compactAt-1, last); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("watch below the compaction point: %v, want ErrCompacted", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// The compaction point is logged too, so it survives the restart.
	p = startT(t, walDir, args...)
	c3 := client(t, p.Endpoint)
	if _, err := collect(ctx, t, c3, compactAt-1, last); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("after restart, watch below the compaction point: %v, want ErrCompacted", err)
	}
	ev, err = collect(ctx, t, c3, compactAt+1, last)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOrder(ev, compactAt+1, last); err != nil {
		t.Fatalf("after restart, watch above the compaction point: %v", err)
	}
}
