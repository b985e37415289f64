package memetcdtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/store"
)

// StartEtcd runs the real etcd binary (make bin/etcd) on loopback through
// the workspace harness, with extra flags added, waits until it is healthy
// and returns its client endpoint (host:port). It is the peer memetcd is
// compared with; it is stopped when the test ends.
func StartEtcd(t testing.TB, extra ...string) string {
	t.Helper()
	bin := bins.RequireBinary(t, "etcd")
	s, err := store.Start(context.Background(), store.Config{Kind: store.Etcd, Bin: bin, RunDir: t.TempDir(),
		ExtraArgs: append([]string{"--log-level", "error"}, extra...), KillWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("etcd log (tail):\n%s", s.Proc.LogTail(8000))
		}
	})
	return strings.TrimPrefix(s.Endpoint, "http://")
}
