package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoHardCodedHosts reads every terraform file, tfvars example and
// dashboard under terraform/: registries, the artifact server and the domain
// are variables, so no personal or public host is written in them.
func TestNoHardCodedHosts(t *testing.T) {
	root := filepath.Join(repoRoot(t), "terraform")
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "check") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".tf", ".tfvars", ".example", ".json", ".yaml":
		default:
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, h := range HardCodedHosts(string(src)) {
			t.Errorf("%s: %s: take it from a variable", path, h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("read only %d files under %s", n, root)
	}
}

func TestHardCodedHosts(t *testing.T) {
	for src, want := range map[string]int{
		`url = "https://${var.artifact_base_url}/x"`:          0,
		`endpoint = "https://metrics.obs.example.org:8428"`:   0,
		`curl http://169.254.169.254/v1/interfaces`:           0,
		`image = "docker.io/library/busybox"`:                 1,
		`url = "https://r2.bchess.net/mem_etcd"`:              2, // the URL's host, and "bchess"
		`seeds = "dist-scheduler.k8s1m.svc.cluster.local:79"`: 0,
		`curl https://artifacts.mycompany.io/k3s`:             1,
	} {
		got := HardCodedHosts(src)
		if len(got) != want {
			t.Errorf("HardCodedHosts(%q) = %v, want %d findings", src, got, want)
		}
	}
}
