// Command release is the workspace's release and consistency tool.
//
//	release MODULE VERSION [--dry-run]   cut a release (see package releaser)
//	release check [MODULE...]            pins agree, each module builds alone
//	release proxy [--out DIR]            write the local module proxy
//	release workfile                     set go.work's replace lines from versions.txt
//
// Run it from anywhere inside the repository (it finds the root by go.work).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/k8s1m/k8s1m/tools/release/modproxy"
	"github.com/k8s1m/k8s1m/tools/release/pins"
	"github.com/k8s1m/k8s1m/tools/release/releaser"
	"github.com/k8s1m/k8s1m/tools/release/versions"
	"github.com/k8s1m/k8s1m/tools/release/workfile"
	"golang.org/x/mod/modfile"
)

const usage = `usage:
  release MODULE VERSION [--dry-run] [--out DIR] [--image-repo REPO]
      check MODULE builds alone, build its binaries with VERSION stamped in and
      an OCI image archive per binary; unless --dry-run, tag MODULE/VERSION and
      record the release in versions.txt and go.work
  release check [MODULE...]
      every go.mod agrees with the pins in versions.txt, go.work replaces each
      released version with its directory, and every module (or those named)
      builds alone from its own go.mod (GOWORK=off)
  release proxy [--out DIR]
      write the local module proxy (default .cache/goproxy) serving every
      released module, for GOPROXY=file://DIR
  release workfile
      rewrite go.work's replace lines to one "MODULE VERSION => ./DIR" per
      release in versions.txt (the workspace needs them with an empty module
      cache). When a stale go.work keeps the workspace from loading, run it
      outside the workspace:
        cd tools/release && GOWORK=off go run ./cmd/release workfile
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return flag.ErrHelp
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	switch args[0] {
	case "check":
		return check(ctx, root, args[1:])
	case "proxy":
		fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
		out := fs.String("out", filepath.Join(root, ".cache", "goproxy"), "proxy directory")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		f, err := versions.Load(filepath.Join(root, "versions.txt"))
		if err != nil {
			return err
		}
		if err := modproxy.Write(*out, root, f); err != nil {
			return err
		}
		fmt.Printf("GOPROXY=file://%s,%s\n", *out, "https://proxy.golang.org,direct")
		return nil
	case "workfile":
		if len(args) > 1 {
			return flag.ErrHelp
		}
		return writeWorkfile(root)
	}
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "build and check everything, tag and record nothing")
	out := fs.String("out", filepath.Join(root, "dist"), "output directory for binaries and images")
	repo := fs.String("image-repo", "ghcr.io/k8s1m", "image repository prefix")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	start := time.Now()
	res, err := releaser.Release(ctx, releaser.Options{
		Root: root, Module: args[0], Version: args[1], DryRun: *dry, Out: *out, ImageRepo: *repo, Log: os.Stdout,
	})
	if err != nil {
		return err
	}
	fmt.Printf("released %s %s (%d binaries) in %s\n", res.Module, res.Version, len(res.Artifacts), time.Since(start).Round(time.Second))
	return nil
}

func check(ctx context.Context, root string, only []string) error {
	f, err := versions.Load(filepath.Join(root, "versions.txt"))
	if err != nil {
		return err
	}
	modules, err := workspaceModules(root)
	if err != nil {
		return err
	}
	staging, err := pins.StagingModules(filepath.Join(root, "tools", "kube", "go.mod"))
	if err != nil {
		return err
	}
	probs, err := pins.Check(root, append(modules, "tools/kube", "tools/etcd"), f, staging)
	if err != nil {
		return err
	}
	for _, p := range probs {
		fmt.Println("pin:", p)
	}
	work, err := workfile.Check(root, f)
	if err != nil {
		return err
	}
	for _, p := range work {
		fmt.Println("work:", p)
	}
	if len(work) > 0 {
		fmt.Println("work: fix with: cd tools/release && GOWORK=off go run ./cmd/release workfile")
	}
	if len(only) > 0 {
		modules = only
	}
	proxy, cleanup, err := releaser.Proxy(root, f)
	if err != nil {
		return err
	}
	defer cleanup()
	var failed []string
	for _, m := range modules {
		start := time.Now()
		if err := releaser.CheckAlone(ctx, root, m, proxy, os.Stdout); err != nil {
			fmt.Println("alone:", err)
			failed = append(failed, m)
			continue
		}
		fmt.Printf("alone: %s builds from its own go.mod (%s)\n", m, time.Since(start).Round(time.Millisecond))
	}
	if len(probs) > 0 || len(work) > 0 || len(failed) > 0 {
		return fmt.Errorf("%d pin problems, %d go.work problems; modules that do not build alone: %v", len(probs), len(work), failed)
	}
	return nil
}

func writeWorkfile(root string) error {
	f, err := versions.Load(filepath.Join(root, "versions.txt"))
	if err != nil {
		return err
	}
	changed, err := workfile.Write(root, f)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Println("go.work already agrees with versions.txt")
		return nil
	}
	fmt.Println("rewrote go.work's replace lines from versions.txt; commit go.work")
	return nil
}

// workspaceModules lists the module directories go.work uses.
func workspaceModules(root string) ([]string, error) {
	path := filepath.Join(root, "go.work")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork(path, data, nil)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, u := range wf.Use {
		dirs = append(dirs, filepath.Clean(u.Path))
	}
	return dirs, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the k8s1m repository (no go.work found above the current directory)")
		}
		dir = parent
	}
}
