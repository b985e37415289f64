// Package modproxy writes a file-system Go module proxy (GOPROXY=file://...) that
// serves every k8s1m module at its released version, zipped from the git commit
// recorded in versions.txt. It is how a module builds alone (GOWORK=off) from its
// own go.mod while the repository is not published: the go command fetches
// siblings at real versions exactly as it would from a public proxy, and go.sum
// hashes match because module zips are deterministic.
package modproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/tools/release/versions"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// Write fills dir with the proxy layout for every release in f. repoRoot is the
// git work tree the commits are read from.
func Write(dir, repoRoot string, f *versions.File) error {
	repoRoot, err := mainWorkTree(repoRoot)
	if err != nil {
		return err
	}
	for _, r := range f.Releases {
		if err := writeOne(dir, repoRoot, r); err != nil {
			return fmt.Errorf("module %s %s: %w", r.Dir, r.Version, err)
		}
	}
	return nil
}

func writeOne(dir, repoRoot string, r versions.Release) error {
	escPath, err := module.EscapePath(r.Path())
	if err != nil {
		return err
	}
	vdir := filepath.Join(dir, escPath, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	mv := module.Version{Path: r.Path(), Version: r.Version}

	gomod, err := gitShow(repoRoot, r.Commit, r.Dir+"/go.mod")
	if err != nil {
		return fmt.Errorf("read go.mod at %s (is the commit in this clone?): %w", short(r.Commit), err)
	}
	when, err := commitTime(repoRoot, r.Commit)
	if err != nil {
		return err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{r.Version, when})

	var zbuf bytes.Buffer
	if err := modzip.CreateFromVCS(&zbuf, mv, repoRoot, r.Commit, r.Dir); err != nil {
		return fmt.Errorf("zip from commit %s: %w", short(r.Commit), err)
	}
	files := map[string][]byte{
		r.Version + ".mod":  gomod,
		r.Version + ".info": info,
		r.Version + ".zip":  zbuf.Bytes(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return err
		}
	}
	// The list holds every version written so far, so repeated writes accumulate.
	list := filepath.Join(vdir, "list")
	old, _ := os.ReadFile(list)
	if !bytes.Contains(old, []byte(r.Version+"\n")) {
		old = append(old, []byte(r.Version+"\n")...)
	}
	return os.WriteFile(list, old, 0o644)
}

// mainWorkTree is the work tree whose .git directory holds repoRoot's commits.
// It is repoRoot itself except in a linked work tree (git worktree add), where
// .git is a file: the zip package reads commits only from a work tree whose
// .git is the git directory, and the commits are the same in the main one.
func mainWorkTree(repoRoot string) (string, error) {
	out, err := exec.Command("git", "-C", repoRoot, "rev-parse", "--path-format=absolute", "--git-common-dir").Output()
	if err != nil {
		return "", fmt.Errorf("git directory of %s: %w", repoRoot, gitErr(err))
	}
	common := strings.TrimSpace(string(out))
	if filepath.Base(common) != ".git" {
		return repoRoot, nil // a bare or unusual layout: let the zip package judge it
	}
	return filepath.Dir(common), nil
}

func gitShow(repo, commit, path string) ([]byte, error) {
	out, err := exec.Command("git", "-C", repo, "show", commit+":"+path).Output()
	if err != nil {
		return nil, gitErr(err)
	}
	return out, nil
}

func commitTime(repo, commit string) (time.Time, error) {
	out, err := exec.Command("git", "-C", repo, "show", "-s", "--format=%cI", commit).Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("commit time of %s: %w", short(commit), gitErr(err))
	}
	return time.Parse(time.RFC3339, strings.TrimSpace(string(out)))
}

func gitErr(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// Env returns the environment a go command needs to build one module alone
// against the proxy in dir: no workspace, the local proxy first, and no checksum
// database lookups for k8s1m modules (they are not public).
func Env(dir string) []string {
	upstream := os.Getenv("GOPROXY")
	if upstream == "" {
		upstream = "https://proxy.golang.org,direct"
	}
	return []string{
		"GOWORK=off",
		"GOPROXY=file://" + dir + "," + upstream,
		"GONOSUMDB=github.com/k8s1m/*",
		"GONOSUMCHECK=1",
		"GOFLAGS=-mod=mod",
		// The go command indexes a module cache directory once, by path,
		// as if it could never change. A version cut again (a first cut
		// withdrawn before it reached main) would then build from the old
		// cut's file list on any machine that had fetched it.
		"GODEBUG=goindex=0",
	}
}
