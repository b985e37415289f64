package workfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/tools/release/versions"
)

// Not in path order: Rewrite sorts the directives, Problems keeps this order.
const versionsTxt = `module relay v0.1.1 bbbb
module cli v0.1.0 aaaa
pin k8s.io/kubernetes v1.37.2
`

const head = "go 1.26.0\n\nuse (\n\t./cli\n\t./relay\n)\n"

const synced = head + `
replace (
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)
`

var cases = []struct {
	name  string
	in    string
	probs []string // substrings, one per expected problem, in order
	out   string   // Rewrite's result
}{
	{name: "in sync", in: synced, out: synced},
	{name: "no replace block", in: head, probs: []string{
		"go.work: missing replace github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay",
		"go.work: missing replace github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli",
	}, out: synced},
	{name: "single line gains a block", in: head + "\nreplace github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli\n",
		probs: []string{"missing replace github.com/k8s1m/k8s1m/relay v0.1.1"}, out: synced},
	{name: "stale version", in: head + `
replace (
	github.com/k8s1m/k8s1m/relay v0.1.0 => ./relay // the relay
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
)
`, probs: []string{"go.work:9: replace github.com/k8s1m/k8s1m/relay v0.1.0: the released version is v0.1.1"}, out: synced},
	{name: "unversioned", in: head + `
replace (
	github.com/k8s1m/k8s1m/cli => ./cli
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)
`, probs: []string{"go.work:9: replace github.com/k8s1m/k8s1m/cli => ./cli names no version"}, out: synced},
	{name: "wrong directory or a module", in: head + `
replace (
	github.com/k8s1m/k8s1m/cli v0.1.0 => ../cli
	github.com/k8s1m/k8s1m/relay v0.1.1 => github.com/fork/relay v0.1.1
)
`, probs: []string{
		"go.work:9: replace github.com/k8s1m/k8s1m/cli v0.1.0 => ../cli: want the module's directory",
		"go.work:10: replace github.com/k8s1m/k8s1m/relay v0.1.1 => github.com/fork/relay v0.1.1: want",
	}, out: synced},
	{name: "unreleased module and a duplicate", in: head + `
replace (
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
	github.com/k8s1m/k8s1m/memetcd v0.1.0 => ./memetcd
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
)
`, probs: []string{
		"go.work:10: replace github.com/k8s1m/k8s1m/memetcd: the module has no release",
		"go.work:12: replace github.com/k8s1m/k8s1m/cli v0.1.0 appears more than once",
	}, out: synced},
	{name: "other replaces and comments kept", in: head + `
// Local x/mod while debugging.
replace golang.org/x/mod => ../mod

replace (
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)
`, probs: []string{"missing replace github.com/k8s1m/k8s1m/cli v0.1.0"}, out: head + `
// Local x/mod while debugging.
replace golang.org/x/mod => ../mod

replace (
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)
`},
	{name: "mixed block", in: head + `
replace (
	golang.org/x/mod => ../mod
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)
`, probs: []string{"missing replace github.com/k8s1m/k8s1m/cli v0.1.0"}, out: head + `
replace (
	golang.org/x/mod => ../mod
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)
`},
	{name: "single line before use", in: "go 1.26.0\n\nreplace github.com/k8s1m/k8s1m/cli v0.0.1 => ./cli\n\nuse ./cli\n",
		probs: []string{"released version is v0.1.0", "missing replace github.com/k8s1m/k8s1m/relay"},
		out: `go 1.26.0

replace (
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
	github.com/k8s1m/k8s1m/relay v0.1.1 => ./relay
)

use ./cli
`},
}

func testVersions(t *testing.T) *versions.File {
	t.Helper()
	f, err := versions.Parse([]byte(versionsTxt))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestProblems(t *testing.T) {
	f := testVersions(t)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			probs, err := Problems(Name, []byte(tt.in), f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if len(got) != len(tt.probs) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.probs), strings.Join(got, "\n"))
			}
			for i, want := range tt.probs {
				if !strings.Contains(got[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], want)
				}
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	f := testVersions(t)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Rewrite(Name, []byte(tt.in), f)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.out {
				t.Fatalf("got\n%s\nwant\n%s", out, tt.out)
			}
			probs, err := Problems(Name, out, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) > 0 {
				t.Fatalf("rewritten file still has problems: %v", probs)
			}
			again, err := Rewrite(Name, out, f)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Fatalf("second rewrite changed the file:\n%s", again)
			}
		})
	}
}

func TestCheckAndWrite(t *testing.T) {
	f := testVersions(t)
	root := t.TempDir()
	path := filepath.Join(root, Name)
	if err := os.WriteFile(path, []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	if probs, err := Check(root, f); err != nil || len(probs) != 2 {
		t.Fatalf("Check = %v, %v; want 2 problems", probs, err)
	}
	for i, want := range []bool{true, false} {
		changed, err := Write(root, f)
		if err != nil || changed != want {
			t.Fatalf("Write #%d = %v, %v; want changed=%v", i+1, changed, err, want)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != synced {
		t.Fatalf("go.work =\n%s\nwant\n%s", data, synced)
	}
	if probs, err := Check(root, f); err != nil || len(probs) != 0 {
		t.Fatalf("Check after Write = %v, %v", probs, err)
	}
	if _, err := Check(t.TempDir(), f); err == nil {
		t.Fatal("Check of a directory without go.work succeeded")
	}
}

// TestRepository checks the repository's own go.work against its versions.txt,
// so a hand edit of either that breaks the workspace fails the unit tests too.
func TestRepository(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	f, err := versions.Load(filepath.Join(root, "versions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	probs, err := Check(root, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Error(p)
	}
}
