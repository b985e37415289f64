package releaser

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/tools/release/modproxy"
	"github.com/k8s1m/k8s1m/tools/release/versions"
)

// TestReleaseEndToEnd releases a small module from a scratch git repository that
// holds the real cli module: the module must build alone against cli fetched
// from the local proxy, its binary must report the stamped version, and the image
// archive must be an OCI layout tagged with that version, and a real release
// must record the version in versions.txt and go.work. The real go toolchain and
// git run; nothing is mocked.
func TestReleaseEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	root := t.TempDir()
	run(t, root, "git", "init", "-q", "-b", "main")
	run(t, root, "git", "config", "user.email", "test@k8s1m.invalid")
	run(t, root, "git", "config", "user.name", "test")
	copyDir(t, filepath.Join("..", "..", "..", "cli"), filepath.Join(root, "cli"))
	const goWork = "go 1.26.0\n\nuse ./cli\n"
	write(t, root, "go.work", goWork)
	write(t, root, ".gitignore", "/dist/\n")
	run(t, root, "git", "add", ".")
	run(t, root, "git", "commit", "-qm", "cli")
	cliRev := strings.TrimSpace(run(t, root, "git", "rev-parse", "HEAD"))
	write(t, root, "versions.txt", "module cli v0.1.0 "+cliRev+"\n")

	write(t, root, "demo/go.mod", "module github.com/k8s1m/k8s1m/demo\n\ngo 1.26.0\n\nrequire github.com/k8s1m/k8s1m/cli v0.1.0\n")
	write(t, root, "demo/cmd/demo/main.go", `package main

import "github.com/k8s1m/k8s1m/cli/command"

func main() { command.Execute(command.NewRoot("demo", "demo binary").Cmd) }
`)
	// Resolve demo's go.sum the way a developer does: tidy against the proxy.
	f, err := versions.Load(filepath.Join(root, "versions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	proxy, cleanup, err := Proxy(root, f)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = filepath.Join(root, "demo")
	tidy.Env = append(os.Environ(), modproxy.Env(proxy)...)
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("tidy: %v\n%s", err, out)
	}
	run(t, root, "git", "add", ".")
	run(t, root, "git", "commit", "-qm", "demo")

	ctx := context.Background()
	opts := Options{Root: root, Module: "demo", Version: "v0.0.1", DryRun: true, Log: testWriter{t}}
	opts.CACerts = writeFakeCA(t)
	res, err := Release(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Artifacts) != 1 {
		t.Fatalf("artifacts = %+v", res.Artifacts)
	}
	a := res.Artifacts[0]
	out := run(t, root, a.Binary, "--version")
	if !strings.Contains(out, "github.com/k8s1m/k8s1m/demo v0.0.1") {
		t.Fatalf("--version = %q", out)
	}
	checkOCIArchive(t, a.Image, "v0.0.1", "ghcr.io/k8s1m/demo:v0.0.1")
	if _, err := exec.Command("git", "-C", root, "rev-parse", "-q", "--verify", "refs/tags/demo/v0.0.1").Output(); err == nil {
		t.Fatal("dry run created a tag")
	}
	if got := read(t, root, "go.work"); got != goWork {
		t.Fatalf("dry run changed go.work:\n%s", got)
	}

	opts.DryRun = false
	if _, err := Release(ctx, opts); err != nil {
		t.Fatal(err)
	}
	run(t, root, "git", "rev-parse", "--verify", "refs/tags/demo/v0.0.1")
	f, err = versions.Load(filepath.Join(root, "versions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := f.Release("demo"); !ok || r.Version != "v0.0.1" {
		t.Fatalf("versions.txt not updated: %+v", f.Releases)
	}
	wantWork := goWork + `
replace (
	github.com/k8s1m/k8s1m/cli v0.1.0 => ./cli
	github.com/k8s1m/k8s1m/demo v0.0.1 => ./demo
)
`
	if got := read(t, root, "go.work"); got != wantWork {
		t.Fatalf("go.work after release:\n%s\nwant\n%s", got, wantWork)
	}
	if _, err := Release(ctx, opts); err == nil || !strings.Contains(err.Error(), "not newer") {
		t.Fatalf("re-release err = %v, want 'not newer'", err)
	}
	opts.Version = "1.0"
	if _, err := Release(ctx, opts); err == nil || !strings.Contains(err.Error(), "semantic version") {
		t.Fatalf("bad version err = %v", err)
	}
}

func checkOCIArchive(t *testing.T, path, tag, ref string) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tr := tar.NewReader(file)
	found := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		found[h.Name] = data
	}
	if !strings.Contains(string(found["oci-layout"]), "imageLayoutVersion") {
		t.Fatalf("no oci-layout file in %s (have %d entries)", path, len(found))
	}
	var index struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(found["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != tag ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != ref {
		t.Fatalf("index = %+v", index)
	}
}

func writeFakeCA(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, root, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
