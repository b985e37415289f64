// Package testcluster starts a real store (memetcd or etcd) and a real
// kube-apiserver (the binaries in K8S1M_BIN, default <repo root>/bin) on
// loopback ports for integration tests and benchmarks. A missing binary skips the test with the
// make target that builds it, or fails it when K8S1M_REQUIRE_BINARIES=1.
package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a running store + kube-apiserver pair.
type Cluster struct {
	// URL is the API server's https URL.
	URL string
	// Token authenticates as a member of system:masters.
	Token string
	// Kubeconfig is the path of a kubeconfig file for the cluster.
	Kubeconfig string
	// Config is a client config with high QPS limits for test load.
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
	// Dir holds the cluster's files (logs, keys, data).
	Dir string
}

// BinDir is where tests find the binaries.
func BinDir() string {
	if d := os.Getenv("K8S1M_BIN"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return "bin"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, "bin")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "bin")
		}
	}
}

// Binary returns the path of a binary in BinDir, skipping (or, with
// K8S1M_REQUIRE_BINARIES=1, failing) the test when it is missing.
func Binary(t testing.TB, name, makeTarget string) string {
	t.Helper()
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("%s not found in %s: run `%s`", name, BinDir(), makeTarget)
		if os.Getenv("K8S1M_REQUIRE_BINARIES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs the store and kube-apiserver until the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	apiBin := Binary(t, "kube-apiserver", "make bin/kube-apiserver")
	dir := t.TempDir()
	c := &Cluster{Dir: dir, Token: "k8s1m-test-token"}
	storeURL := startStore(t, dir)

	saKey := filepath.Join(dir, "sa.pem")
	writeKey(t, saKey)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiPort := FreePort(t)
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	start(t, dir, "kube-apiserver", apiBin,
		"--etcd-servers", storeURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		// A loopback advertise address is refused by the endpoint reconciler.
		"--endpoint-reconciler-type=none",
		"--secure-port", strconv.Itoa(apiPort),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", tokens,
		"--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller manager here: nothing creates default service
		// accounts or lifts the not-ready taint new nodes would get.
		"--disable-admission-plugins", "ServiceAccount,TaintNodesByCondition",
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight", "4000",
		"--max-mutating-requests-inflight", "2000")
	waitHTTP(t, "kube-apiserver", c.URL+"/readyz", c.Token, 2*time.Minute)

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, c.URL, c.Token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Config = &rest.Config{
		Host:            c.URL,
		BearerToken:     c.Token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             5000,
		Burst:           10000,
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	c.Client = cs
	return c
}

// Store names which store backs the API server: env K8S1M_STORE ("memetcd"
// or "etcd"); by default memetcd when bin/memetcd exists, else etcd.
func Store() string {
	if s := os.Getenv("K8S1M_STORE"); s != "" {
		return s
	}
	if _, err := os.Stat(filepath.Join(BinDir(), "memetcd")); err == nil {
		return "memetcd"
	}
	return "etcd"
}

// startStore starts the store and returns its client URL.
func startStore(t testing.TB, dir string) string {
	t.Helper()
	clientPort := FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	switch Store() {
	case "memetcd":
		bin := Binary(t, "memetcd", "go build -o bin/memetcd ./memetcd/cmd/memetcd")
		metricsPort := FreePort(t)
		start(t, dir, "memetcd", bin,
			"--listen-address", "127.0.0.1",
			"--port", strconv.Itoa(clientPort),
			"--metrics-port", strconv.Itoa(metricsPort),
			"--wal-dir", filepath.Join(dir, "wal"),
			"--wal-default", "none",
			"--log-level", "warn")
		waitHTTP(t, "memetcd", fmt.Sprintf("http://127.0.0.1:%d/healthz", metricsPort), "", time.Minute)
	default:
		bin := Binary(t, "etcd", "make bin/etcd")
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		start(t, dir, "etcd", bin,
			"--data-dir", filepath.Join(dir, "etcd"),
			"--listen-client-urls", url, "--advertise-client-urls", url,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "default="+peerURL,
			"--unsafe-no-fsync", "--log-level", "warn",
			"--quota-backend-bytes", strconv.Itoa(8<<30))
		waitHTTP(t, "etcd", url+"/health", "", time.Minute)
	}
	return url
}

// start runs a binary with output to dir/name.log, killed at cleanup.
func start(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test killed before its cleanup must not leave servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			t.Logf("%s log tail:\n%s", name, tail(logPath, 3000))
		}
	})
}

func waitHTTP(t testing.TB, name, url, token string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test server with a self-signed cert
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready at %s after %v (last error %v)", name, url, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeKey(t testing.TB, path string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}
