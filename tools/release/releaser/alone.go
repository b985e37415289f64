package releaser

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/k8s1m/k8s1m/tools/release/modproxy"
	"github.com/k8s1m/k8s1m/tools/release/versions"
)

// Proxy writes the local module proxy for f's releases into a new temporary
// directory and returns it with a cleanup function.
func Proxy(root string, f *versions.File) (string, func(), error) {
	dir, err := os.MkdirTemp("", "k8s1m-goproxy-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := modproxy.Write(dir, root, f); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("module proxy: %w", err)
	}
	return dir, cleanup, nil
}

// CheckAlone proves that module dir builds, and its tests compile, from its own
// go.mod alone: no workspace, siblings fetched at their released versions from the
// proxy in proxyDir, and go.mod/go.sum left untouched (-mod=readonly).
func CheckAlone(ctx context.Context, root, dir, proxyDir string, out io.Writer) error {
	env := append(os.Environ(), modproxy.Env(proxyDir)...)
	env = append(env, "GOFLAGS=-mod=readonly") // later entries win
	// -o /dev/null: with a single main package a plain `go build ./...` would
	// drop a binary into the module; go discards output written to /dev/null.
	for _, args := range [][]string{{"build", "-o", os.DevNull, "./..."}, {"vet", "./..."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = filepath.Join(root, dir)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: GOWORK=off go %s: %w", dir, args[0], err)
		}
	}
	return nil
}
