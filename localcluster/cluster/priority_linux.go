package cluster

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// raisePriority lowers process pid's nice value by boost below this
// process's own (at most to -20, the kernel's floor), so it gets the CPU
// first when the machine is saturated. Linux keeps a nice value per
// thread and a new thread takes its creator's, so every thread the process
// has is set, in sweeps until one finds none left to set. Lowering a nice
// value needs root (or CAP_SYS_NICE); the error says so.
func raisePriority(pid, boost int) (int, error) {
	// getpriority(2) returns 20 - nice on Linux, to keep it positive.
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return 0, fmt.Errorf("read own priority: %w", err)
	}
	nice := max(20-prio-boost, -20)
	done := map[int]bool{}
	for sweep := 0; sweep < 5; sweep++ {
		tids, err := threads(pid)
		if err != nil {
			return 0, err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
				if err == syscall.ESRCH { // the thread ended meanwhile
					continue
				}
				return 0, fmt.Errorf("set nice %d on pid %d thread %d (needs root or CAP_SYS_NICE): %w", nice, pid, tid, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nice, nil
		}
	}
	return nice, nil
}

// threads lists process pid's thread IDs.
func threads(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list threads of pid %d: %w", pid, err)
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
