package durability

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Diagnostics for TestMeasurePuts: where a cell's time goes. Off by default,
// so the plain table is what it always was.
var (
	measureDiag  = flag.Bool("measure.diag", false, "also report per cell: CPU busy (machine, server, client), fsyncs, records per fsync, batch queue wait, Put handling time")
	measurePprof = flag.String("measure.pprof", "", "directory: write a CPU profile of the server of every cell there (etcd and memetcd get --enable-pprof), and with -measure.trace a 1s runtime trace")
	measureTrace = flag.Bool("measure.trace", false, "with -measure.pprof: also write a 1s runtime trace from the middle of every cell")
)

// target is one running server of a cell.
type target struct {
	endpoint string // gRPC host:port
	pid      int
	metrics  string // base URL serving /metrics and /debug/pprof/
}

// usage is a point-in-time reading of the counters a cell's diagnostics
// are differences of.
type usage struct {
	at              time.Time
	machineBusy     float64 // clock ticks, all cores
	machineTotal    float64
	server          float64 // server process CPU seconds
	client          float64 // this process's CPU seconds: the client
	serverRunq      float64 // seconds the server's threads were runnable but not running
	clientRunq      float64
	fsyncSum        float64 // etcd_disk_wal_fsync_duration_seconds (memetcd and etcd both export it)
	fsyncCount      float64
	batchWaitSum    float64 // memetcd_wal_batch_wait_seconds
	batchWaitCount  float64
	putHandleSum    float64 // grpc_server_handling_seconds{grpc_method="Put"}
	putHandleCount  float64
	metricsScrapeOK bool
}

// clkTck is USER_HZ, 100 on every Linux architecture Go supports.
const clkTck = 100

func readUsage(tg target) usage {
	u := usage{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, s := range f[1:] {
			v, _ := strconv.ParseFloat(s, 64)
			if i < 8 { // user nice system idle iowait irq softirq steal; guest is inside user
				u.machineTotal += v
				if i != 3 && i != 4 {
					u.machineBusy += v
				}
			}
		}
	}
	u.server = procCPU(tg.pid)
	u.serverRunq = runDelay(tg.pid)
	u.clientRunq = runDelay(os.Getpid())
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.client = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	if tg.metrics == "" {
		return u
	}
	resp, err := http.Get(tg.metrics + "/metrics")
	if err != nil {
		return u
	}
	defer resp.Body.Close()
	u.metricsScrapeOK = true
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		switch {
		case name == "etcd_disk_wal_fsync_duration_seconds_sum":
			u.fsyncSum = v
		case name == "etcd_disk_wal_fsync_duration_seconds_count":
			u.fsyncCount = v
		case name == "memetcd_wal_batch_wait_seconds_sum":
			u.batchWaitSum = v
		case name == "memetcd_wal_batch_wait_seconds_count":
			u.batchWaitCount = v
		case strings.HasPrefix(name, "grpc_server_handling_seconds_sum{") && strings.Contains(name, `grpc_method="Put"`):
			u.putHandleSum += v
		case strings.HasPrefix(name, "grpc_server_handling_seconds_count{") && strings.Contains(name, `grpc_method="Put"`):
			u.putHandleCount += v
		}
	}
	return u
}

// runDelay sums how long pid's threads have waited on a CPU run queue
// (schedstat's second field, ns): the time a thread was ready to run and
// the kernel ran something else. Threads that exited are not counted.
func runDelay(pid int) float64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var ns float64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			ns += v
		}
	}
	return ns / 1e9
}

// cellDiag is what one cell's run spent.
type cellDiag struct {
	machineBusy   float64 // fraction of all cores busy
	serverCores   float64 // server CPU seconds per second
	clientCores   float64
	serverPerPut  time.Duration // server CPU per put: steady even when neighbours take cores
	clientPerPut  time.Duration
	serverRunq    float64 // threads waiting for a CPU, on average
	clientRunq    float64
	fsyncRate     float64 // fsyncs per second
	fsyncMean     time.Duration
	putsPerFsync  float64
	batchWaitMean time.Duration
	putHandleMean time.Duration // server-side Put time, gRPC handler in and out
	scraped       bool
}

