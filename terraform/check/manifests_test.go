package check

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/pki"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"sigs.k8s.io/yaml"
)

const (
	testRegistry = "registry.example.org/k8s1m"
	testMirror   = "mirror.example.org"
)

// TestManifests renders the Kubernetes manifests of every example size with
// OpenTofu (the k8s-manifests module, given what the root gives it) and has
// a real kube-apiserver on memetcd accept every object: namespaces applied,
// everything else server-side applied as a dry run with strict field
// validation. It then checks what the apiserver cannot: the scheduler
// configuration is distscheduler's example (which distscheduler/app's test
// loads with upstream's loader) with only parallelism changed, the tree and
// kwok are sized as the example says, every image comes from the registry
// or the mirror, and the binaries accept the flags the manifests and the
// memetcd unit give them.
func TestManifests(t *testing.T) {
	root := repoRoot(t)
	tofu := bins.RequireBinary(t, "tofu")
	cp := startControlPlane(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	applier, err := NewApplier(ctx, cp.api.URL, cp.tls)
	if err != nil {
		t.Fatal(err)
	}

	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.CertSpec{CommonName: "test", Usage: pki.Server})
	if err != nil {
		t.Fatal(err)
	}
	pems := map[string]any{"ca_pem": string(ca.CertPEM), "cert_pem": string(leaf.CertPEM), "key_pem": string(leaf.KeyPEM)}
	schedulerConfig := readFile(t, filepath.Join(root, "distscheduler", "examples", "scheduler-config.yaml"))

	examples, err := filepath.Glob(filepath.Join(root, "terraform", "examples", "*.tfvars"))
	if err != nil || len(examples) < 3 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	for _, example := range examples {
		t.Run(filepath.Base(example), func(t *testing.T) {
			vars := readTfvars(t, example)
			size := func(name string, def float64) float64 {
				if v, ok := vars[name].(float64); ok {
					return v
				}
				return def
			}
			replicas, fanout := size("distscheduler_replicas", -1), size("tree_fanout", 16)
			parallelism := size("scheduler_parallelism", 4)
			kwok := size("kwok_controllers", -1)
			if replicas < 1 || kwok < 1 {
				t.Fatalf("%s: distscheduler_replicas and kwok_controllers must be set", example)
			}
			ds := map[string]any{"replicas": replicas, "fanout": fanout, "parallelism": parallelism}
			withTLS := strings.HasPrefix(filepath.Base(example), "1m-")
			if r, ok := vars["relay_replicas"]; ok {
				ds["relay_replicas"] = r
			}
			out, err := Render(ctx, tofu, t.TempDir(), map[string]RenderCall{
				"manifests": {Dir: filepath.Join(root, "terraform", "modules", "k8s-manifests"), Args: map[string]any{
					"images": map[string]any{
						"distscheduler": testRegistry + "/distscheduler:v0.0.1", "relay": testRegistry + "/relay:v0.0.1",
						"kwok": testMirror + "/kwok/kwok:v0.8.0", "vmagent": testMirror + "/victoriametrics/vmagent:v1",
						"fluent_bit": testMirror + "/fluent/fluent-bit:3",
					},
					"scheduler_config": schedulerConfig,
					"kwok_manifest":    readFile(t, filepath.Join(root, "makenodes", "deploy", "kwok.yaml")),
					"kwok_controllers": kwok,
					"gossip_key":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
					"distscheduler":    ds,
					"tree_tls":         pems,
					// One size renders the tree with mutual TLS on.
					"tree_tls_flags": withTLS,
					"observability": map[string]any{"metrics_url": "https://metrics.obs.example.org:8428",
						"logs_url": "https://logs.obs.example.org:9428", "password": "secret", "ca_pem": pems["ca_pem"]},
				}},
				"store": {Dir: filepath.Join(root, "terraform", "modules", "memetcd"), Args: map[string]any{
					"name": "leases", "binary_url": "https://artifacts.example.org/memetcd", "wal_default": "none",
					"wal_no_write_prefixes": []any{"/registry/events/"}, "wal_prefix_modes": map[string]any{"/registry/pods/": "fsync"},
					"tls": pems, "ssh_public_keys": []any{"ssh-ed25519 AAAA test"},
				}},
			}, map[string]string{"manifests": "module.manifests.manifests", "relays": "module.manifests.relay_replicas",
				"memetcd_args": "module.store.args", "memetcd_user_data": "module.store.user_data"})
			if err != nil {
				t.Fatal(err)
			}
			var manifests map[string]string
			var relays float64
			var memetcdArgs []string
			mustJSON(t, out["manifests"], &manifests)
			mustJSON(t, out["relays"], &relays)
			mustJSON(t, out["memetcd_args"], &memetcdArgs)
			checkUserData(t, out["memetcd_user_data"], "/etc/systemd/system/memetcd.service", "systemctl enable --now memetcd.service")

			byKind := map[string]Object{}
			var objs []Object
			for _, name := range sortedKeys(manifests) {
				docs, err := SplitYAML(manifests[name])
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				objs = append(objs, docs...)
			}
			// Namespaces for real first: a dry run in a missing namespace is refused.
			for _, o := range objs {
				byKind[o.Kind+"/"+o.Name] = o
				if o.Kind == "Namespace" {
					if err := applier.Apply(ctx, o, false); err != nil {
						t.Fatal(err)
					}
				}
			}
			accepted := 0
			for _, o := range objs {
				if o.Kind == "Namespace" {
					continue
				}
				if err := applier.Apply(ctx, o, true); err != nil {
					t.Error(err)
					continue
				}
				accepted++
			}
			t.Logf("%d of %d objects from %d files accepted (namespaces applied, the rest as a dry run)", accepted, len(objs), len(manifests))

			// The scheduler configuration is the example with the example's parallelism.
			cm := byKind["ConfigMap/distscheduler-config"]
			got := fieldString(t, cm.Fields, "data", "scheduler-config.yaml")
			var gotCfg, wantCfg map[string]any
			mustYAML(t, got, &gotCfg)
			mustYAML(t, schedulerConfig, &wantCfg)
			wantCfg["parallelism"] = parallelism
			if !reflect.DeepEqual(gotCfg, wantCfg) {
				t.Errorf("scheduler config:\n%s\nwant distscheduler/examples/scheduler-config.yaml with parallelism %v", got, parallelism)
			}

			wantRelays := float64(0)
			if r, ok := vars["relay_replicas"].(float64); ok {
				wantRelays = r
			} else if replicas > fanout {
				wantRelays = float64(int((replicas+fanout-1)/fanout) + 1)
			}
			if relays != wantRelays {
				t.Errorf("relay replicas %v, want %v", relays, wantRelays)
			}
			checkReplicas(t, byKind, "Deployment/distscheduler", replicas)
			if wantRelays > 0 {
				checkReplicas(t, byKind, "Deployment/relay", wantRelays)
			}
			checkReplicas(t, byKind, "StatefulSet/kwok-controller", kwok)

			for _, o := range objs {
				for _, c := range containers(o) {
					image, _ := c["image"].(string)
					if !strings.HasPrefix(image, testRegistry+"/") && !strings.HasPrefix(image, testMirror+"/") {
						t.Errorf("%s %s: image %q is from neither the registry nor the mirror", o.Kind, o.Name, image)
					}
				}
			}
			if err := checkFlags(t, "memetcd", memetcdArgs); err != nil {
				t.Error(err)
			}
			if wantRelays > 0 {
				if err := checkFlags(t, "relay", args(byKind["Deployment/relay"])); err != nil {
					t.Error(err)
				}
			}
			err = checkFlags(t, "distscheduler", args(byKind["Deployment/distscheduler"]))
			switch {
			case err != nil && withTLS && strings.Contains(err.Error(), "--tls-"):
				t.Logf("tree_tls_flags must stay false until distscheduler takes the tree's TLS flags: %v", err)
			case err != nil:
				t.Error(err)
			case withTLS:
				t.Log("distscheduler accepts the tree's TLS flags: tree_tls_flags can default to true")
			}
		})
	}
}

