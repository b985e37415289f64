package wal

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TestMeasureReplay is the replay figure of BENCHMARKS.md, not a pass/fail
// test: it runs only with -measure.replay=<keys>. It loads that many keys
// (1 KiB values) into a real store on the WAL, then times boot (Open +
// Replay into an empty store) from the WAL alone and from a snapshot.
//
//	go test -run TestMeasureReplay -measure.replay=1000000 ./wal

var (
	measureReplay = flag.Int("measure.replay", 0, "keys to load for TestMeasureReplay (0: skip)")
	measureDir    = flag.String("measure.dir", "", "directory for the WAL (default: a temp dir)")
)

func dirBytes(t *testing.T, dir string) (int64, int) {
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
	}
	return total, len(entries)
}

// measurementDir is -measure.dir, or a temp dir when it is not set.
func measurementDir(t *testing.T) string {
	if *measureDir != "" {
		return *measureDir
	}
	return t.TempDir()
}

func TestMeasureReplay(t *testing.T) {
	n := *measureReplay
	if n == 0 {
		t.Skip("a measurement, not a test: run with -measure.replay=<keys>")
	}
	dir := measurementDir(t)
	dir = filepath.Join(dir, "wal")
	cfg := Config{Dir: dir, Routing: Routing{Default: ModeBuffered, ResourceRoot: DefaultResourceRoot}}
	log := zerolog.Nop()
	var bootCPU time.Duration // CPU (user+system) of the last boot: on a shared machine wall time says little
	boot := func() (*store.Store, *WAL, time.Duration) {
		runtime.GC()
		cpu0 := cpuTime(t)
		defer func() { bootCPU = cpuTime(t) - cpu0 }()
		start := time.Now()
		w, err := Open(cfg, log, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		st := store.New(store.Config{Journal: w, Log: log})
		if err := w.Replay(st); err != nil {
			t.Fatal(err)
		}
		return st, w, time.Since(start)
	}
	st, w, _ := boot()
	value := []byte(strings.Repeat("v", 1024))
	kinds := []string{"pods", "nodes", "configmaps", "leases", "events"}
	load := time.Now()
	for i := range n {
		key := fmt.Appendf(nil, "/registry/%s/ns-%d/obj-%08d", kinds[i%len(kinds)], i%100, i)
		if _, _, err := st.Put(&store.PutRequest{Key: key, Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	loadTook := time.Since(load)
	st.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	walBytes, walFiles := dirBytes(t, dir)

	st, w, walReplay := boot()
	walCPU := bootCPU
	if got := st.Stats().Keys; got != int64(n) {
		t.Fatalf("replayed %d keys, want %d", got, n)
	}
	snapStart := time.Now()
	if err := w.Snapshot(st); err != nil {
		t.Fatal(err)
	}
	snapTook := time.Since(snapStart)
	st.Close()
	w.Close()
	snapBytes, snapFiles := dirBytes(t, dir)

	st, w, snapReplay := boot()
	snapCPU := bootCPU
	if got := st.Stats().Keys; got != int64(n) {
		t.Fatalf("restored %d keys, want %d", got, n)
	}
	st.Close()
	w.Close()

	var out strings.Builder
	fmt.Fprintf(&out, "\n%s, %d cores, %d keys of 1 KiB in 5 resources (buffered mode)\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), n)
	fmt.Fprintf(&out, "| boot from | disk bytes | files | replay time | CPU time |\n|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(&out, "| WAL only | %d (%.0f MiB) | %d | %s | %s |\n", walBytes, float64(walBytes)/(1<<20), walFiles, walReplay.Round(time.Millisecond), walCPU.Round(time.Millisecond))
	fmt.Fprintf(&out, "| snapshot | %d (%.0f MiB) | %d | %s | %s |\n", snapBytes, float64(snapBytes)/(1<<20), snapFiles, snapReplay.Round(time.Millisecond), snapCPU.Round(time.Millisecond))
	fmt.Fprintf(&out, "\nloading the keys took %s (%.0f puts/s in-process); writing the snapshot took %s\n",
		loadTook.Round(time.Millisecond), float64(n)/loadTook.Seconds(), snapTook.Round(time.Millisecond))
	t.Log(out.String())
	fmt.Println(out.String())
}

// cpuTime is the user+system CPU this process has used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
