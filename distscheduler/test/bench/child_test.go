package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/app"
	"github.com/k8s1m/k8s1m/distscheduler/internal/testtree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// Child mode: the benchmark re-executes its own test binary to run N
// distscheduler members in one process, so their CPU and memory are measured
// apart from the load generator's.
const (
	envChild    = "K8S1M_BENCH_CHILD"
	envConfig   = "K8S1M_BENCH_SCHED_CONFIG"
	envReplicas = "K8S1M_BENCH_REPLICAS"
	envSummary  = "K8S1M_BENCH_SUMMARY"
	envReady    = "K8S1M_BENCH_READY"
	// envHeap names a file the parent creates once the shards are balanced;
	// the child then measures its heap (after GC) and writes it to the file
	// named by envHeap + ".done".
	envHeap = "K8S1M_BENCH_HEAP"
	// envCPUProfile, when set, makes the child write a CPU profile of its
	// whole run to <value>-x<replicas>.pprof.
	envCPUProfile = "K8S1M_BENCH_CPUPROFILE"
	// envNoIndex=1 turns the node label index off in every member, for a
	// side-by-side run of the search without it.
	envNoIndex = "K8S1M_BENCH_NO_INDEX"
	// envSeed, when set, is the gossip address of a tree root the parent
	// runs (TestMemberFixedCost): the members join it and none of them
	// leads, so pods reach them only through the parent's items.
	envSeed = "K8S1M_BENCH_SEED"
	// envInFlight sets each member's in-flight bids (app.Config.InFlight).
	envInFlight = "K8S1M_BENCH_INFLIGHT"
	// envLoops sets each member's --num-concurrent-schedulers, and so its
	// scheduling loops (at most GOMAXPROCS); default 8.
	envLoops = "K8S1M_BENCH_LOOPS"
	// envBindings sets each member's --bindings-in-flight.
	envBindings = "K8S1M_BENCH_BINDINGS"
)

// summary is what the child reports when it is stopped.
type summary struct {
	Replicas       int     `json:"replicas"`
	NodesEvaluated float64 `json:"nodes_evaluated"`
	PodsWon        float64 `json:"pods_won"`
	PodsLost       float64 `json:"pods_lost"`
	// ItemsDropped (member queue full) and ItemsExpired (deadline passed
	// before the member got to it) are items a member never bid on.
	ItemsDropped float64 `json:"items_dropped"`
	ItemsExpired float64 `json:"items_expired"`
	Stragglers   float64 `json:"stragglers"`
	// ClaimsRefused are searches redone because another scheduling loop of
	// the member took the node first.
	ClaimsRefused float64 `json:"claims_refused"`
	// RelayMessages are the messages the members sent on the relay's
	// long-lived streams (scatter, report, verdict, decide, acknowledgements).
	RelayMessages float64 `json:"relay_messages"`
	GatherSeconds float64 `json:"gather_seconds_sum"`
	GatherCount   float64 `json:"gather_count"`
	HeapReady     uint64  `json:"heap_ready_bytes"` // after GC, shards balanced, before pods
	HeapEnd       uint64  `json:"heap_end_bytes"`   // after GC, at stop
}

