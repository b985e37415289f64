package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Usage is what a process cost: CPU seconds (user + system) and peak resident
// memory. While the process runs it is read from /proc/<pid>; after it is reaped,
// from the kernel's rusage, which covers the whole life of the process.
type Usage struct {
	CPUSeconds   float64 `json:"cpu_seconds"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// RSSBytes is the resident memory when read (VmRSS); zero once the
	// process has exited.
	RSSBytes int64 `json:"rss_bytes,omitempty"`
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// Usage returns the current (or final, once exited) usage of the process.
func (p *Process) Usage() Usage {
	if p.Exited() {
		if ps := p.cmd.ProcessState; ps != nil {
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				u := Usage{
					CPUSeconds:   tvSeconds(ru.Utime) + tvSeconds(ru.Stime),
					PeakRSSBytes: ru.Maxrss * 1024, // Linux reports kilobytes
				}
				return u
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.last
	}
	return p.sample()
}

// sample reads /proc and remembers the result, so a figure is left even if the
// process is later reaped by someone who does not report rusage.
func (p *Process) sample() Usage {
	u, err := ReadUsage(p.PID())
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.last = u
	}
	return p.last
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// ReadUsage reads the usage of a running process from /proc/<pid>/stat and
// /proc/<pid>/status (VmHWM, the peak RSS, and VmRSS, the current one).
func ReadUsage(pid int) (Usage, error) {
	st, err := readStat(pid)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CPUSeconds: float64(st.utime+st.stime) / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("usage of %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		var field *int64
		switch name {
		case "VmHWM":
			field = &u.PeakRSSBytes
		case "VmRSS":
			field = &u.RSSBytes
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return u, fmt.Errorf("usage of %d: %s %q: %w", pid, name, rest, err)
		}
		*field = kb * 1024
	}
	return u, nil
}

type procStat struct {
	state        byte
	utime, stime uint64
}

// readStat parses /proc/<pid>/stat. The command name (field 2) may contain
// spaces and parentheses, so fields are counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("stat of %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat of %d: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime(14) stime(15) ...
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat of %d: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	stt, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("stat of %d: utime/stime %q %q", pid, f[11], f[12])
	}
	return procStat{state: f[0][0], utime: ut, stime: stt}, nil
}
