//go:build linux

package cluster

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestRaisePriority starts a real child process and reads its nice value
// back from the kernel.
func TestRaisePriority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("lowering a nice value needs root")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	own, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := max(20-own-3, -20)
	got, err := raisePriority(cmd.Process.Pid, 3)
	if err != nil {
		t.Fatal(err)
	}
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || 20-prio != want {
		t.Fatalf("nice %d (kernel says %d), want %d", got, 20-prio, want)
	}
}
