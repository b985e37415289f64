package app_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/memetcd/app"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/rs/zerolog"
)

// startApp runs the whole memetcd process (app.Run's parts) on free loopback
// ports and stops it when the test ends.
func startApp(t *testing.T) *app.App {
	t.Helper()
	return startAppWith(t, func(*app.Config) {})
}

// startAppWith is startApp with modify applied to the default config.
func startAppWith(t *testing.T, modify func(*app.Config)) *app.App {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.Port, cfg.MetricsPort = 0, 0
	cfg.WALDir = t.TempDir() // never the default ./wal in the source tree
	modify(&cfg)
	a, err := app.New(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a
}

type ctlStep struct {
	name  string
	args  []string
	stdin string
	// want are substrings memetcd's output must contain.
	want []string
	// compare: the normalised output must equal real etcd's.
	compare bool
}

var leaseID = regexp.MustCompile(`\b[0-9a-f]{16}\b`)

// etcdctlScript is what an operator does with etcdctl; {lease} is replaced
// with the ID the grant step printed.
var etcdctlScript = []ctlStep{
	{name: "put", args: []string{"put", "/registry/pods/ns/a", "1"}, want: []string{"OK"}, compare: true},
	{name: "put b", args: []string{"put", "/registry/pods/ns/b", "2"}, want: []string{"OK"}, compare: true},
	{name: "put other", args: []string{"put", "/other", "x"}, want: []string{"OK"}, compare: true},
	{name: "get prefix", args: []string{"get", "--prefix", "/registry/pods/"}, want: []string{"/registry/pods/ns/a\n1\n/registry/pods/ns/b\n2"}, compare: true},
	{name: "get json", args: []string{"get", "/registry/pods/ns/a", "-w", "json"}, want: []string{`"revision":4`, `"count":1`}, compare: true},
	{name: "get keys only limit", args: []string{"get", "--prefix", "/", "--keys-only", "--limit", "1"}, want: []string{"/other"}, compare: true},
	{name: "get sorted", args: []string{"get", "--prefix", "/registry/", "--sort-by", "MODIFY", "--order", "DESCEND"}, want: []string{"/registry/pods/ns/b\n2\n/registry/pods/ns/a"}, compare: true},
	{name: "txn success", args: []string{"txn"}, stdin: "mod(\"/registry/pods/ns/a\") = \"2\"\n\nput /registry/pods/ns/a 3\n\nget /registry/pods/ns/a\n\n", want: []string{"SUCCESS", "OK"}, compare: true},
	{name: "txn failure", args: []string{"txn"}, stdin: "value(\"/registry/pods/ns/a\") = \"nope\"\n\nput /registry/pods/ns/a 4\n\nget /registry/pods/ns/a\n\n", want: []string{"FAILURE", "/registry/pods/ns/a\n3"}, compare: true},
	{name: "get old revision", args: []string{"get", "/registry/pods/ns/a", "--rev", "2"}, want: []string{"/registry/pods/ns/a\n1"}, compare: true},
	{name: "del", args: []string{"del", "--prev-kv", "/registry/pods/ns/b"}, want: []string{"1\n/registry/pods/ns/b\n2"}, compare: true},
	{name: "del missing", args: []string{"del", "/nothing"}, want: []string{"0"}, compare: true},
	{name: "watch history", args: []string{"watch", "--prefix", "/registry/pods/", "--rev", "2", "--prev-kv"},
		want: []string{"PUT\n/registry/pods/ns/a\n1", "DELETE\n/registry/pods/ns/b\n2\n/registry/pods/ns/b"}, compare: true},
	{name: "lease grant", args: []string{"lease", "grant", "60"}, want: []string{"granted with TTL(60s)"}, compare: true},
	{name: "put with lease", args: []string{"put", "--lease", "{lease}", "/registry/events/ns/e", "ev"}, want: []string{"OK"}, compare: true},
	{name: "lease keep-alive", args: []string{"lease", "keep-alive", "--once", "{lease}"}, want: []string{"keepalived with TTL(60)"}, compare: true},
	{name: "lease timetolive", args: []string{"lease", "timetolive", "--keys", "{lease}"}, want: []string{"granted with TTL(60s)", "attached keys([/registry/events/ns/e])"}},
	{name: "lease list", args: []string{"lease", "list"}, want: []string{"found 1 leases"}, compare: true},
	{name: "lease revoke", args: []string{"lease", "revoke", "{lease}"}, want: []string{"revoked"}, compare: true},
	{name: "leased key gone", args: []string{"get", "/registry/events/ns/e", "-w", "json"}, want: []string{`"revision":8`}, compare: true},
	{name: "lease grant short", args: []string{"lease", "grant", "1"}, want: []string{"granted with TTL(2s)"}, compare: true},
	{name: "compaction", args: []string{"compaction", "5"}, want: []string{"compacted revision 5"}, compare: true},
	{name: "read below compaction", args: []string{"get", "/registry/pods/ns/a", "--rev", "3"}, want: []string{"required revision has been compacted"}, compare: true},
	{name: "endpoint status", args: []string{"endpoint", "status", "-w", "json"}, want: []string{`"version":"3.7.3"`, `"raftIndex":8`}},
	{name: "endpoint health", args: []string{"endpoint", "health"}, want: []string{"is healthy"}},
	{name: "member list", args: []string{"member", "list"}, want: []string{"started, memetcd"}},
}

// runScript runs the script against endpoint and returns each step's output.
func runScript(t *testing.T, ctl, endpoint string) []string {
	t.Helper()
	var out []string
	lease := ""
	for _, st := range etcdctlScript {
		args := append([]string{"--endpoints", endpoint, "--command-timeout", "10s"}, st.args...)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "{lease}", lease)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, ctl, args...)
		cmd.Stdin = strings.NewReader(st.stdin)
		var buf logtest.Buffer // read while the watch is still writing
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if st.args[0] == "watch" {
			// A watch never ends by itself: stop once the history is in.
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf.WaitFor(ctx, st.want[len(st.want)-1])
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		} else {
			_ = cmd.Run() // a failing step's message is checked like any output
		}
		cancel()
		s := buf.String()
		if st.args[0] == "watch" {
			// Killed once its last event is in: whether etcdctl's blank
			// line after that response was written by then is timing.
			s = strings.TrimRight(s, "\n")
		}
		if st.name == "lease grant" {
			lease = leaseID.FindString(s)
		}
		out = append(out, s)
	}
	return out
}

