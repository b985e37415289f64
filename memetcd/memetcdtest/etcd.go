package memetcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"
)

// StartEtcd runs the real etcd binary (make bin/etcd) on loopback with a data
// dir in a temp directory, waits until it accepts connections and returns
// its client endpoint (host:port). It is the peer memetcd is compared with.
func StartEtcd(t testing.TB, extra ...string) string {
	t.Helper()
	bin := Binary(t, "etcd")
	client := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--data-dir", t.TempDir(), "--name", "default",
		"--listen-client-urls", "http://" + client, "--advertise-client-urls", "http://" + client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer, "--log-level", "error"}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("etcd output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", client, time.Second)
		if err == nil {
			c.Close()
			return client
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not listen on %s: %v", client, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
