package durability

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	linClients = flag.Int("lin.clients", 16, "concurrent clients in the linearizability test")
	linOps     = flag.Int("lin.ops", 150, "operations per client and phase")
	linTimeout = flag.Duration("lin.timeout", 5*time.Minute, "how long the checker may search")
	// linKills is how many times the restart case SIGKILLs memetcd mid-run
	// and restarts it; the history spans every life. Raise it for a longer
	// hunt (each kill leaves up to -lin.clients operations of unknown outcome,
	// which the checker must place, so keep -lin.ops modest).
	linKills = flag.Int("lin.kills", 2, "SIGKILL/restart cycles in the restart case (0 skips it)")
)

// The model is a tiny etcd: a few keys and the revision. Keeping the revision
// in the state makes the check strict: every write's response revision and
// every read's header revision must fit one sequential order.
var linKeys = [...]string{"/registry/pods/ns/x", "/registry/pods/ns/y", "/registry/configmaps/ns/z"}

type cell struct {
	exists bool
	value  string
}

type kvState struct {
	rev  int64
	vals [len(linKeys)]cell
}

type opKind uint8

const (
	opGet opKind = iota
	opPut
	opDelete
	opTxn // if value(k) == cmp then put(k2, value) else get(k2)
)

type linInput struct {
	kind  opKind
	key   int
	key2  int
	value string
	cmp   string
}

// linOutput is nil when the request failed: it may or may not have happened.
type linOutput struct {
	rev       int64
	exists    bool   // get, failed-txn get
	value     string // get, failed-txn get
	deleted   int64
	succeeded bool
}

// kvModel allows an operation of unknown outcome (nil output: its reply was
// lost to a kill) both to have happened and not to have happened, which is
// what a crash allows: applied and made durable before the kill, or lost.
// Together with a Return bounded by the kill, that keeps the search small.
var kvModel = (&porcupine.NondeterministicModel{
	Init: func() []interface{} { return []interface{}{kvState{rev: 1}} },
	Step: func(st, in, out interface{}) []interface{} {
		ok, next := kvStep(st, in, out)
		switch {
		case !ok:
			return nil
		case out.(*linOutput) == nil && next != st:
			return []interface{}{st, next}
		}
		return []interface{}{next}
	},
	DescribeOperation: func(in, out interface{}) string {
		return fmt.Sprintf("%+v -> %+v", in, out)
	},
}).ToModel()

// kvStep is the sequential specification: whether out is what in returns in
// state st, and the state after.
func kvStep(st, in, out interface{}) (bool, interface{}) {
	s, i := st.(kvState), in.(linInput)
	o, _ := out.(*linOutput)
	next := s
	switch i.kind {
	case opGet:
		c := s.vals[i.key]
		return o == nil || (o.rev == s.rev && o.exists == c.exists && o.value == c.value), s
	case opPut:
		next.rev++
		next.vals[i.key] = cell{true, i.value}
		return o == nil || o.rev == next.rev, next
	case opDelete:
		if s.vals[i.key].exists {
			next.rev++
			next.vals[i.key] = cell{}
			return o == nil || (o.deleted == 1 && o.rev == next.rev), next
		}
		return o == nil || (o.deleted == 0 && o.rev == s.rev), s
	case opTxn:
		if s.vals[i.key].exists && s.vals[i.key].value == i.cmp {
			next.rev++
			next.vals[i.key2] = cell{true, i.value}
			return o == nil || (o.succeeded && o.rev == next.rev), next
		}
		c := s.vals[i.key2]
		return o == nil || (!o.succeeded && o.rev == s.rev && o.exists == c.exists && o.value == c.value), s
	}
	return false, s
}

// history collects operations from many clients on one clock.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(client int, in linInput, call int64, out *linOutput) {
	ret := h.now()
	var o interface{} = out
	if out == nil {
		// Unknown outcome: it may take effect at any point after the call.
		ret, o = math.MaxInt64, (*linOutput)(nil)
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: o, Return: ret})
	h.mu.Unlock()
}

// runClient does ops random operations; it stops at the first failure (the
// server is gone) after recording it as unknown.
func runClient(ctx context.Context, c *clientv3.Client, h *history, id, ops int, rng *rand.Rand, done *atomic.Int64) {
	recent := []string{""}
	for n := 0; n < ops && ctx.Err() == nil; n++ {
		in := linInput{kind: opKind(rng.IntN(4)), key: rng.IntN(len(linKeys)), key2: rng.IntN(len(linKeys)),
			value: fmt.Sprintf("c%d-%d", id, n), cmp: recent[rng.IntN(len(recent))]}
		k, k2 := linKeys[in.key], linKeys[in.key2]
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		call := h.now()
		var out *linOutput
		switch in.kind {
		case opGet:
			if r, err := c.Get(opCtx, k); err == nil {
				out = &linOutput{rev: r.Header.Revision}
				if len(r.Kvs) == 1 {
					out.exists, out.value = true, string(r.Kvs[0].Value)
					recent = append(recent, out.value)
				}
			}
		case opPut:
			if r, err := c.Put(opCtx, k, in.value); err == nil {
				out = &linOutput{rev: r.Header.Revision}
			}
		case opDelete:
			if r, err := c.Delete(opCtx, k); err == nil {
				out = &linOutput{rev: r.Header.Revision, deleted: r.Deleted}
			}
		case opTxn:
			r, err := c.Txn(opCtx).If(clientv3.Compare(clientv3.Value(k), "=", in.cmp)).
				Then(clientv3.OpPut(k2, in.value)).Else(clientv3.OpGet(k2)).Commit()
			if err == nil {
				out = &linOutput{rev: r.Header.Revision, succeeded: r.Succeeded}
				if !r.Succeeded {
					if kvs := r.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
						out.exists, out.value = true, string(kvs[0].Value)
					}
				}
			}
		}
		cancel()
		if out == nil && in.kind == opGet {
			return // a failed read changed nothing: leave it out
		}
		h.add(id, in, call, out)
		done.Add(1)
		if out == nil {
			return
		}
	}
}

