package check

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/proc"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"
)

// TestDashboardMetrics checks that every metric the Grafana dashboards
// query is exported by the binaries that run: memetcd, kube-apiserver,
// relay, wggateway (in a network namespace of its own: it needs a
// WireGuard device) and distscheduler are started for real and scraped,
// after a little traffic so labelled series exist. distscheduler's own
// series that only appear once a pod was scheduled may instead be found
// among the names registered in its code, and the test says which.
func TestDashboardMetrics(t *testing.T) {
	root := repoRoot(t)
	cp := startControlPlane(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	want := map[string][]string{} // metric => dashboard files querying it
	files, err := filepath.Glob(filepath.Join(root, "terraform", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		var doc any
		mustJSON(t, []byte(readFile(t, f)), &doc)
		exprs := collectExprs(doc)
		if len(exprs) == 0 {
			t.Errorf("%s: no queries", f)
		}
		for _, e := range exprs {
			for _, n := range MetricNames(e) {
				want[n] = append(want[n], filepath.Base(f))
			}
		}
	}

	exposed := map[string]bool{}
	add := func(who, body string) {
		names := ExposedNames(body)
		t.Logf("%s exports %d series names", who, len(names))
		for n := range names {
			exposed[n] = true
		}
	}
	// kube-apiserver and memetcd, after the other tests' traffic.
	add("kube-apiserver", scrape(t, ctx, &http.Client{Transport: &http.Transport{TLSClientConfig: cp.tls}}, cp.api.URL+"/metrics"))
	add("memetcd", scrape(t, ctx, http.DefaultClient, cp.store.MetricsURL))
	add("relay", scrapeRelay(t, ctx))
	add("wggateway", scrapeWggateway(t, ctx))
	add("distscheduler", scrapeDistscheduler(t, ctx, cp, root))

	registered := registeredNames(t, filepath.Join(root, "distscheduler"))
	var missing, fromCode []string
	for _, n := range sortedKeys(want) {
		switch {
		case exposed[n]:
		case strings.HasPrefix(n, "distscheduler_") && registered[histogramBase(n)]:
			fromCode = append(fromCode, n)
		default:
			missing = append(missing, fmt.Sprintf("%s (%s)", n, strings.Join(want[n], ", ")))
		}
	}
	t.Logf("%d metric names queried; %d scraped; found only in distscheduler's code (not observed in this run): %v",
		len(want), len(want)-len(fromCode)-len(missing), fromCode)
	for _, m := range missing {
		t.Errorf("dashboard queries %s, which no binary exports", m)
	}
}

func collectExprs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "expr" {
				out = append(out, s)
				continue
			}
			out = append(out, collectExprs(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, collectExprs(e)...)
		}
	}
	return out
}

func scrape(t *testing.T, ctx context.Context, client *http.Client, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s %v: %.300s", url, resp.Status, err, body)
	}
	return string(body)
}

// startProc starts a binary with a log in dir and waits for probe.
func startProc(t *testing.T, ctx context.Context, spec proc.Spec, probe proc.Probe) *proc.Process {
	t.Helper()
	spec.KillWithParent = true
	p, err := proc.Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	if err := p.WaitReady(ctx, probe, 2*time.Minute); err != nil {
		t.Fatalf("%s: %v", spec.Name, err)
	}
	return p
}

