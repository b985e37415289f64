// Package pins checks that every module's go.mod agrees with versions.txt: one
// Kubernetes version (and every k8s.io staging module replaced to its matching
// v0.x), one etcd version (indirect requirements: the same minor release), one kwok version, siblings required at their released
// versions, and no replace directive pointing at a relative path.
package pins

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/k8s1m/k8s1m/tools/release/versions"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// Problem is one disagreement, with the go.mod it was found in.
type Problem struct {
	GoMod string
	Msg   string
}

func (p Problem) String() string { return p.GoMod + ": " + p.Msg }

// Check reads the go.mod of each dir (relative to root) and returns every
// disagreement. stagingModules is the set of k8s.io modules Kubernetes keeps in
// its staging tree (from the canonical replace block in tools/kube/go.mod).
func Check(root string, dirs []string, f *versions.File, stagingModules []string) ([]Problem, error) {
	var problems []Problem
	for _, dir := range dirs {
		path := filepath.Join(root, dir, "go.mod")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		mf, err := modfile.Parse(path, data, nil)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		rel := filepath.Join(dir, "go.mod")
		for _, msg := range checkOne(mf, f, stagingModules) {
			problems = append(problems, Problem{GoMod: rel, Msg: msg})
		}
	}
	return problems, nil
}

func checkOne(mf *modfile.File, f *versions.File, staging []string) []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }

	isStaging := map[string]bool{}
	for _, m := range staging {
		isStaging[m] = true
	}
	replaced := map[string]string{}
	for _, r := range mf.Replace {
		if strings.HasPrefix(r.New.Path, "./") || strings.HasPrefix(r.New.Path, "../") || filepath.IsAbs(r.New.Path) {
			bad("replace %s => %s points at a directory; released go.mod files must require real versions", r.Old.Path, r.New.Path)
			continue
		}
		replaced[r.Old.Path] = r.New.Version
	}

	kube, etcd, kwok, staged := f.Pins["k8s.io/kubernetes"], f.Pins["go.etcd.io/etcd"], f.Pins["sigs.k8s.io/kwok"], f.Pins["k8s.io/staging"]
	usesKube := false
	for _, req := range mf.Require {
		p, v := req.Mod.Path, req.Mod.Version
		switch {
		case p == "k8s.io/kubernetes":
			usesKube = true
			if v != kube {
				bad("requires k8s.io/kubernetes %s, pin is %s", v, kube)
			}
		case isStaging[p]:
			if rv, ok := replaced[p]; ok {
				v = rv
			}
			if v != staged {
				bad("uses %s %s, pin is %s (go get %s@%s)", p, v, staged, p, staged)
			}
		case strings.HasPrefix(p, "go.etcd.io/etcd/"):
			// Direct requirements take the pin exactly; indirect ones (what an
			// upstream binary such as kube-apiserver was released with) must be
			// of the pinned minor release.
			if req.Indirect && semver.MajorMinor(v) == semver.MajorMinor(etcd) {
				continue
			}
			if v != etcd {
				bad("requires %s %s, pin is %s (go get %s@%s)", p, v, etcd, p, etcd)
			}
		case p == "sigs.k8s.io/kwok":
			if v != kwok {
				bad("requires sigs.k8s.io/kwok %s, pin is %s", v, kwok)
			}
		case strings.HasPrefix(p, versions.ModulePathPrefix):
			dir := strings.TrimPrefix(p, versions.ModulePathPrefix)
			r, ok := f.Release(dir)
			switch {
			case !ok:
				bad("requires %s %s, which has no release in versions.txt (release it first)", p, v)
			case r.Version != v:
				bad("requires %s %s, released version is %s (go get %s@%s)", p, v, r.Version, p, r.Version)
			}
		}
	}
	if usesKube {
		var missing []string
		for _, m := range staging {
			rv, ok := replaced[m]
			if !ok {
				missing = append(missing, m)
			} else if rv != staged {
				bad("replace %s => %s, pin is %s", m, rv, staged)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			bad("requires k8s.io/kubernetes but does not replace staging modules %s (copy the block from tools/kube/go.mod)", strings.Join(missing, ", "))
		}
	}
	return msgs
}

// StagingModules returns the modules replaced in the canonical go.mod (tools/kube).
func StagingModules(canonicalGoMod string) ([]string, error) {
	data, err := os.ReadFile(canonicalGoMod)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.Parse(canonicalGoMod, data, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range mf.Replace {
		if strings.HasPrefix(r.Old.Path, "k8s.io/") {
			out = append(out, r.Old.Path)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no k8s.io replace block", canonicalGoMod)
	}
	return out, nil
}
