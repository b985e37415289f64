package relay

import (
	"context"
	"crypto/x509"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// CertNames are the member names a certificate speaks for: its subject's
// Common Name and its DNS SANs. Issue each member a certificate naming it
// (as well as the IP or DNS name peers dial it at): with mutual TLS a peer
// may only send scores, decisions and batches under a name its certificate
// carries, so a member cannot report in another member's name.
func CertNames(cert *x509.Certificate) []string {
	names := slices.Clone(cert.DNSNames)
	if cn := cert.Subject.CommonName; cn != "" && !slices.Contains(names, cn) {
		names = append(names, cn)
	}
	return names
}

// identity is who sent a stream: the names of its verified client
// certificate, or nobody in particular (bound false) without mutual TLS.
type identity struct {
	bound bool
	names []string
}

// streamIdentity reads the verified client certificate of a stream's peer.
func streamIdentity(ctx context.Context) identity {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return identity{}
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return identity{}
	}
	return identity{bound: true, names: CertNames(ti.State.VerifiedChains[0][0])}
}

// check refuses a message naming a member the certificate does not name. An
// empty name is not a claim (From is informational on older members).
func (id identity) check(r *Relay, what, name string) error {
	if !id.bound || name == "" || slices.Contains(id.names, name) {
		return nil
	}
	r.metrics.refusedNames.Inc()
	r.log.Warn().Str("claimed", name).Strs("certificate", id.names).Str("field", what).Msg("refused a stream: message names a member its certificate does not")
	return status.Errorf(codes.PermissionDenied, "%s %q is not a name of the sender's certificate", what, name)
}
