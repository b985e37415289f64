// Package releaser cuts a release of one module: it checks the module builds
// alone from its own go.mod, builds its binaries with the version stamped in,
// builds an OCI image archive per binary tagged with the version, and (unless
// dry-running) tags the commit MODULE/vX.Y.Z and records the release in
// versions.txt and in go.work's replace lines (package workfile).
package releaser

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/k8s1m/k8s1m/tools/release/image"
	"github.com/k8s1m/k8s1m/tools/release/modproxy"
	"github.com/k8s1m/k8s1m/tools/release/versions"
	"github.com/k8s1m/k8s1m/tools/release/workfile"
	"golang.org/x/mod/semver"
)

// Options for one release.
type Options struct {
	Root      string // repository root (holds versions.txt)
	Module    string // module directory, e.g. "memetcd"
	Version   string // e.g. "v0.3.1"
	DryRun    bool   // build everything, tag and record nothing
	Out       string // where binaries and images go; default <root>/dist
	ImageRepo string // image repository prefix; default "ghcr.io/k8s1m"
	CACerts   string // CA bundle put in images; default Debian's
	Log       io.Writer
}

// Artifact is one built binary and its image.
type Artifact struct {
	Binary      string
	Image       string // OCI archive path
	ImageRef    string
	ImageDigest string
	VersionLine string // what the binary printed for --version
}

// Result of a release.
type Result struct {
	Module    string
	Version   string
	Revision  string
	Tag       string
	Artifacts []Artifact
}

// versionPkg is the package whose variables -ldflags overrides.
const versionPkg = "github.com/k8s1m/k8s1m/cli/version"

