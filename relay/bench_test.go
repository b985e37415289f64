package relay

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// tree34Profile writes a CPU profile of BenchmarkTree34's measured part only
// (-cpuprofile would include start-up: gossip joins and ~1000 connections).
var tree34Profile = flag.String("tree34.cpuprofile", "", "write a CPU profile of the measured part of BenchmarkTree34* to this file")

// tree34BatchDelay overrides Config.BatchDelay in BenchmarkTree34* (negative: keep the default).
var tree34BatchDelay = flag.Duration("tree34.batchdelay", -1, "Config.BatchDelay of every member in BenchmarkTree34* (negative: the default)")

// cpuTime is the CPU (user + system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// sentMessages sums the messages the members sent, by stream.
func sentMessages(rs []*Relay) (scatter, report, verdict, decide, ack float64) {
	for _, r := range rs {
		ack += counterValue(r.metrics.sentAck)
		scatter += counterValue(r.metrics.sentScatter)
		report += counterValue(r.metrics.sentReport)
		verdict += counterValue(r.metrics.sentVerdict)
		decide += counterValue(r.metrics.sentDecide)
	}
	return
}

// BenchmarkTree34 pushes items through a 1-root, 3-relay, 30-scheduler tree
// (fanout 10: the root feeds the relays, each relay ten schedulers) in one
// process, real memberlist and gRPC on loopback, with a scorer that answers at
// once, submitting batches of 200 with up to 1000 items in flight (throughput).
// It reports items/s, process CPU per item per member (the protocol's cost at
// each hop: every member receives, forwards, reports or gathers), the root's
// view of decision latency (submit to decision delivered), p50/p99, and the
// gRPC messages per item on each kind of stream.
//
//	go test -run '^$' -bench Tree34 -benchtime 5000x ./relay/
func BenchmarkTree34(b *testing.B) { benchTree34(b, 200, 1000) }

// BenchmarkTree34Singles is BenchmarkTree34 fed as distscheduler's
// fixed-cost bench (TestMemberFixedCost) feeds its tree: one item per
// Submit, at most 64 in flight, so batches form only where a link is
// busy. Its CPU per item per member is the relay's part of that bench's F.
func BenchmarkTree34Singles(b *testing.B) { benchTree34(b, 1, 64) }

// BenchmarkTree34Sixteens is BenchmarkTree34 fed as a leader at a cluster's
// rate feeds its tree: Submits of 16 items (its intake over a millisecond at
// ~16K pods/s), at most 256 in flight, with more gatherers (31) than items per
// Submit, as in a cluster of thousands of members.
func BenchmarkTree34Sixteens(b *testing.B) { benchTree34(b, 16, 256) }

// BenchmarkTree34Latency is BenchmarkTree34 at low load: one item per Submit,
// at most 4 in flight, so latency is the hops' and not queueing.
func BenchmarkTree34Latency(b *testing.B) { benchTree34(b, 1, 4) }

