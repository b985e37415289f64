package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Unreleased marks a k8s1m module the deployment needs but versions.txt has
// no release of yet: apply needs a release first.
const Unreleased = "unreleased"

// TestVersionsFile holds terraform/versions.tf to versions.txt: each k8s1m
// module it deploys is at the release versions.txt records (or marked
// unreleased while there is none, and no longer once there is), upstream
// builds are at the workspace pins, and OpenTofu (tools/tofu) is at its pin.
func TestVersionsFile(t *testing.T) {
	root := repoRoot(t)
	repo, err := LoadRepoVersions(filepath.Join(root, "versions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "terraform", "versions.tf")
	mods, err := LocalStringMap(file, "k8s1m_versions")
	if err != nil {
		t.Fatal(err)
	}
	for dir, v := range mods {
		if _, err := os.Stat(filepath.Join(root, dir, "go.mod")); err != nil {
			t.Errorf("k8s1m_versions.%s: no module %s/ in the repository", dir, dir)
			continue
		}
		released, ok := repo.Modules[dir]
		switch {
		case !ok && v == Unreleased:
			t.Logf("%s has no release yet: terraform apply needs `release %s <version>` and its version here", dir, dir)
		case !ok:
			t.Errorf("k8s1m_versions.%s = %q, but versions.txt has no release of %s (want %q until there is one)", dir, v, dir, Unreleased)
		case v != released:
			t.Errorf("k8s1m_versions.%s = %q, versions.txt records %s %s", dir, v, dir, released)
		}
	}
	// Every deployed binary's module is named: the images and artifacts
	// reference local.k8s1m_versions.<module> for each of them.
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"memetcd", "relay", "distscheduler", "wggateway"} {
		if _, ok := mods[dir]; !ok {
			t.Errorf("k8s1m_versions has no %s, which the deployment runs", dir)
		}
		if !strings.Contains(string(src), "local.k8s1m_versions."+dir+"}") {
			t.Errorf("versions.tf: nothing is deployed at local.k8s1m_versions.%s", dir)
		}
	}
	// A version written anywhere else than the maps would escape this check.
	literal := regexp.MustCompile(`:v[0-9]+\.[0-9]+\.[0-9]+`)
	for _, name := range []string{"images", "artifacts"} {
		m, err := LocalStringMapExprs(file, name)
		if err != nil {
			t.Fatal(err)
		}
		for k, expr := range m {
			if literal.MatchString(expr) {
				t.Errorf("local.%s.%s = %s names a version literally; take it from the version maps", name, k, expr)
			}
		}
	}

	up, err := LocalStringMap(file, "upstream_versions")
	if err != nil {
		t.Fatal(err)
	}
	for key, pin := range map[string]string{"kubernetes": "k8s.io/kubernetes", "kwok": "sigs.k8s.io/kwok"} {
		if up[key] != repo.Pins[pin] {
			t.Errorf("upstream_versions.%s = %q, versions.txt pins %s %s", key, up[key], pin, repo.Pins[pin])
		}
	}

	tofu := repo.Pins["github.com/opentofu/opentofu"]
	gomod, err := os.ReadFile(filepath.Join(root, "tools", "tofu", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if tofu == "" || !strings.Contains(string(gomod), "github.com/opentofu/opentofu "+tofu+" ") {
		t.Errorf("tools/tofu/go.mod does not require github.com/opentofu/opentofu at the versions.txt pin %q", tofu)
	}
}