// TestEtcdctl drives memetcd with the real etcdctl and, when the real etcd is
// built too, runs the same script against etcd and compares the outputs.
func TestEtcdctl(t *testing.T) {
	ctl := bins.RequireBinary(t, "etcdctl")
	a := startApp(t)
	got := runScript(t, ctl, a.ClientAddr())
	for i, st := range etcdctlScript {
		for _, w := range st.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: output %q lacks %q", st.name, got[i], w)
			}
		}
	}
	if _, err := os.Stat(strings.TrimSuffix(ctl, "etcdctl") + "etcd"); err != nil {
		t.Logf("real etcd not built (make bin/etcd): outputs not compared")
		return
	}
	ref := runScript(t, ctl, memetcdtest.StartEtcd(t))
	norm := func(s string) string {
		s = leaseID.ReplaceAllString(s, "LEASE")
		s = regexp.MustCompile(`"(cluster_id|member_id|raft_term)":\d+`).ReplaceAllString(s, `"$1":N`)
		s = regexp.MustCompile(`\{"level".*\n?`).ReplaceAllString(s, "")
		return s
	}
	compared := 0
	for i, st := range etcdctlScript {
		if !st.compare {
			continue
		}
		compared++
		if norm(got[i]) != norm(ref[i]) {
			t.Errorf("%s: memetcd and etcd differ\nmemetcd: %q\netcd:    %q", st.name, norm(got[i]), norm(ref[i]))
		}
	}
	t.Logf("%d of %d etcdctl steps compared with etcd %s", compared, len(etcdctlScript), "v3.7.3")

}