func benchTree34(b *testing.B, batch, window int) {
	const (
		relays     = 3
		schedulers = 30
		members    = 1 + relays + schedulers
	)
	var (
		mu        sync.Mutex
		cond      = sync.NewCond(&mu)
		decided   int
		latencies []time.Duration
		noWinner  int
		reasons   = map[string]int{}
		submitted = map[uint64]time.Time{}
	)
	var all []*Relay
	// Shut down at the end of each run (not in Cleanup): the framework runs the
	// function more than once, and idle members of an earlier run would add
	// their gossip to this run's CPU.
	defer func() {
		for _, r := range all {
			_ = r.Shutdown()
		}
	}()
	start := func(name string, role Role) *Relay {
		cfg := DefaultLocalConfig()
		cfg.Name, cfg.Role, cfg.Fanout, cfg.Logger = name, role, 10, zerolog.Nop()
		cfg.Memberlist.Logger = nil
		if *tree34BatchDelay >= 0 {
			cfg.BatchDelay = *tree34BatchDelay
		}
		// Generous: on a shared machine the process can be starved for
		// seconds; the benchmark measures cost, the deadlines are tested elsewhere.
		cfg.DefaultDeadline = 60 * time.Second
		cfg.VerdictGrace, cfg.DecisionGrace = 60*time.Second, 60*time.Second
		var self *Relay
		if role.Schedules() {
			cfg.Handler = HandlerFunc(func(it Item) {
				self.Report(it, Score{Node: name, Score: 1}, func(Verdict) {})
			})
		}
		cfg.Decisions = DecisionFunc(func(d Decision) {
			now := time.Now()
			mu.Lock()
			latencies = append(latencies, now.Sub(submitted[d.RequestID]))
			delete(submitted, d.RequestID)
			if d.Winner == "" {
				noWinner++
				reasons[d.Reason]++
			}
			decided++
			cond.Broadcast()
			mu.Unlock()
		})
		r, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		self = r
		all = append(all, r)
		if len(all) > 1 {
			if _, err := r.Join(b.Context(), all[0].GossipAddr()); err != nil {
				b.Fatal(err)
			}
		}
		return r
	}
	root := start("root", RoleLeaderEligible)
	for i := range relays {
		start(fmt.Sprintf("relay-%d", i), RoleRelayOnly)
	}
	for i := range schedulers {
		start(fmt.Sprintf("sched-%02d", i), RoleScheduler)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, r := range all {
			if len(r.Members()) != members {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("members did not converge in 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr, _ := root.Tree("root")
	if fmt.Sprint(tr.Children("root")) != "[relay-0 relay-1 relay-2]" {
		b.Fatalf("unexpected tree: root's children %v", tr.Children("root"))
	}

	// Warm up: every member opens its links (one connection per peer pair,
	// about a thousand here) on first use; that is start-up cost, not per item.
	warm := make([]Item, 500)
	for i := range warm {
		warm[i] = Item{RequestID: uint64(1<<40 + i), Key: fmt.Sprintf("warm/pod-%d", i)}
		submitted[warm[i].RequestID] = time.Now()
	}
	if err := root.Submit(warm...); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	for decided < len(warm) {
		cond.Wait()
	}
	decided, noWinner, latencies = 0, 0, nil
	clear(reasons)
	mu.Unlock()

	// The idle cost of the members (gossip, timers), to report the
	// per-item cost with and without it.
	idle0 := cpuTime(b)
	time.Sleep(3 * time.Second)
	idlePerSec := float64(cpuTime(b)-idle0) / 3

	if *tree34Profile != "" {
		f, err := os.Create(*tree34Profile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	sc0, rp0, vd0, dc0, ak0 := sentMessages(all)
	b.ResetTimer()
	cpu0, t0 := cpuTime(b), time.Now()
	for sent := 0; sent < b.N; {
		n := min(batch, b.N-sent)
		mu.Lock()
		for sent-decided > window {
			cond.Wait()
		}
		mu.Unlock()
		items := make([]Item, n)
		now := time.Now()
		mu.Lock()
		for i := range items {
			// Our own ids, noted before Submit: the root schedules too, so a
			// decision can arrive before Submit returns.
			id := uint64(sent + i + 1)
			items[i] = Item{RequestID: id, Key: fmt.Sprintf("bench/pod-%d", sent+i), Payload: make([]byte, 64)}
			submitted[id] = now
		}
		mu.Unlock()
		if err := root.Submit(items...); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	mu.Lock()
	for decided < b.N {
		cond.Wait()
	}
	mu.Unlock()
	elapsed, cpu := time.Since(t0), cpuTime(b)-cpu0
	b.StopTimer()
	if *tree34Profile != "" {
		pprof.StopCPUProfile()
	}
	sc1, rp1, vd1, dc1, ak1 := sentMessages(all)
	perItem := func(d float64) float64 { return d / float64(b.N) }
	b.ReportMetric(perItem(sc1-sc0), "scatter-msgs/item")
	b.ReportMetric(perItem(rp1-rp0), "report-msgs/item")
	b.ReportMetric(perItem(vd1-vd0), "verdict-msgs/item")
	b.ReportMetric(perItem(dc1-dc0), "decide-msgs/item")
	b.ReportMetric(perItem(ak1-ak0), "ack-msgs/item")

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/members, "cpu-µs/item/member")
	net := float64(cpu) - idlePerSec*elapsed.Seconds()
	b.ReportMetric(net/1000/float64(b.N)/members, "net-cpu-µs/item/member")
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.Logf("N=%d elapsed=%v cpu=%v idle-cpu/s=%v p50=%v p99=%v", b.N, elapsed, cpu, time.Duration(idlePerSec), pct(0.5), pct(0.99))
	if noWinner > 0 {
		b.Fatalf("%d of %d items decided without a winner: %v", noWinner, b.N, reasons)
	}
}