func TestLinearizable(t *testing.T) {
	tests := []struct {
		mode    string
		restart bool // SIGKILL mid-run, restart, continue: acknowledged writes must survive
	}{
		{mode: "fsync"},
		{mode: "buffered"},
		{mode: "none"},
		{mode: "fsync", restart: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/restart=%v", tt.mode, tt.restart), func(t *testing.T) {
			if tt.restart && *linKills <= 0 {
				t.Skip("-lin.kills=0")
			}
			walDir := filepath.Join(t.TempDir(), "wal")
			args := []string{"--wal-default=" + tt.mode}
			h := &history{start: time.Now()}
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			phases := 1
			if tt.restart {
				phases = *linKills + 1
			}
			for phase := range phases {
				p := startT(t, walDir, args...)
				ctx, cancel := context.WithCancel(context.Background())
				var done atomic.Int64
				var wg sync.WaitGroup
				ops, clients := *linOps, *linClients
				if tt.restart {
					// Each client can leave one operation of unknown outcome at
					// a kill (in flight, then lost or applied), and the checker
					// tries the subsets and orders of those, which grow fast
					// with the clients: half of them, so at most 8 unknowns per
					// kill (the CHANGELOG has the runs that chose 8).
					ops, clients = ops/2, max(2, clients/2)
				}
				for i := range clients {
					c := client(t, p.Endpoint) // one connection per client: real concurrency
					crng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
					id := phase*clients + i
					wg.Go(func() { runClient(ctx, c, h, id, ops, crng, &done) })
				}
				h.mu.Lock()
				first := len(h.ops) // this life's operations start here
				h.mu.Unlock()
				finished := make(chan struct{})
				go func() { wg.Wait(); close(finished) }()
				if tt.restart && phase < phases-1 {
					// Kill at a random point between a quarter and three
					// quarters of this life's operations.
					at := int64(clients*ops/4 + rng.IntN(clients*ops/2+1))
				wait:
					for done.Load() < at {
						select {
						case <-finished:
							break wait
						case <-time.After(time.Millisecond):
						}
					}
					p.Kill()
				}
				<-finished
				if tt.restart && phase < phases-1 {
					// Nothing of this life can take effect after it died: an
					// unknown outcome happened before the kill or never.
					killed := h.now()
					for i := first; i < len(h.ops); i++ {
						if h.ops[i].Return == math.MaxInt64 {
							h.ops[i].Return = killed
						}
					}
				}
				cancel()
				p.Kill()
			}
			checkStart := time.Now()
			res, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, *linTimeout)
			t.Logf("%d operations, result %s, checked in %s", len(h.ops), res, time.Since(checkStart).Round(time.Millisecond))
			if res != porcupine.Ok {
				path := filepath.Join(t.TempDir(), "history.html")
				if err := porcupine.VisualizePath(kvModel, info, path); err == nil {
					t.Logf("visualization: %s", path)
				}
				if res == porcupine.Unknown {
					t.Fatalf("checker gave up after -lin.timeout=%s on %d operations: no verdict (try fewer -lin.ops)", *linTimeout, len(h.ops))
				}
				t.Fatalf("history is not linearizable (%s)", res)
			}
		})
	}
}

// TestModelRejectsStaleRead: the checker must be able to fail. A read that
// starts after a put was acknowledged and still misses it is not linearizable.
func TestModelRejectsStaleRead(t *testing.T) {
	ops := []porcupine.Operation{
		{ClientId: 0, Input: linInput{kind: opPut, key: 0, value: "a"}, Call: 0, Output: &linOutput{rev: 2}, Return: 10},
		{ClientId: 1, Input: linInput{kind: opGet, key: 0}, Call: 20, Output: &linOutput{rev: 2}, Return: 30},
	}
	if porcupine.CheckOperations(kvModel, ops) {
		t.Fatal("stale read accepted")
	}
	ops[1].Output = &linOutput{rev: 2, exists: true, value: "a"}
	if !porcupine.CheckOperations(kvModel, ops) {
		t.Fatal("correct read rejected")
	}
}
