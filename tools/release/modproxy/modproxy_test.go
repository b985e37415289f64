package modproxy

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMainWorkTree: commits are read through the main work tree when the
// release runs in a linked one (git worktree add), where .git is a file.
func TestMainWorkTree(t *testing.T) {
	dir := t.TempDir()
	main, linked := filepath.Join(dir, "main"), filepath.Join(dir, "linked")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", main)
	git("-C", main, "commit", "-q", "--allow-empty", "-m", "first")
	git("-C", main, "worktree", "add", "-q", "-b", "side", linked)
	for _, tree := range []string{main, linked} {
		got, err := mainWorkTree(tree)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := filepath.EvalSymlinks(main); got != main && got != want {
			t.Errorf("mainWorkTree(%s) = %s, want %s", tree, got, main)
		}
	}
	if _, err := mainWorkTree(filepath.Join(dir, "nothing")); err == nil {
		t.Error("not a repository: no error")
	}
}
