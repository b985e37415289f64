package kubeapi

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/store"
)

func get(t *testing.T, cfg *tls.Config, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAPIServer runs the real kube-apiserver on each real store through the
// harness and checks that the admin certificate is cluster-admin while an
// anonymous client is not.
func TestAPIServer(t *testing.T) {
	for _, kind := range []store.Kind{store.Etcd, store.Memetcd} {
		t.Run(string(kind), func(t *testing.T) { testAPIServerOn(t, kind) })
	}
}

func testAPIServerOn(t *testing.T, kind store.Kind) {
	storeBin := bins.RequireBinary(t, string(kind))
	apiBin := bins.RequireBinary(t, "kube-apiserver")
	dir := t.TempDir()
	files, err := pki.Generate(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Start(t.Context(), store.Config{Kind: kind, Bin: storeBin, RunDir: dir, KillWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(10 * time.Second) })
	a, err := Start(t.Context(), Config{
		Bin:            apiBin,
		RunDir:         dir,
		PKI:            files,
		EtcdServers:    []string{s.Endpoint},
		KillWithParent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(10 * time.Second) })

	admin, err := files.AdminTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	anonymous, err := pki.ClientTLSConfig(files.CACert, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tls      *tls.Config
		path     string
		wantCode int
		wantBody string
	}{
		{name: "readyz as admin", tls: admin, path: "/readyz", wantCode: 200, wantBody: "ok"},
		{name: "namespace as admin", tls: admin, path: "/api/v1/namespaces/default", wantCode: 200, wantBody: `"name":"default"`},
		{name: "namespace as anonymous", tls: anonymous, path: "/api/v1/namespaces/default", wantCode: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, tt.tls, a.URL+tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	kc, err := os.ReadFile(a.Kubeconfig)
	if err != nil || !strings.Contains(string(kc), fmt.Sprintf("server: %q", a.URL)) {
		t.Errorf("kubeconfig %s does not point at %s: %v", a.Kubeconfig, a.URL, err)
	}
}

func TestArgs(t *testing.T) {
	f := &pki.Files{CACert: "ca.crt", ServingCert: "s.crt", ServingKey: "s.key", SAPublicKey: "sa.pub", SAPrivateKey: "sa.key"}
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "defaults", cfg: Config{PKI: f, EtcdServers: []string{"http://127.0.0.1:2379"}},
			want: []string{"--etcd-servers=http://127.0.0.1:2379", "--secure-port=6443", "--authorization-mode=Node,RBAC", "--service-cluster-ip-range=10.96.0.0/12", "--client-ca-file=ca.crt"}},
		{name: "always allow and extra args last", cfg: Config{PKI: f, EtcdServers: []string{"a", "b"}, AuthorizationMode: AuthzAlwaysAllow, ExtraArgs: []string{"--v=2"}},
			want: []string{"--etcd-servers=a,b", "--authorization-mode=AlwaysAllow", "--v=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := Args(tt.cfg, 6443)
			joined := strings.Join(args, " ")
			for _, w := range tt.want {
				if !strings.Contains(joined, w) {
					t.Errorf("args lack %q: %s", w, joined)
				}
			}
			if n := len(tt.cfg.ExtraArgs); n > 0 && args[len(args)-1] != tt.cfg.ExtraArgs[n-1] {
				t.Errorf("extra args are not last: %v", args)
			}
		})
	}
}
