package relay

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// MutualTLSFromFiles builds the server and client TLS configurations for mutual
// TLS between members: every member presents certFile/keyFile and accepts only
// peers whose certificates chain to caFile. Certificates must name the address
// peers dial (an IP SAN or DNS SAN matching the advertised gRPC address).
func MutualTLSFromFiles(certFile, keyFile, caFile string) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load key pair %s, %s: %w", certFile, keyFile, err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, errors.New("CA file " + caFile + " holds no PEM certificate")
	}
	return MutualTLS(cert, pool)
}

// MutualTLS is MutualTLSFromFiles for certificates already in memory.
func MutualTLS(cert tls.Certificate, ca *x509.CertPool) (server, client *tls.Config, err error) {
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    ca,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca,
		MinVersion:   tls.VersionTLS13,
	}
	return server, client, nil
}
