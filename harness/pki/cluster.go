package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
)

// ServiceIP is the first address of the default service range 10.96.0.0/12: the
// apiserver's in-cluster "kubernetes" Service address, which its serving
// certificate must cover.
var ServiceIP = net.IPv4(10, 96, 0, 1)

// Files are the paths of a generated cluster PKI, all in one directory.
type Files struct {
	Dir           string
	CACert        string // ca.crt: the cluster CA (client CA and serving CA)
	CAKey         string // ca.key
	ServingCert   string // apiserver.crt: kube-apiserver's serving certificate
	ServingKey    string
	AdminCert     string // admin.crt: CN=admin, O=system:masters
	AdminKey      string
	SAPublicKey   string // sa.pub: service-account token verification key
	SAPrivateKey  string // sa.key: service-account token signing key
	AdminUserName string
}

// Generate writes a fresh cluster PKI into dir: CA, apiserver serving cert,
// admin client cert and the service-account key pair.
func Generate(dir string) (*Files, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	ca, err := NewCA("k8s1m-local-ca")
	if err != nil {
		return nil, err
	}
	serving, err := ca.Issue(CertSpec{
		CommonName: "kube-apiserver",
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPs:   []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, ServiceIP},
		Usage: Server,
	})
	if err != nil {
		return nil, err
	}
	admin, err := ca.Issue(CertSpec{CommonName: "admin", Organization: []string{"system:masters"}, Usage: Client})
	if err != nil {
		return nil, err
	}
	saPub, saKey, err := serviceAccountKeys()
	if err != nil {
		return nil, err
	}
	f := &Files{
		Dir:           dir,
		CACert:        join(dir, "ca.crt"),
		CAKey:         join(dir, "ca.key"),
		ServingCert:   join(dir, "apiserver.crt"),
		ServingKey:    join(dir, "apiserver.key"),
		AdminCert:     join(dir, "admin.crt"),
		AdminKey:      join(dir, "admin.key"),
		SAPublicKey:   join(dir, "sa.pub"),
		SAPrivateKey:  join(dir, "sa.key"),
		AdminUserName: "admin",
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CACert, ca.CertPEM, 0o644},
		{f.CAKey, ca.KeyPEM, 0o600},
		{f.ServingCert, serving.CertPEM, 0o644},
		{f.ServingKey, serving.KeyPEM, 0o600},
		{f.AdminCert, admin.CertPEM, 0o644},
		{f.AdminKey, admin.KeyPEM, 0o600},
		{f.SAPublicKey, saPub, 0o644},
		{f.SAPrivateKey, saKey, 0o600},
	} {
		if err := writeFile(w.path, w.data, w.mode); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// serviceAccountKeys returns a PEM public key and PEM private key for signing
// service-account tokens (kube-apiserver accepts ECDSA: tokens are ES256).
func serviceAccountKeys() (pub, priv []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("service-account public key: %w", err)
	}
	priv, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), priv, nil
}
