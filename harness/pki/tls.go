package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// AdminTLSConfig returns a client TLS config that trusts the cluster CA and
// presents the admin certificate: what a probe of /readyz or a test needs to
// talk to the apiserver without client-go.
func (f *Files) AdminTLSConfig() (*tls.Config, error) {
	return ClientTLSConfig(f.CACert, f.AdminCert, f.AdminKey)
}

// ClientTLSConfig builds a client TLS config from PEM files.
func ClientTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("client tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("client tls: no certificate in %s", caFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client tls: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
