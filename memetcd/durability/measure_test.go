package durability

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMeasurePuts is the put benchmark of BENCHMARKS.md, not a pass/fail
// test: it runs only with -measure and prints a markdown table. It drives
// memetcd in each WAL mode and a real etcd (bin/etcd, `make bin/etcd`) on the
// same disk in the same run, with the same client code.
//
//	go test -run TestMeasurePuts -measure -measure.duration=5s ./durability

var (
	measure         = flag.Bool("measure", false, "run the measurements (TestMeasurePuts)")
	measureDuration = flag.Duration("measure.duration", 5*time.Second, "how long each cell of the table runs")
	measureClients  = flag.String("measure.clients", "1,16,64", "client counts")
	measureValue    = flag.Int("measure.value", 256, "value size in bytes")
	measureEtcd     = flag.String("measure.etcd", "", "etcd binary (default: $K8S1M_BIN/etcd or <repo>/bin/etcd)")
	measureModes    = flag.String("measure.modes", "none,buffered,fsync", "memetcd WAL modes to measure")
	measureArgs     = flag.String("measure.args", "", "extra memetcd flags, space separated")
	measureNoEtcd   = flag.Bool("measure.noetcd", false, "leave etcd out")
	measureRounds   = flag.Int("measure.rounds", 1, "repeat the table this many times, systems interleaved per client count, and report medians")
	measureVariants variants
)

func init() {
	flag.Var(&measureVariants, "measure.variant", `an extra memetcd system, "<name>=[bin:<memetcd binary> ]<flags>" (space separated), e.g. "fsync-1mib=--wal-default=fsync --wal-segment-bytes=1048576"; repeatable`)
}

// variants is a repeatable flag of named memetcd flag sets, for A/B
// comparisons inside one interleaved run.
type variants []struct{ name, args string }

func (v *variants) String() string { return fmt.Sprint(*v) }

func (v *variants) Set(s string) error {
	name, args, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want <name>=<flags>, got %q", s)
	}
	*v = append(*v, struct{ name, args string }{name, args})
	return nil
}

type cellResult struct {
	puts     int
	rate     float64
	p50, p99 time.Duration
}

