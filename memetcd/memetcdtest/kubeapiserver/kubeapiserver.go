// Package kubeapiserver starts the real kube-apiserver binary for tests, with
// certificates made on the spot, against any etcd endpoint (memetcd here),
// through the workspace harness (harness/kubeapi), and hands back a client
// config for it.
package kubeapiserver

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
	"github.com/k8s1m/k8s1m/harness/pki"
	"k8s.io/client-go/rest"
)

// Server is a running kube-apiserver binary whose only store is an
// etcd endpoint (memetcd in these tests).
type Server struct {
	Config *rest.Config // admin client config (client certificate, system:masters)
	api    *kubeapi.APIServer
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
	bin := bins.RequireBinary(t, "kube-apiserver")
	api, err := kubeapi.Start(context.Background(), kubeapi.Config{
		Bin: bin, RunDir: t.TempDir(), PKI: certs.Files, EtcdServers: []string{"http://" + etcdEndpoint},
		AuthorizationMode: "RBAC", ServiceClusterIPRange: "10.96.0.0/24",
		ExtraArgs: append([]string{"--v=1"}, extra...), KillWithParent: true, ReadyTimeout: 90 * time.Second,
	})
	if err != nil {
		t.Fatalf("kube-apiserver: %v", err)
	}
	k := &Server{api: api, Config: &rest.Config{
		Host: api.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: api.CAFile, CertFile: api.CertFile, KeyFile: api.KeyFile,
		},
		QPS: 1000, Burst: 1000,
	}}
	t.Cleanup(func() {
		k.Stop()
		if t.Failed() {
			t.Logf("kube-apiserver output (tail):\n%s", api.Proc.LogTail(8000))
		}
	})
	return k
}

// Stop terminates the apiserver (SIGTERM, then SIGKILL) and waits for it.
func (k *Server) Stop() { _ = k.api.Stop(20 * time.Second) }

// Pid is the apiserver's process id (its CPU and memory in /proc).
func (k *Server) Pid() int { return k.api.Proc.PID() }

// Logs returns the apiserver's output so far.
func (k *Server) Logs() string {
	b, err := os.ReadFile(k.api.Proc.LogPath())
	if err != nil {
		return err.Error()
	}
	return string(b)
}
