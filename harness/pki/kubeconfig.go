package pki

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// Kubeconfig describes a single-cluster, single-user kubeconfig with
// client-certificate authentication.
type Kubeconfig struct {
	Server   string // https://127.0.0.1:6443
	CAFile   string
	CertFile string
	KeyFile  string
	// Name is used for the cluster, user and context; "k8s1m" when empty.
	Name string
}

// Write writes the kubeconfig to path with the CA, certificate and key embedded,
// so the file keeps working when copied elsewhere. It is written as YAML by hand
// to keep this package free of client-go; kubectl and client-go read it.
func (k Kubeconfig) Write(path string) error {
	name := k.Name
	if name == "" {
		name = "k8s1m"
	}
	var data [3]string
	for i, f := range []string{k.CAFile, k.CertFile, k.KeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		data[i] = base64.StdEncoding.EncodeToString(b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\n")
	fmt.Fprintf(&b, "clusters:\n- name: %s\n  cluster:\n    server: %q\n    certificate-authority-data: %s\n", name, k.Server, data[0])
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n", name, data[1], data[2])
	fmt.Fprintf(&b, "contexts:\n- name: %s\n  context:\n    cluster: %s\n    user: %s\n", name, name, name)
	fmt.Fprintf(&b, "current-context: %s\n", name)
	// Owner-only: the file holds a private key with cluster-admin rights.
	return writeFile(path, []byte(b.String()), 0o600)
}

// AdminKubeconfig writes a kubeconfig for the admin user of f to path.
func (f *Files) AdminKubeconfig(path, server string) error {
	return Kubeconfig{Server: server, CAFile: f.CACert, CertFile: f.AdminCert, KeyFile: f.AdminKey}.Write(path)
}
