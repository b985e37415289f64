package check

import (
	"errors"
	"os"
	"path/filepath"
)

// RepoRoot walks up from the working directory to the directory holding
// go.work and versions.txt.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "versions.txt")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the k8s1m repository (no versions.txt above the working directory)")
		}
		dir = parent
	}
}
