package wal

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMeasureFdatasync is the "fdatasync on this disk" figure of
// BENCHMARKS.md, not a pass/fail test: it runs only with
// -measure.fdatasync=<rounds>. It times write + fdatasync of one batch-sized
// block, the way the WAL does it, on the disk of -measure.dir (default the
// temp dir), three ways: appending to a growing file (the file's new size goes
// through the ext4 journal), overwriting blocks zero-filled beforehand (data
// only), and the WAL's preallocation (zero-fill PreallocBytes ahead, inline,
// every so often). The modes take turns in blocks of 50 so a neighbour's
// burst of I/O hits them alike.
//
//	go test -run TestMeasureFdatasync -measure.fdatasync=600 ./wal

var (
	measureFdatasync      = flag.Int("measure.fdatasync", 0, "rounds per mode for TestMeasureFdatasync (0: skip)")
	measureFdatasyncBytes = flag.Int("measure.fdatasync.bytes", 4096, "bytes written before each fdatasync")
)

func TestMeasureFdatasync(t *testing.T) {
	rounds := *measureFdatasync
	if rounds == 0 {
		t.Skip("a measurement, not a test: run with -measure.fdatasync=<rounds>")
	}
	dir := measurementDir(t)
	size := *measureFdatasyncBytes
	block := make([]byte, size)
	for i := range block {
		block[i] = byte(i) | 1
	}
	const prealloc = DefaultPreallocBytes
	open := func(name string, zeroFill int64) *syncMode {
		f, err := os.OpenFile(filepath.Join(dir, "fdatasync-"+name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
		for off := int64(0); off < zeroFill; off += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros[:], off); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		return &syncMode{name: name, f: f}
	}
	total := int64(rounds*size) + prealloc
	modes := []*syncMode{open("append", 0), open("overwrite zeroed", total), open("prealloc 1 MiB ahead", 0)}
	cpuNow := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	const turn = 50
	for done := 0; done < rounds; done += turn {
		for i, m := range modes {
			c0 := cpuNow()
			for range min(turn, rounds-done) {
				if i == 2 && m.off+int64(size) > m.alloc {
					for end := m.alloc + prealloc; m.alloc < end; m.alloc += int64(len(zeros)) {
						if _, err := m.f.WriteAt(zeros[:], m.alloc); err != nil {
							t.Fatal(err)
						}
					}
				}
				if _, err := m.f.WriteAt(block, m.off); err != nil {
					t.Fatal(err)
				}
				m.off += int64(size)
				start := time.Now()
				if err := syscall.Fdatasync(int(m.f.Fd())); err != nil {
					t.Fatal(err)
				}
				m.lat = append(m.lat, time.Since(start))
			}
			m.cpu += cpuNow() - c0
		}
	}
	out := syncTable(modes, size, rounds, dir)
	t.Log(out)
	fmt.Println(out)
}

// syncMode is one way of writing TestMeasureFdatasync times.
type syncMode struct {
	name  string
	f     *os.File
	off   int64
	alloc int64 // chunked: zero-filled up to here
	lat   []time.Duration
	cpu   time.Duration
}

// syncTable is TestMeasureFdatasync's result as the BENCHMARKS.md table.
func syncTable(modes []*syncMode, size, rounds int, dir string) string {
	var out strings.Builder
	fmt.Fprintf(&out, "\nfdatasync after a %d-byte write, %d rounds per mode, %s, %s\n\n", size, rounds, dir, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&out, "| mode | mean | p50 | p90 | p99 | max | CPU per round (write+fdatasync) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, m := range modes {
		slices.Sort(m.lat)
		var sum time.Duration
		for _, l := range m.lat {
			sum += l
		}
		n := len(m.lat)
		r := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s | %s |\n", m.name, r(sum/time.Duration(n)), r(m.lat[n/2]),
			r(m.lat[n*9/10]), r(m.lat[n*99/100]), r(m.lat[n-1]), r(m.cpu/time.Duration(n)))
	}
	return out.String()
}
