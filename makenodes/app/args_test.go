package app

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestSingleDashArgs(t *testing.T) {
	root := NewRoot().Cmd
	tests := []struct {
		in, want []string
	}{
		{[]string{"-count", "1000", "-perKwokGroup", "10", "-kubeconfig", "k.yaml"},
			[]string{"--count", "1000", "--perKwokGroup", "10", "--kubeconfig", "k.yaml"}},
		{[]string{"-count=5", "-dry-run"}, []string{"--count=5", "--dry-run"}},
		{[]string{"--count", "5", "-h"}, []string{"--count", "5", "-h"}},
		{[]string{"pods", "create", "-scheduler-name", "x"}, []string{"pods", "create", "--scheduler-name", "x"}},
		{[]string{"-unknown", "-5"}, []string{"-unknown", "-5"}},
		{[]string{"--", "-count"}, []string{"--", "-count"}},
	}
	for _, tt := range tests {
		if got := SingleDashArgs(root, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SingleDashArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestOriginalInterface runs the original's spelling end to end (dry run, so
// no apiserver is needed) and checks the flags landed.
func TestOriginalInterface(t *testing.T) {
	root := NewRoot()
	var out bytes.Buffer
	root.Cmd.SetOut(&out)
	root.Cmd.SetArgs(SingleDashArgs(root.Cmd, []string{"-count", "25000", "-perKwokGroup", "10000", "-podsPerNode", "32", "-dry-run"}))
	if err := root.Cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kwok-node-0..kwok-node-24999 (25000), 3 kwok groups of 10000", `pods: "32"`, "kwok-group: \"0\""} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadFlagsFailBeforeAnyCall(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--count", "10", "--cpu", "lots"}, "--cpu"},
		{[]string{"--count", "10", "--memory", "0"}, "--memory"},
		{[]string{"--count", "10", "--taints", "a=b:Sometimes"}, "effect"},
		{[]string{"--count", "10", "--per-kwok-group", "0"}, "--per-kwok-group"},
		{[]string{"nodes", "create", "--labels", "nope"}, "--labels"},
		{[]string{"pods", "create", "--cpu", "x"}, "--cpu"},
		{[]string{"pods", "create", "--namespace", "Bad_NS"}, "--namespace"},
		{[]string{"--count", "10", "--concurrency", "0", "--kubeconfig", "/nonexistent"}, "--concurrency"},
		{[]string{"--count", "10", "--kubeconfig", "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			root := NewRoot()
			root.Cmd.SetArgs(tt.args)
			err := root.Cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestKwokManifestCommand(t *testing.T) {
	root := NewRoot()
	var out bytes.Buffer
	root.Cmd.SetOut(&out)
	root.Cmd.SetArgs(SingleDashArgs(root.Cmd, []string{"kwok", "manifest", "-count", "25000", "-perKwokGroup", "10000"}))
	if err := root.Cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "replicas: 3\n") {
		t.Fatalf("manifest for 25000 nodes at 10000 per group lacks replicas: 3:\n%s", out.String())
	}
}
