package cluster

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestRaisePriority starts a real child process with several threads
// (this test binary itself, parked in a helper that starts goroutines
// doing syscalls) and reads every thread's nice value back from the
// kernel.
func TestRaisePriority(t *testing.T) {
	if os.Getenv("K8S1M_PRIORITY_CHILD") == "1" {
		for range 8 {
			go func() {
				for {
					time.Sleep(time.Millisecond)
				}
			}()
		}
		time.Sleep(time.Minute)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("lowering a nice value needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRaisePriority$")
	cmd.Env = append(os.Environ(), "K8S1M_PRIORITY_CHILD=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Let the child's runtime start its threads, so some exist before the
	// call and are not only created by a thread already raised.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tids, err := threads(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(tids) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child has %d threads after 10 s", len(tids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	own, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := max(20-own-3, -20)
	got, err := raisePriority(cmd.Process.Pid, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("raisePriority set nice %d, want %d", got, want)
	}
	tids, err := threads(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err != nil {
			t.Fatal(err)
		}
		if 20-prio != want {
			t.Errorf("thread %d of %d: nice %d, want %d", tid, len(tids), 20-prio, want)
		}
	}
}
