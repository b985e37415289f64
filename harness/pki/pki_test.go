package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve starts a loopback HTTPS server with f's serving certificate that
// requires a client certificate from f's CA and echoes the client's subject.
func serve(t *testing.T, f *Files) (port int) {
	t.Helper()
	serving, err := tls.LoadX509KeyPair(f.ServingCert, f.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.TLS.PeerCertificates[0]
		fmt.Fprintf(w, "%s/%s", c.Subject.CommonName, strings.Join(c.Subject.Organization, ","))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestGenerateServesAndAuthenticates(t *testing.T) {
	f, err := Generate(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Generate(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	port := serve(t, f)
	tests := []struct {
		name    string
		host    string
		client  *Files // whose admin cert and CA the client uses
		want    string
		wantErr bool
	}{
		{name: "ip", host: "127.0.0.1", client: f, want: "admin/system:masters"},
		{name: "localhost", host: "localhost", client: f, want: "admin/system:masters"},
		{name: "other CA is refused", host: "127.0.0.1", client: other, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.client.AdminTLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			if tt.client != f {
				// Trust the server, present the other CA's admin cert.
				good, _ := f.AdminTLSConfig()
				cfg.RootCAs = good.RootCAs
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := c.Get(fmt.Sprintf("https://%s/", net.JoinHostPort(tt.host, fmt.Sprint(port))))
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded with a certificate from another CA")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != tt.want {
				t.Errorf("server saw %q, want %q", body, tt.want)
			}
		})
	}
}

func TestServingCertNames(t *testing.T) {
	f, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert := readCert(t, f.ServingCert)
	for _, name := range []string{"localhost", "kubernetes.default.svc", "127.0.0.1", "::1", "10.96.0.1"} {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("serving cert does not cover %s: %v", name, err)
		}
	}
}

func TestServiceAccountKeysMatch(t *testing.T) {
	f, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := os.ReadFile(f.SAPublicKey)
	keyPEM, _ := os.ReadFile(f.SAPrivateKey)
	pb, _ := pem.Decode(pubPEM)
	kb, _ := pem.Decode(keyPEM)
	if pb == nil || kb == nil {
		t.Fatal("service-account files are not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(pub.(*ecdsa.PublicKey)) {
		t.Error("sa.pub is not the public half of sa.key")
	}
	fi, err := os.Stat(f.SAPrivateKey)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("sa.key mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestKubeconfigEmbedsFiles(t *testing.T) {
	f, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := f.AdminKubeconfig(path, "https://127.0.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for key, file := range map[string]string{
		"certificate-authority-data": f.CACert,
		"client-certificate-data":    f.AdminCert,
		"client-key-data":            f.AdminKey,
	} {
		want, _ := os.ReadFile(file)
		if got := field(text, key); got != base64.StdEncoding.EncodeToString(want) {
			t.Errorf("%s does not embed %s", key, file)
		}
	}
	for _, want := range []string{`server: "https://127.0.0.1:6443"`, "current-context: k8s1m", "kind: Config"} {
		if !strings.Contains(text, want) {
			t.Errorf("kubeconfig lacks %q:\n%s", want, text)
		}
	}
}

func field(text, key string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+": "); ok {
			return v
		}
	}
	return ""
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: not PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