// treeFiles writes a gossip key and a TLS pair the tree's binaries accept.
func treeFiles(t *testing.T, dir string) (keyFile, certFile, keyPEMFile, caFile string) {
	t.Helper()
	ca, err := pki.NewCA("tree-ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(pki.CertSpec{CommonName: "member", Usage: pki.Server, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile, certFile, keyPEMFile, caFile = filepath.Join(dir, "gossip.key"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	for path, data := range map[string][]byte{keyFile: []byte(base64.StdEncoding.EncodeToString(key) + "\n"),
		certFile: pair.CertPEM, keyPEMFile: pair.KeyPEM, caFile: ca.CertPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := proc.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// scrapeRelay runs a relay-only member alone on loopback, with the gossip
// key and TLS a deployment gives it.
func scrapeRelay(t *testing.T, ctx context.Context) string {
	bin := bins.RequireBinary(t, "relay")
	dir := t.TempDir()
	key, cert, keyPEM, ca := treeFiles(t, dir)
	ports := freePorts(t, 3)
	metrics := fmt.Sprintf("127.0.0.1:%d", ports[2])
	startProc(t, ctx, proc.Spec{Name: "relay", Path: bin, RunDir: dir, Args: []string{
		"--name=relay-0", fmt.Sprintf("--grpc-addr=127.0.0.1:%d", ports[0]), "--gossip-addr=127.0.0.1",
		fmt.Sprintf("--gossip-port=%d", ports[1]), "--metrics-addr=" + metrics, "--gossip-key-file=" + key,
		"--tls-cert-file=" + cert, "--tls-key-file=" + keyPEM, "--tls-ca-file=" + ca,
	}}, proc.HTTPProbe("http://"+metrics+"/healthz", nil))
	return scrape(t, ctx, http.DefaultClient, "http://"+metrics+"/metrics")
}

// scrapeWggateway runs the gateway with a userspace WireGuard device in a
// network namespace the test creates (never the host's), registers one peer
// and fails one authentication, then scrapes it from inside the namespace.
func scrapeWggateway(t *testing.T, ctx context.Context) string {
	bin := bins.RequireBinary(t, "wggateway")
	if os.Geteuid() != 0 {
		if os.Getenv("K8S1M_REQUIRE_BINARIES") == "1" {
			t.Fatal("wggateway needs root for its network namespace and WireGuard device")
		}
		t.Skip("wggateway needs root for its network namespace and WireGuard device")
	}
	ns := fmt.Sprintf("k8s1m-tfcheck-%d", os.Getpid())
	for _, args := range [][]string{{"netns", "add", ns}, {"-n", ns, "link", "set", "lo", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	dir := t.TempDir()
	secret := "check-secret-0123456789"
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	// The gateway serves HTTPS only (--behind-tls-proxy aside).
	ca, err := pki.NewCA("wggateway-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(pki.CertSpec{CommonName: "wggateway", Usage: pki.Server, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	for path, data := range map[string][]byte{certFile: serving.CertPEM, keyFile: serving.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetns(ns), DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots}}}
	const base = "https://127.0.0.1:8443"
	startProc(t, ctx, proc.Spec{Name: "wggateway", Path: "ip", RunDir: dir, Args: []string{"netns", "exec", ns, bin,
		"--userspace", "--interface=wgcheck", "--listen=127.0.0.1:8443", "--endpoint=[fd00::1]:51820",
		"--tls-cert=" + certFile, "--tls-key=" + keyFile,
		"--secret-file=" + filepath.Join(dir, "secret"), "--state-file=" + filepath.Join(dir, "peers.json"),
		"--private-key-file=" + filepath.Join(dir, "private.key")}},
		func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for _, auth := range []string{"", secret} {
		body := fmt.Sprintf(`{"publicKey":%q}`, base64.StdEncoding.EncodeToString(key))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/peers", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.SetBasicAuth("check", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	return scrape(t, ctx, client, base+"/metrics")
}

// dialInNetns dials from inside network namespace ns: the socket is created
// on an OS thread switched into ns (setns applies to one thread), and stays
// in ns after the thread switches back.
func dialInNetns(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			// The thread is left locked (and so discarded when this goroutine
			// ends) if it could not be switched back.
			orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer orig.Close()
			target, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// scrapeDistscheduler runs one member alone (no --seeds) against the test
// apiserver with distscheduler's example configuration, creates a pod for it
// (there is no node, so the attempt is unschedulable, which creates the
// scheduling series) and scrapes it.
func scrapeDistscheduler(t *testing.T, ctx context.Context, cp *controlPlane, root string) string {
	bin := bins.RequireBinary(t, "distscheduler")
	dir := t.TempDir()
	ports := freePorts(t, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	// With --config, kube-scheduler takes its kubeconfig from the file's
	// clientConnection, not from --kubeconfig.
	var cfg map[string]any
	mustYAML(t, readFile(t, filepath.Join(root, "distscheduler", "examples", "scheduler-config.yaml")), &cfg)
	conn, _ := cfg["clientConnection"].(map[string]any)
	if conn == nil {
		conn = map[string]any{}
		cfg["clientConnection"] = conn
	}
	conn["kubeconfig"] = cp.api.Kubeconfig
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "scheduler-config.yaml")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	startProc(t, ctx, proc.Spec{Name: "distscheduler", Path: bin, RunDir: dir, Args: []string{
		"--config=" + cfgFile, "--http-addr=" + addr, "--member-name=check-0", "--lease-name=check-dist-scheduler",
	}}, proc.HTTPProbe("http://"+addr+"/healthz", nil))
	applier, err := NewApplier(ctx, cp.api.URL, cp.tls)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := SplitYAML(`apiVersion: v1
kind: Namespace
metadata:
  name: dashboard-check
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: dashboard-check
---
apiVersion: v1
kind: Pod
metadata:
  name: unschedulable
  namespace: dashboard-check
spec:
  schedulerName: dist-scheduler
  containers:
  - name: c
    image: registry.example.org/pause:1
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := applier.Apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
	}
	// Poll until the member has tried the pod: with no node, the leader's
	// item comes back unschedulable from the only member.
	url := "http://" + addr + "/metrics"
	tried := regexp.MustCompile(`(?m)^distscheduler_cycle_items_total\{result="unschedulable"\} [1-9]`)
	for {
		body := scrape(t, ctx, http.DefaultClient, url)
		if tried.MatchString(body) {
			return body
		}
		select {
		case <-ctx.Done():
			t.Fatalf("distscheduler never reported the unschedulable pod: %v\n%s", ctx.Err(), grepLines(body, "distscheduler_"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// grepLines returns body's lines that contain s, for a failure message.
func grepLines(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var registeredName = regexp.MustCompile(`"(distscheduler_[a-z0-9_]+)"`)

// registeredNames collects the metric names written in a module's non-test
// Go code.
func registeredNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range registeredName.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// histogramBase strips the series suffixes a histogram's name gets.
func histogramBase(n string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if strings.HasSuffix(n, s) {
			return strings.TrimSuffix(n, s)
		}
	}
	return n
}
