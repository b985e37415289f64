// Package kubeapiserver starts the real kube-apiserver binary for tests, with
// certificates made on the spot, against any etcd endpoint (memetcd here).
package kubeapiserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
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
	Dir string
}

// NewPKI writes a CA, a serving certificate for 127.0.0.1, an admin
// client certificate and a service-account key pair into a temp directory.
func NewPKI(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	caKey := mustECKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "memetcd-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)
	issue := func(name string, tmpl *x509.Certificate) {
		key := mustECKey(t)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, dir, name+".crt", "CERTIFICATE", der)
		kb, _ := x509.MarshalECPrivateKey(key)
		writePEM(t, dir, name+".key", "EC PRIVATE KEY", kb)
	}
	issue("serving", &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	issue("admin", &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, "sa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa))
	pub, _ := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	writePEM(t, dir, "sa.pub", "PUBLIC KEY", pub)
	return PKI{Dir: dir}
}

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) {
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Start runs bin/kube-apiserver against etcdEndpoint (host:port)
// with extra flags appended, and waits until /readyz answers ok. Stop it
// with Stop; it is also stopped when the test ends.
func Start(t testing.TB, pki PKI, etcdEndpoint string, extra ...string) *Server {
	t.Helper()
	bin := memetcdtest.Binary(t, "kube-apiserver")
	port := freePort(t)
	f := func(n string) string { return filepath.Join(pki.Dir, n) }
	args := append([]string{
		"--etcd-servers=http://" + etcdEndpoint,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + f("serving.crt"), "--tls-private-key-file=" + f("serving.key"),
		"--client-ca-file=" + f("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f("sa.pub"), "--service-account-signing-key-file=" + f("sa.key"),
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
			CAFile: f("ca.crt"), CertFile: f("admin.crt"), KeyFile: f("admin.key"),
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
