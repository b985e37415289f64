package cluster

import (
	"fmt"
	"syscall"
)

// raisePriority lowers process pid's nice value by boost below this
// process's own (at most to -20, the kernel's floor), so it gets the CPU
// first when the machine is saturated. Lowering a nice value needs root
// (or CAP_SYS_NICE); the error says so.
func raisePriority(pid, boost int) (int, error) {
	// getpriority(2) returns 20 - nice on Linux, to keep it positive.
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return 0, fmt.Errorf("read own priority: %w", err)
	}
	nice := max(20-prio-boost, -20)
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice); err != nil {
		return 0, fmt.Errorf("set nice %d on pid %d (needs root or CAP_SYS_NICE): %w", nice, pid, err)
	}
	return nice, nil
}
