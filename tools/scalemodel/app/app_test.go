package app

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
	"github.com/k8s1m/k8s1m/tools/scalemodel/model"
)

var (
	repoRoot  = filepath.Join("..", "..", "..")
	costsFile = filepath.Join(repoRoot, costs.DefaultPath)
	// tfvarsFile is the terraform example the 1M answer must match.
	tfvarsFile = filepath.Join(repoRoot, "terraform", "examples", "1m-nodes.tfvars")
)

// run runs the command with args and returns what it printed.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRoot()
	var out bytes.Buffer
	root.Cmd.SetOut(&out)
	root.Cmd.SetErr(&out)
	root.Cmd.SetArgs(args)
	err := root.Cmd.Execute()
	return out.String(), err
}

// oneMillion is the model's 1M answer: plan with no flags.
func oneMillion(t *testing.T) map[string]int {
	t.Helper()
	f, err := costs.Load(costsFile)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	r, err := model.Plan(&f.Figures, o.Cluster, o.Machines, DefaultTarget.Seconds())
	if err != nil {
		t.Fatal(err)
	}
	return r.TFVars()
}

func TestPlanPrintsTheAnswer(t *testing.T) {
	out, err := run(t, "plan", "--costs", costsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bound by:", "kube-apiserver", "memetcd leases", "distscheduler members", "How the answer moves", "distscheduler_replicas = "} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}

func TestPlanTFVarsMatchModel(t *testing.T) {
	out, err := run(t, "plan", "--tfvars", "--costs", costsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := oneMillion(t)
	got := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		name, val, ok := strings.Cut(line, " = ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		n, err := strconv.Atoi(val)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got[name] = n
	}
	for _, name := range model.TFVarNames {
		if got[name] != want[name] {
			t.Errorf("%s = %d printed, model says %d", name, got[name], want[name])
		}
	}
}

// TestTerraformExampleMatchesModel keeps terraform's 1M example and the
// model's 1M answer the same. When a figure in docs/scale-costs.json changes
// the answer, this fails until the tfvars are updated from
// `go run ./tools/scalemodel/cmd/scalemodel plan --tfvars`.
func TestTerraformExampleMatchesModel(t *testing.T) {
	if _, err := os.Stat(tfvarsFile); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s does not exist yet (terraform is being written): nothing to compare the 1M answer with", tfvarsFile)
	}
	file, diags := hclparse.NewParser().ParseHCLFile(tfvarsFile)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", tfvarsFile, diags.Error())
	}
	attrs, diags := file.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("%s: %s", tfvarsFile, diags.Error())
	}
	want := oneMillion(t)
	for _, name := range model.TFVarNames {
		attr, ok := attrs[name]
		if !ok {
			t.Errorf("%s does not set %s (the model says %d)", tfvarsFile, name, want[name])
			continue
		}
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() || !v.Type().IsPrimitiveType() || v.AsBigFloat() == nil {
			t.Errorf("%s: %s is not a number literal: %s", tfvarsFile, name, diags.Error())
			continue
		}
		got, acc := v.AsBigFloat().Int64()
		if acc != big.Exact || got != int64(want[name]) {
			t.Errorf("%s sets %s = %s, the model's 1M answer is %d (go run ./tools/scalemodel/cmd/scalemodel plan --tfvars)",
				tfvarsFile, name, v.AsBigFloat().String(), want[name])
		}
	}
}

func TestSetChangesTheAnswer(t *testing.T) {
	today, err := run(t, "plan", "--tfvars", "--costs", costsFile)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := run(t, "plan", "--tfvars", "--costs", costsFile, "--set", "sched_fixed_ms=0.05")
	if err != nil {
		t.Fatal(err)
	}
	if cut == today {
		t.Fatalf("--set sched_fixed_ms=0.05 left the answer unchanged:\n%s", cut)
	}
}

func TestCheckPrintsEveryRun(t *testing.T) {
	out, err := run(t, "check", "--costs", costsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10K (2026-12-05, quiet)", "50K (2026-12-05, quiet)", "pods/s", "nodes phase s"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

func TestBadInputIsRefused(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing.json")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--costs", costsFile, "--nodes", "0"}, "nodes 0"},
		{[]string{"plan", "--costs", costsFile, "--utilisation", "2"}, "utilisation"},
		{[]string{"plan", "--costs", costsFile, "--target", "0s"}, "target"},
		{[]string{"predict", "--costs", costsFile, "--members", "0"}, "--members 0"},
		{[]string{"check", "--costs", missing}, "nothing.json"},
		{[]string{"plan", "--costs", costsFile, "--set", "sched_fixd_ms=0.25"}, "sched_fixd_ms"},
		{[]string{"plan", "--costs", costsFile, "--set", "sched_fixed_ms=-1"}, "sched_fixed_ms"},
	}
	for _, tt := range tests {
		_, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