// checkUserData parses rendered cloud-init user data: a #cloud-config
// document that writes file and runs command.
func checkUserData(t *testing.T, raw json.RawMessage, file, command string) {
	t.Helper()
	var userData string
	mustJSON(t, raw, &userData)
	if !strings.HasPrefix(userData, "#cloud-config\n") {
		t.Fatalf("user data does not start with #cloud-config: %.60q", userData)
	}
	var doc struct {
		WriteFiles []struct {
			Path string `json:"path"`
		} `json:"write_files"`
		Runcmd []string `json:"runcmd"`
	}
	mustYAML(t, userData, &doc)
	var paths []string
	for _, f := range doc.WriteFiles {
		paths = append(paths, f.Path)
	}
	if !containsSubstring(paths, file) {
		t.Errorf("user data writes %v, not %s", paths, file)
	}
	if !containsSubstring(doc.Runcmd, command) {
		t.Errorf("user data runs %q, not %q", doc.Runcmd, command)
	}
}

// checkFlags runs the binary with args and --version: the command parses
// every flag before it prints its version, so an unknown or malformed flag
// fails.
func checkFlags(t *testing.T, binary string, args []string) error {
	t.Helper()
	bin := bins.RequireBinary(t, binary)
	out, err := exec.Command(bin, append(args, "--version")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s does not accept the deployment's flags %q: %v\n%s", binary, args, err, out)
	}
	return nil
}

func checkReplicas(t *testing.T, byKind map[string]Object, key string, want float64) {
	t.Helper()
	o, ok := byKind[key]
	if !ok {
		t.Errorf("no %s", key)
		return
	}
	spec, _ := o.Fields["spec"].(map[string]any)
	if got, _ := spec["replicas"].(float64); got != want {
		t.Errorf("%s: replicas %v, want %v", key, spec["replicas"], want)
	}
}

func containers(o Object) []map[string]any {
	spec, _ := o.Fields["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	podSpec, _ := tmpl["spec"].(map[string]any)
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := podSpec[key].([]any)
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func args(o Object) []string {
	var out []string
	for _, c := range containers(o) {
		list, _ := c["args"].([]any)
		for _, a := range list {
			out = append(out, fmt.Sprint(a))
		}
	}
	return out
}

func fieldString(t *testing.T, m map[string]any, path ...string) string {
	t.Helper()
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("no %s", strings.Join(path, "."))
		}
		cur = mm[p]
	}
	s, ok := cur.(string)
	if !ok {
		t.Fatalf("%s is not a string", strings.Join(path, "."))
	}
	return s
}

// readTfvars evaluates a .tfvars file (literal values only) into JSON-like Go values.
func readTfvars(t *testing.T, path string) map[string]any {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out := map[string]any{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", path, diags)
		}
		data, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			t.Fatal(err)
		}
		var x any
		mustJSON(t, data, &x)
		out[name] = x
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustJSON(t *testing.T, data []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

func mustYAML(t *testing.T, data string, into any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(data), into); err != nil {
		t.Fatal(err)
	}
}
