// Package netnstest gives tests network namespaces of their own, so code that
// creates interfaces, binds ports or installs nftables rules runs against a
// private network stack and never touches the host's.
//
// Go cannot move a whole process into a namespace (setns applies to one
// thread), so a test that must run entirely inside one re-executes its own test
// binary under `ip netns exec`: see RunIsolated.
package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// childEnv marks the re-executed test process.
const childEnv = "WGGATEWAY_NETNSTEST_CHILD"

var seq atomic.Int64

// Require skips t unless namespaces can be made here: root, the ip command and
// /dev/net/tun are needed. The skip message says which one is missing.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		// A missing tool is a broken CI image, not a reason to skip there.
		if os.Getenv("K8S1M_REQUIRE_BINARIES") == "1" {
			t.Fatal("needs the ip command: apt-get install -y iproute2")
		}
		t.Skip("needs the ip command to create network namespaces: apt-get install -y iproute2")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun for the userspace WireGuard device: %v", err)
	}
	name := fmt.Sprintf("k8s1m-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here: %v: %s", err, bytes.TrimSpace(out))
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
}

// NS is a named network namespace that is deleted when the test ends.
type NS struct {
	Name string
}

// New creates a namespace whose name contains label, with loopback up.
func New(t testing.TB, label string) *NS {
	t.Helper()
	name := fmt.Sprintf("k8s1m-%s-%d-%d", label, os.Getpid(), seq.Add(1))
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("delete netns %s: %v: %s", name, err, out)
		}
	})
	ns := &NS{Name: name}
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Command returns cmd set up to run args inside the namespace.
func (ns *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Run runs args inside the namespace and fails t on error.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
}

// Run runs a command and fails t on error, returning its output.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Veth connects a and b with a veth pair named aName (in a) and bName (in b),
// both up.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	// Create in a, then move the peer end: interface names only need to be
	// unique per namespace, but the pair is created in one namespace first.
	a.Run(t, "ip", "link", "add", aName, "type", "veth", "peer", "name", bName)
	a.Run(t, "ip", "link", "set", bName, "netns", b.Name)
	a.Run(t, "ip", "link", "set", aName, "up")
	b.Run(t, "ip", "link", "set", bName, "up")
}

// InChild reports whether this process is a test re-executed by RunIsolated.
func InChild() bool { return os.Getenv(childEnv) == "1" }

// RunIsolated re-executes the running test (t.Name()) in a fresh namespace and
// reports the child's verdict as t's. Call it at the top of a test:
//
//	if !netnstest.InChild() {
//		netnstest.RunIsolated(t)
//		return
//	}
func RunIsolated(t *testing.T) {
	t.Helper()
	Require(t)
	ns := New(t, "iso")
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	cmd := ns.Command(self, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("isolated run in %s:\n%s", ns.Name, out)
	if err != nil {
		t.Fatalf("isolated run failed: %v", err)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Skip("isolated run skipped")
	}
}

// Do runs f with the calling goroutine's thread inside ns. Sockets keep the
// namespace they were created in, so a listener or connection made in f can
// be used from any goroutine afterwards; f itself should only create them.
func (ns *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// A fresh goroutine on a locked thread: if the thread cannot be put
		// back into its namespace it stays locked and dies with the goroutine
		// instead of running other goroutines in the wrong namespace.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns.Name)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns.Name, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
