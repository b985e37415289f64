// Package bins finds the binaries the tests and localcluster run: the upstream
// ones built by the root Makefile (kube-apiserver, etcd, kwok, ...) and this
// workspace's own. They live in one directory, $K8S1M_BIN, or <repo root>/bin
// where the repo root is the nearest directory holding go.work.
package bins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables read by this package.
const (
	// EnvDir names the binary directory; it overrides <repo root>/bin.
	EnvDir = "K8S1M_BIN"
	// EnvRequire, when "1", turns a missing binary from a skip into a failure.
	// CI sets it so a broken build cannot pass as a green run of skipped tests.
	EnvRequire = "K8S1M_REQUIRE_BINARIES"
)

// ErrMissing is returned (wrapped) when a binary is not in the directory.
var ErrMissing = errors.New("binary not built")

// upstream lists the binaries built at pinned versions by `make bin/<name>`;
// every other name is a workspace binary built by `make bins`.
var upstream = map[string]bool{
	"kube-apiserver":          true,
	"kube-scheduler":          true,
	"kube-controller-manager": true,
	"kubectl":                 true,
	"etcd":                    true,
	"etcdctl":                 true,
	"kwok":                    true,
}

// MakeTarget returns the make command (run from the repo root) that builds name.
func MakeTarget(name string) string {
	if upstream[name] {
		return "make bin/" + name
	}
	return "make bins"
}

// RepoRoot walks up from dir to the nearest directory containing go.work.
func RepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("repo root from %s: %w", dir, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s: set %s to the binary directory", abs, EnvDir)
		}
	}
}

// Dir returns the binary directory: $K8S1M_BIN if set, else <repo root>/bin with
// the repo root found from the working directory.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("binary dir: %w", err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// Path returns the path of binary name in Dir, or an error wrapping ErrMissing
// that names the make target to run.
func Path(name string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	return PathIn(dir, name)
}

// PathIn is Path with an explicit directory.
func PathIn(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s not found in %s: %w (run `%s` from the repo root)", name, dir, ErrMissing, MakeTarget(name))
	case err != nil:
		return "", fmt.Errorf("stat %s: %w", p, err)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return "", fmt.Errorf("%s is not an executable file: %w (run `%s` from the repo root)", p, ErrMissing, MakeTarget(name))
	}
	return p, nil
}

// Required reports whether missing binaries must fail tests (EnvRequire=1).
func Required() bool { return os.Getenv(EnvRequire) == "1" }