// Release runs the release.
func Release(ctx context.Context, o Options) (*Result, error) {
	if o.Out == "" {
		o.Out = filepath.Join(o.Root, "dist")
	}
	if o.ImageRepo == "" {
		o.ImageRepo = "ghcr.io/k8s1m"
	}
	if o.CACerts == "" {
		o.CACerts = image.DefaultCACerts
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	vfile := filepath.Join(o.Root, "versions.txt")
	f, err := versions.Load(vfile)
	if err != nil {
		return nil, err
	}
	if !semver.IsValid(o.Version) || semver.Canonical(o.Version) != o.Version {
		return nil, fmt.Errorf("version %q: want a full semantic version like v1.2.3", o.Version)
	}
	if _, err := os.Stat(filepath.Join(o.Root, o.Module, "go.mod")); err != nil {
		return nil, fmt.Errorf("module %q: no go.mod in %s", o.Module, filepath.Join(o.Root, o.Module))
	}
	if prev, ok := f.Release(o.Module); ok && semver.Compare(o.Version, prev.Version) <= 0 {
		return nil, fmt.Errorf("%s %s is not newer than the released %s", o.Module, o.Version, prev.Version)
	}
	tag := o.Module + "/" + o.Version
	rev, err := git(o.Root, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	dirty, err := git(o.Root, "status", "--porcelain", "--", o.Module)
	if err != nil {
		return nil, err
	}
	if !o.DryRun {
		if dirty != "" {
			return nil, fmt.Errorf("%s has uncommitted changes; commit them first (or use --dry-run):\n%s", o.Module, dirty)
		}
		if _, err := git(o.Root, "rev-parse", "-q", "--verify", "refs/tags/"+tag); err == nil {
			return nil, fmt.Errorf("tag %s already exists", tag)
		}
	}
	stampRev := rev
	if dirty != "" {
		stampRev += "-dirty"
	}

	fmt.Fprintf(o.Log, "release %s %s from %s (dry-run=%v)\n", o.Module, o.Version, stampRev, o.DryRun)
	proxy, cleanup, err := Proxy(o.Root, f)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	start := time.Now()
	if err := CheckAlone(ctx, o.Root, o.Module, proxy, o.Log); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "  builds alone (GOWORK=off) in %s\n", time.Since(start).Round(time.Millisecond))

	res := &Result{Module: o.Module, Version: o.Version, Revision: stampRev, Tag: tag}
	bins, err := binaries(filepath.Join(o.Root, o.Module))
	if err != nil {
		return nil, err
	}
	outDir := filepath.Join(o.Out, o.Module, o.Version)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	for _, b := range bins {
		a, err := buildOne(ctx, o, proxy, outDir, b, stampRev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		fmt.Fprintf(o.Log, "  %s\n    %s\n    image %s (%s) -> %s\n", a.Binary, a.VersionLine, a.ImageRef, a.ImageDigest, a.Image)
		res.Artifacts = append(res.Artifacts, a)
	}
	if o.DryRun {
		fmt.Fprintf(o.Log, "dry run: not tagging %s, versions.txt and go.work unchanged\n", tag)
		return res, nil
	}
	if _, err := git(o.Root, "tag", tag, rev); err != nil {
		return nil, err
	}
	f.Set(versions.Release{Dir: o.Module, Version: o.Version, Commit: rev})
	if err := writeAtomic(vfile, f.Bytes()); err != nil {
		return nil, fmt.Errorf("record release (tag %s exists; fix versions.txt by hand): %w", tag, err)
	}
	if _, err := workfile.Write(o.Root, f); err != nil {
		return nil, fmt.Errorf("update go.work (tag %s exists and versions.txt records it; run release workfile): %w", tag, err)
	}
	fmt.Fprintf(o.Log, "tagged %s at %s and recorded it in versions.txt and go.work.\nNext: commit versions.txt and go.work; dependants pick the version up with (see the README, Versions, pins and releases)\n  GOWORK=off go mod edit -require=%s@%s && GOWORK=off go mod tidy   (in each dependant module, GOPROXY at the release proxy)\n", tag, rev, versions.ModulePathPrefix+o.Module, o.Version)
	return res, nil
}

// binaries lists the cmd/<name> directories of a module that hold a main package.
func binaries(moduleDir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(moduleDir, "cmd"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(moduleDir, "cmd", e.Name(), "main.go")); e.IsDir() && err == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func buildOne(ctx context.Context, o Options, proxy, outDir, name, rev string) (Artifact, error) {
	bin := filepath.Join(outDir, name)
	ldflags := fmt.Sprintf("-s -w -X %s.override=%s -X %s.revisionOverride=%s", versionPkg, o.Version, versionPkg, rev)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/"+name)
	cmd.Dir = filepath.Join(o.Root, o.Module)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Env = append(cmd.Env, envFor(proxy)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = o.Log, &stderr
	if err := cmd.Run(); err != nil {
		return Artifact{}, fmt.Errorf("go build: %w: %s", err, stderr.String())
	}
	line, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return Artifact{}, fmt.Errorf("%s --version: %w: %s", bin, err, line)
	}
	vline := strings.TrimSpace(string(line))
	if !strings.Contains(vline, o.Version) {
		return Artifact{}, fmt.Errorf("%s --version printed %q, which lacks %s: is the version package linked?", bin, vline, o.Version)
	}
	spec := image.Spec{
		Binary:  bin,
		Name:    name,
		Repo:    o.ImageRepo + "/" + name,
		Version: o.Version,
		CACerts: o.CACerts,
		Labels: map[string]string{
			"org.opencontainers.image.source":   "https://" + versions.ModulePathPrefix + o.Module,
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": rev,
			"org.opencontainers.image.title":    name,
		},
		Platform: v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH},
	}
	archive := filepath.Join(outDir, fmt.Sprintf("%s-%s.oci.tar", name, o.Version))
	digest, err := image.WriteOCIArchive(archive, spec)
	if err != nil {
		return Artifact{}, fmt.Errorf("image: %w", err)
	}
	return Artifact{Binary: bin, Image: archive, ImageRef: spec.Ref(), ImageDigest: digest.String(), VersionLine: vline}, nil
}

// envFor is the build environment of a release build: alone, from the proxy,
// with go.mod/go.sum as committed.
func envFor(proxy string) []string {
	return append(modproxy.Env(proxy), "GOFLAGS=-mod=readonly")
}

func git(root string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", root}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