func runChild() int {
	n, err := strconv.Atoi(os.Getenv(envReplicas))
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "bad", envReplicas)
		return 2
	}
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	app.RouteKlog(log.Level(zerolog.ErrorLevel))
	// As the binary does (--gc-percent); K8S1M_BENCH_GC_PERCENT overrides.
	gc := app.DefaultGCPercent
	if v, err := strconv.Atoi(os.Getenv("K8S1M_BENCH_GC_PERCENT")); err == nil {
		gc = v
	}
	app.TuneGC(gc, log)
	if err := app.SetFeatureDefaults(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if prefix := os.Getenv(envCPUProfile); prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s-x%d.pprof", prefix, n))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	seed := os.Getenv(envSeed)
	var seeds []string
	if seed != "" {
		seeds = append(seeds, seed)
	}
	join := testtree.Relay(seeds...)
	inFlight, _ := strconv.Atoi(os.Getenv(envInFlight))
	bindings, _ := strconv.Atoi(os.Getenv(envBindings))
	loops := 8
	if v, err := strconv.Atoi(os.Getenv(envLoops)); err == nil {
		loops = v
	}
	regs := make([]*prometheus.Registry, n)
	var ready sync.WaitGroup
	var wg sync.WaitGroup
	for i := range n {
		regs[i] = prometheus.NewRegistry()
		opts := options.NewOptions()
		opts.ConfigFile = os.Getenv(envConfig)
		opts.SecureServing.BindPort = 0
		name := fmt.Sprintf("r%d", i)
		ready.Add(1)
		cfg := app.Config{
			Scheduler: opts, Member: name, LeaderEligible: seed == "", NumConcurrentSchedulers: loops, InFlight: inFlight, Bindings: bindings,
			WaitForSubschedulers: 1, WatchPods: true, DisableNodeLabelIndex: os.Getenv(envNoIndex) == "1",
			LeaseNamespace: "kube-system", LeaseName: "dist-scheduler",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			Registry: regs[i],
			NewTree:  join,
			Ready:    ready.Done,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := app.Run(ctx, log, cfg); err != nil {
				log.Error().Err(err).Str("member", name).Msg("member failed")
			}
		}()
	}
	ready.Wait()
	var s summary
	s.Replicas = n
	if err := os.WriteFile(os.Getenv(envReady), []byte("ready"), 0o600); err != nil {
		return 1
	}
	heapReq := os.Getenv(envHeap)
	for ctx.Err() == nil {
		if _, err := os.Stat(heapReq); err == nil {
			s.HeapReady = heapAfterGC()
			if err := os.WriteFile(heapReq+".done", []byte("done"), 0o600); err != nil {
				return 1
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	<-ctx.Done()
	s.HeapEnd = heapAfterGC()
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "distscheduler_selector_nodes_evaluated_total":
					s.NodesEvaluated += m.GetCounter().GetValue()
				case "distscheduler_cycle_claims_refused_total":
					s.ClaimsRefused += m.GetCounter().GetValue()
				case "relay_gather_stragglers_total":
					s.Stragglers += m.GetCounter().GetValue()
				case "relay_link_sent_messages_total":
					s.RelayMessages += m.GetCounter().GetValue()
				case "distscheduler_cycle_verdict_wait_seconds":
					s.GatherSeconds += m.GetHistogram().GetSampleSum()
					s.GatherCount += float64(m.GetHistogram().GetSampleCount())
				case "distscheduler_cycle_items_total":
					for _, l := range m.GetLabel() {
						if l.GetName() != "result" {
							continue
						}
						switch l.GetValue() {
						case "won":
							s.PodsWon += m.GetCounter().GetValue()
						case "lost":
							s.PodsLost += m.GetCounter().GetValue()
						case "dropped":
							s.ItemsDropped += m.GetCounter().GetValue()
						case "expired":
							s.ItemsExpired += m.GetCounter().GetValue()
						}
					}
				}
			}
		}
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(os.Getenv(envSummary), b, 0o600); err != nil {
		return 1
	}
	stop()
	wg.Wait()
	return 0
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// child is a running child process of members (runChild).
type child struct {
	cmd            *exec.Cmd
	summary, ready string
	log            *os.File
}

// startChild starts n members in a child process with the scheduler
// configuration cfg and the extra environment, its files in dir, and waits
// until they are ready. The child is killed at the end of the test if it
// is still running.
func startChild(t *testing.T, dir, cfg string, n int, env ...string) *child {
	t.Helper()
	ch := &child{summary: filepath.Join(dir, "summary.json"), ready: filepath.Join(dir, "ready")}
	logf, err := os.Create(filepath.Join(dir, "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	ch.log = logf
	ch.cmd = exec.Command(os.Args[0], "-test.run=^$")
	ch.cmd.Env = append(os.Environ(), envChild+"=1", envConfig+"="+cfg, envReplicas+"="+strconv.Itoa(n),
		envSummary+"="+ch.summary, envReady+"="+ch.ready)
	ch.cmd.Env = append(ch.cmd.Env, env...)
	ch.cmd.Stdout, ch.cmd.Stderr = logf, logf
	ch.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch.cmd.ProcessState == nil {
			_ = ch.cmd.Process.Kill()
			_ = ch.cmd.Wait()
		}
		_ = logf.Close()
	})
	waitFor(t, 3*time.Minute, "members ready", func() bool { _, err := os.Stat(ch.ready); return err == nil })
	return ch
}

// stop stops the child (SIGTERM) and returns the summary it wrote.
func (ch *child) stop() (summary, error) {
	_ = ch.cmd.Process.Signal(syscall.SIGTERM)
	_ = ch.cmd.Wait()
	var s summary
	b, err := os.ReadFile(ch.summary)
	if err != nil {
		return s, fmt.Errorf("child summary (log %s): %w", ch.log.Name(), err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("child summary (log %s): %w", ch.log.Name(), err)
	}
	return s, nil
}
