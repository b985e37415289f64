package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/makenodes/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tests run this test binary as makenodes itself: a real process, real
// flags, real exit status.
func TestMain(m *testing.M) {
	if os.Getenv("MAKENODES_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func makenodes(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MAKENODES_TEST_RUN_MAIN=1", "KUBECONFIG=")
	return cmd
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := makenodes(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{name: "original interface, dry run", args: []string{"-count", "30", "-perKwokGroup", "10", "-dry-run"},
			wantOut: "3 kwok groups of 10"},
		{name: "bad kubeconfig", args: []string{"-count", "10", "-kubeconfig", "/nonexistent/kubeconfig"},
			wantCode: 1, wantErr: "load kubeconfig /nonexistent/kubeconfig"},
		{name: "bad cpu", args: []string{"-count", "10", "-cpu", "lots"}, wantCode: 1, wantErr: `--cpu "lots"`},
		{name: "bad memory", args: []string{"nodes", "create", "--memory", "-1Gi"}, wantCode: 1, wantErr: "--memory"},
		{name: "bad pods", args: []string{"-count", "10", "-podsPerNode", "0"}, wantCode: 1, wantErr: "--pods 0"},
		{name: "bad taint", args: []string{"-count", "10", "-taints", "x:Never"}, wantCode: 1, wantErr: "effect"},
		{name: "unknown flag", args: []string{"-bogus", "1"}, wantCode: 1, wantErr: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q in stdout, %q in stderr",
					code, tt.wantCode, out, errOut, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// TestInterruptSaysHowFar sends SIGINT in the middle of a run against a real
// apiserver: makenodes stops, says how far it got, exits non-zero, and a
// re-run finishes the job.
func TestInterruptSaysHowFar(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store and kube-apiserver")
	}
	c := testcluster.StartPreferred(t)
	ctx := context.Background()
	args := []string{"-count", "2000", "-kubeconfig", c.Kubeconfig, "-qps", "100", "-concurrency", "20", "-progress-interval", "1s"}
	var errb bytes.Buffer
	cmd := makenodes(ctx, args...)
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %v\n%s", err, errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit after SIGINT: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"interrupted", "re-run"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("re-run exit %d\n%s%s", code, out, errOut)
	}
	l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 2000 {
		t.Fatalf("after re-run: %d nodes, err %v", len(l.Items), err)
	}
}

// TestKwokRun: `makenodes kwok run` starts one controller per group for the
// nodes that `makenodes` creates; they become Ready; SIGINT stops it cleanly.
func TestKwokRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a store, kube-apiserver and kwok")
	}
	kwokBin := bins.RequireBinary(t, "kwok")
	c := testcluster.StartPreferred(t)
	ctx := context.Background()
	var errb bytes.Buffer
	kw := makenodes(ctx, "kwok", "run", "-count", "40", "-perKwokGroup", "20", "-kubeconfig", c.Kubeconfig,
		"--kwok-binary", kwokBin, "--dir", t.TempDir())
	kw.Stderr = &errb
	if err := kw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kw.Process.Kill() })
	if out, errOut, code := run(t, "-count", "40", "-perKwokGroup", "20", "-kubeconfig", c.Kubeconfig); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			for _, n := range l.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if ready == 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 40 nodes Ready (err %v)\n%s", ready, err, errb.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := kw.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := kw.Wait(); err != nil {
		t.Fatalf("kwok run after SIGINT: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "kwok controllers stopped") {
		t.Fatalf("no clean stop logged:\n%s", errb.String())
	}
}