// drive runs n clients putting for d over conns connections.
func drive(t *testing.T, endpoint string, n int, d time.Duration, value []byte) cellResult {
	t.Helper()
	conns := make([]*clientv3.Client, min(n, 16))
	for i := range conns {
		conns[i] = client(t, endpoint)
	}
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	start := time.Now()
	deadline := start.Add(d)
	for i := range n {
		c := conns[i%len(conns)]
		wg.Go(func() {
			for j := 0; time.Now().Before(deadline); j++ {
				t0 := time.Now()
				if _, err := c.Put(ctx, fmt.Sprintf("/registry/pods/bench/c%d-%d", i, j%1000), string(value)); err != nil {
					t.Errorf("put: %v", err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		t.Fatal("no put completed")
	}
	return cellResult{puts: len(all), rate: float64(len(all)) / elapsed.Seconds(),
		p50: all[len(all)/2], p99: all[len(all)*99/100]}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd runs a single-member etcd with its data on the test's temp disk.
func startEtcd(t *testing.T, bin string) target {
	t.Helper()
	dir := t.TempDir()
	cport, pport := freePort(t), freePort(t)
	curl := fmt.Sprintf("http://127.0.0.1:%d", cport)
	purl := fmt.Sprintf("http://127.0.0.1:%d", pport)
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--name=bench", "--data-dir=" + filepath.Join(dir, "data"),
		"--listen-client-urls=" + curl, "--advertise-client-urls=" + curl,
		"--listen-peer-urls=" + purl, "--initial-advertise-peer-urls=" + purl,
		"--initial-cluster=bench=" + purl, "--log-level=warn"}
	if *measurePprof != "" {
		args = append(args, "--enable-pprof")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	c := client(t, fmt.Sprintf("127.0.0.1:%d", cport))
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Put(ctx, "/health-probe", "x")
		cancel()
		if err == nil {
			return target{endpoint: fmt.Sprintf("127.0.0.1:%d", cport), pid: cmd.Process.Pid, metrics: curl}
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func etcdBinary() string {
	if *measureEtcd != "" {
		return *measureEtcd
	}
	if d := os.Getenv("K8S1M_BIN"); d != "" {
		return filepath.Join(d, "etcd")
	}
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, "bin", "etcd")
		}
	}
	return "etcd"
}

func TestMeasurePuts(t *testing.T) {
	if !*measure {
		t.Skip("a measurement, not a test: run with -measure")
	}
	var counts []int
	for _, s := range strings.Split(*measureClients, ",") {
		var n int
		fmt.Sscan(s, &n)
		counts = append(counts, n)
	}
	value := []byte(strings.Repeat("v", *measureValue))
	type system struct {
		name  string
		start func(t *testing.T) target
	}
	var systems []system
	for _, mode := range strings.Split(*measureModes, ",") {
		systems = append(systems, system{"memetcd " + mode, func(t *testing.T) target {
			args := append([]string{"--wal-default=" + mode, "--wal-snapshot-interval=0"}, strings.Fields(*measureArgs)...)
			if *measurePprof != "" {
				args = append(args, "--enable-pprof")
			}
			p := startT(t, filepath.Join(t.TempDir(), "wal"), args...)
			return target{endpoint: p.Endpoint, pid: p.Pid(), metrics: "http://" + p.MetricsAddr}
		}})
	}
	for _, v := range measureVariants {
		systems = append(systems, system{"memetcd " + v.name, func(t *testing.T) target {
			bin, fields := memetcdBin, strings.Fields(v.args)
			if len(fields) > 0 && strings.HasPrefix(fields[0], "bin:") {
				bin, fields = strings.TrimPrefix(fields[0], "bin:"), fields[1:]
			}
			args := append([]string{"--wal-snapshot-interval=0"}, fields...)
			if *measurePprof != "" && bin == memetcdBin {
				args = append(args, "--enable-pprof") // a bin: older than the flag serves pprof always
			}
			p := startBinT(t, bin, filepath.Join(t.TempDir(), "wal"), args...)
			return target{endpoint: p.Endpoint, pid: p.Pid(), metrics: "http://" + p.MetricsAddr}
		}})
	}
	if bin := etcdBinary(); *measureNoEtcd {
	} else if fileExists(bin) {
		systems = append(systems, system{"etcd v3.7 (fsync)", func(t *testing.T) target { return startEtcd(t, bin) }})
	} else if os.Getenv("K8S1M_REQUIRE_BINARIES") == "1" {
		t.Fatalf("%s missing: run make bin/etcd", bin)
	} else {
		t.Logf("%s missing (make bin/etcd): measuring memetcd only", bin)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%s, %d cores, %s per cell, %d-byte values, client and server on one machine, median of %d rounds\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), *measureDuration, len(value), *measureRounds)
	// Rounds, then client counts, then systems: the cells compared with each
	// other run back to back, so a neighbour's build hurts them alike.
	results := map[string][]cellResult{}
	key := func(name string, n int) string { return fmt.Sprintf("%s/%d", name, n) }
	var diags strings.Builder
	if *measurePprof != "" {
		if err := os.MkdirAll(*measurePprof, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for round := range *measureRounds {
		for _, n := range counts {
			for _, s := range systems {
				t.Run(fmt.Sprintf("%s/round%d", key(s.name, n), round), func(t *testing.T) {
					tg := s.start(t) // a fresh server per cell: no cell inherits another's data
					var prof sync.WaitGroup
					if *measurePprof != "" {
						prof.Go(func() { profile(t, tg, *measureDuration, profilePath(s.name, n, round)) })
					}
					before := readUsage(tg)
					r := drive(t, tg.endpoint, n, *measureDuration, value)
					after := readUsage(tg)
					prof.Wait()
					results[key(s.name, n)] = append(results[key(s.name, n)], r)
					if *measureDiag {
						diags.WriteString(diagRow(s.name, n, round, r, diff(before, after, r.puts)))
					}
				})
			}
		}
	}
	fmt.Fprintf(&out, "| system | clients | puts/s | p50 | p99 | puts/s per round |\n|---|---:|---:|---:|---:|---|\n")
	for _, s := range systems {
		for _, n := range counts {
			rs := results[key(s.name, n)]
			if len(rs) == 0 {
				continue
			}
			var rates []string
			for _, r := range rs {
				rates = append(rates, fmt.Sprintf("%.0f", r.rate))
			}
			med := func(f func(cellResult) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				slices.Sort(v)
				return v[len(v)/2]
			}
			fmt.Fprintf(&out, "| %s | %d | %.0f | %s | %s | %s |\n", s.name, n,
				med(func(r cellResult) float64 { return r.rate }),
				time.Duration(med(func(r cellResult) float64 { return float64(r.p50) })).Round(time.Microsecond),
				time.Duration(med(func(r cellResult) float64 { return float64(r.p99) })).Round(time.Microsecond),
				strings.Join(rates, ", "))
		}
	}
	if diags.Len() > 0 {
		fmt.Fprintf(&out, "\nDiagnostics per cell (CPU from /proc, fsyncs and waits from the server's metrics):\n\n%s%s", diagHeader(), diags.String())
	}
	t.Log(out.String())
	fmt.Println(out.String())
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
