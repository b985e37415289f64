// Package kubeapiserver starts the real kube-apiserver binary for tests, with
// certificates made on the spot, against any etcd endpoint (memetcd here).
package kubeapiserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// Server is a running kube-apiserver binary whose only store is an
// etcd endpoint (memetcd in these tests).
type Server struct {
	Config *rest.Config // admin client config (client certificate, system:masters)
	cmd    *exec.Cmd
	logs   *logtest.Buffer
	done   chan struct{}
}

// PKI is the certificates one kube-apiserver needs, kept in a directory
// so a restarted apiserver reuses them (and its service-account key).
type PKI struct {
	*pki.Files
}

// NewPKI writes a CA, a serving certificate for 127.0.0.1 (and localhost), an
// admin client certificate in system:masters and a service-account key pair
// into a temp directory: harness/pki's cluster PKI, the one localcluster runs
// its kube-apiserver with.
func NewPKI(t testing.TB) PKI {
	t.Helper()
	files, err := pki.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return PKI{Files: files}
}

// Start runs bin/kube-apiserver against etcdEndpoint (host:port)
// with extra flags appended, and waits until /readyz answers ok. Stop it
// with Stop; it is also stopped when the test ends.
func Start(t testing.TB, certs PKI, etcdEndpoint string, extra ...string) *Server {
	t.Helper()
	bin := memetcdtest.Binary(t, "kube-apiserver")
	port := freePort(t)
	args := append([]string{
		"--etcd-servers=http://" + etcdEndpoint,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + certs.ServingCert, "--tls-private-key-file=" + certs.ServingKey,
		"--client-ca-file=" + certs.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + certs.SAPublicKey, "--service-account-signing-key-file=" + certs.SAPrivateKey,
		"--authorization-mode=RBAC", "--service-cluster-ip-range=10.96.0.0/24",
		"--cert-dir=" + t.TempDir(), "--v=1",
	}, extra...)
	cmd := exec.Command(bin, args...)
	logs := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k := &Server{cmd: cmd, logs: logs, done: make(chan struct{}), Config: &rest.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(port),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: certs.CACert, CertFile: certs.AdminCert, KeyFile: certs.AdminKey,
		},
		QPS: 1000, Burst: 1000,
	}}
	go func() { _ = cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.Stop()
		if t.Failed() {
			t.Logf("kube-apiserver output (tail):\n%s", k.logs.Tail(8000))
		}
	})
	if err := k.waitReady(90 * time.Second); err != nil {
		t.Fatalf("kube-apiserver not ready: %v\n%s", err, logs.Tail(8000))
	}
	return k
}

func (k *Server) waitReady(timeout time.Duration) error {
	dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
	if err != nil {
		return err
	}
	rc := dc.RESTClient()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-k.done:
			return fmt.Errorf("exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && bytes.Equal(bytes.TrimSpace(body), []byte("ok")) {
			return nil
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s: %v", timeout, last)
}

// Stop terminates the apiserver (SIGTERM, then SIGKILL) and waits for it.
func (k *Server) Stop() {
	select {
	case <-k.done:
		return
	default:
	}
	_ = k.cmd.Process.Signal(os.Interrupt)
	select {
	case <-k.done:
	case <-time.After(20 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}

// Pid is the apiserver's process id (its CPU and memory in /proc).
func (k *Server) Pid() int { return k.cmd.Process.Pid }

// Logs returns the apiserver's output so far.
func (k *Server) Logs() string { return k.logs.String() }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
