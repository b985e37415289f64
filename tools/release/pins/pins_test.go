package pins

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/tools/release/versions"
)

const versionsTxt = `module cli v0.1.0 aaaa
pin k8s.io/kubernetes v1.37.2
pin k8s.io/staging v0.37.2
pin go.etcd.io/etcd v3.7.3
pin sigs.k8s.io/kwok v0.8.0
`

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		gomod string
		want  []string // substrings of expected problems; empty = clean
	}{
		{name: "clean", gomod: `module github.com/k8s1m/k8s1m/x
require (
	github.com/k8s1m/k8s1m/cli v0.1.0
	k8s.io/client-go v0.37.2
	go.etcd.io/etcd/api/v3 v3.7.3
	go.etcd.io/etcd/server/v3 v3.7.0 // indirect
)`},
		{name: "indirect etcd of another minor", gomod: `module github.com/k8s1m/k8s1m/x
require go.etcd.io/etcd/server/v3 v3.6.5 // indirect`, want: []string{"server/v3 v3.6.5"}},
		{name: "kube with full replace block", gomod: `module github.com/k8s1m/k8s1m/x
require k8s.io/kubernetes v1.37.2
require k8s.io/api v0.0.0
replace (
	k8s.io/api => k8s.io/api v0.37.2
	k8s.io/client-go => k8s.io/client-go v0.37.2
)`},
		{name: "wrong versions", gomod: `module github.com/k8s1m/k8s1m/x
require (
	github.com/k8s1m/k8s1m/cli v0.0.9
	k8s.io/client-go v0.36.0
	go.etcd.io/etcd/client/v3 v3.7.0
	sigs.k8s.io/kwok v0.7.0
)`, want: []string{"cli v0.0.9", "client-go v0.36.0", "client/v3 v3.7.0", "kwok v0.7.0"}},
		{name: "unreleased sibling and relative replace", gomod: `module github.com/k8s1m/k8s1m/x
require github.com/k8s1m/k8s1m/proto v0.1.0
replace github.com/k8s1m/k8s1m/proto => ../proto`, want: []string{"no release", "points at a directory"}},
		{name: "kube missing replaces", gomod: `module github.com/k8s1m/k8s1m/x
require k8s.io/kubernetes v1.36.0
replace k8s.io/api => k8s.io/api v0.36.0`, want: []string{"kubernetes v1.36.0", "k8s.io/api => v0.36.0", "k8s.io/client-go"}},
	}
	f, err := versions.Parse([]byte(versionsTxt))
	if err != nil {
		t.Fatal(err)
	}
	staging := []string{"k8s.io/api", "k8s.io/client-go"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "x", "go.mod"), []byte(tt.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			probs, err := Check(root, []string{"x"}, f, staging)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, p := range probs {
				all = append(all, p.String())
			}
			joined := strings.Join(all, "\n")
			if len(tt.want) == 0 && len(probs) > 0 {
				t.Fatalf("unexpected problems:\n%s", joined)
			}
			for _, w := range tt.want {
				if !strings.Contains(joined, w) {
					t.Errorf("missing problem %q in:\n%s", w, joined)
				}
			}
			if len(probs) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(probs), len(tt.want), joined)
			}
		})
	}
}

func TestStagingModulesFromRepo(t *testing.T) {
	mods, err := StagingModules(filepath.Join("..", "..", "kube", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 30 {
		t.Fatalf("only %d staging modules in tools/kube/go.mod", len(mods))
	}
}