func diff(a, b usage, puts int) cellDiag {
	wall := b.at.Sub(a.at).Seconds()
	d := cellDiag{scraped: a.metricsScrapeOK && b.metricsScrapeOK}
	if t := b.machineTotal - a.machineTotal; t > 0 {
		d.machineBusy = (b.machineBusy - a.machineBusy) / t
	}
	d.serverCores = (b.server - a.server) / wall
	d.clientCores = (b.client - a.client) / wall
	d.serverRunq = (b.serverRunq - a.serverRunq) / wall
	d.clientRunq = (b.clientRunq - a.clientRunq) / wall
	if puts > 0 {
		d.serverPerPut = time.Duration((b.server - a.server) / float64(puts) * 1e9)
		d.clientPerPut = time.Duration((b.client - a.client) / float64(puts) * 1e9)
	}
	mean := func(sum, count float64) float64 {
		if count <= 0 {
			return 0
		}
		return sum / count
	}
	n := b.fsyncCount - a.fsyncCount
	d.fsyncRate = n / wall
	d.fsyncMean = time.Duration(mean(b.fsyncSum-a.fsyncSum, n) * 1e9)
	if n > 0 {
		d.putsPerFsync = float64(puts) / n
	}
	d.batchWaitMean = time.Duration(mean(b.batchWaitSum-a.batchWaitSum, b.batchWaitCount-a.batchWaitCount) * 1e9)
	d.putHandleMean = time.Duration(mean(b.putHandleSum-a.putHandleSum, b.putHandleCount-a.putHandleCount) * 1e9)
	return d
}

// profile fetches a CPU profile of d from tg into path (and a trace of
// the middle second with -measure.trace); it returns when they are written
// (or failed, which is logged, not fatal).
func profile(t *testing.T, tg target, d time.Duration, path string) {
	var wg sync.WaitGroup
	if *measureTrace {
		wg.Go(func() {
			time.Sleep(max(0, d/2-500*time.Millisecond))
			fetch(t, tg, "trace?seconds=1", strings.TrimSuffix(path, ".pprof")+".trace", 30*time.Second)
		})
	}
	secs := max(1, int(d.Seconds()))
	fetch(t, tg, fmt.Sprintf("profile?seconds=%d", secs), path, d+30*time.Second)
	wg.Wait()
}

func fetch(t *testing.T, tg target, what, path string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tg.metrics+"/debug/pprof/"+what, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("profile %s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Logf("profile %s: %s", path, resp.Status)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Logf("profile %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Logf("profile %s: %v", path, err)
	}
}

// profilePath names a cell's profile file.
func profilePath(system string, clients, round int) string {
	name := strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(system)
	return filepath.Join(*measurePprof, fmt.Sprintf("%s-c%d-r%d.pprof", name, clients, round))
}

func diagHeader() string {
	return "| system | clients | round | puts/s | machine busy | server cores | client cores | server CPU/put | client CPU/put | server runq | client runq | fsyncs/s | fsync mean | puts/fsync | batch wait (oldest record) | Put in server |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
}

func diagRow(system string, clients, round int, r cellResult, d cellDiag) string {
	dur := func(v time.Duration) string {
		if v == 0 {
			return "-"
		}
		return v.Round(time.Microsecond).String()
	}
	return fmt.Sprintf("| %s | %d | %d | %.0f | %.0f%% | %.2f | %.2f | %s | %s | %.2f | %.2f | %.0f | %s | %.1f | %s | %s |\n",
		system, clients, round, r.rate, 100*d.machineBusy, d.serverCores, d.clientCores,
		dur(d.serverPerPut), dur(d.clientPerPut), d.serverRunq, d.clientRunq, d.fsyncRate, dur(d.fsyncMean), d.putsPerFsync, dur(d.batchWaitMean), dur(d.putHandleMean))
}
