package relay

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// testPKI writes a CA of its own and one member certificate (named "member")
// for 127.0.0.1 into dir and returns the file names.
func testPKI(t *testing.T, dir, name string) (cert, key, ca string) {
	t.Helper()
	c := newTestCA(t)
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key = c.writeMember(t, sub, "member")
	return cert, key, c.write(t, sub, "ca.crt")
}

// TestMutualTLS: members on mTLS links decide items; a peer without a
// certificate from the cluster's CA is refused.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile := ca.write(t, dir, "ca.crt")
	_, clientTLS := ca.member(t, "friend")
	c := newTestCluster(t, uniqueScore)
	// Each member's certificate names it: messages are bound to the name.
	c.tune = func(cfg *Config) { cfg.ServerTLS, cfg.ClientTLS = ca.member(t, cfg.Name) }
	leader := c.start("leader", RoleLeaderEligible)
	c.start("relay", RoleRelayOnly)
	c.start("sched-a", RoleScheduler)
	c.start("sched-b", RoleScheduler)
	c.converge()
	ids := submit(t, leader.r, "tls", 40, 20, 20*time.Second)
	c.waitDecided(ids, 30*time.Second)
	c.mu.Lock()
	for _, id := range ids {
		if d := c.decisions[id][0]; d.Reports != 3 || d.Winner == "" {
			c.mu.Unlock()
			t.Fatalf("decision over mTLS: %+v", d)
		}
	}
	c.mu.Unlock()

	// Strangers: no TLS at all, and TLS with a certificate from another CA.
	otherCert, otherKey, _ := testPKI(t, dir, "other")
	_, otherClient, err := MutualTLSFromFiles(otherCert, otherKey, caFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		creds credentials.TransportCredentials
	}{
		{"plain text", insecure.NewCredentials()},
		{"foreign certificate", credentials.NewTLS(otherClient)},
		{"no client certificate", credentials.NewTLS(&tls.Config{RootCAs: clientTLS.RootCAs, MinVersion: tls.VersionTLS13})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpc.NewClient(leader.r.GRPCAddr(), grpc.WithTransportCredentials(tc.creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := relayv1.NewHealthServiceClient(conn).Hello(ctx, &relayv1.HelloRequest{Member: "stranger"}); err == nil {
				t.Fatal("stranger was answered")
			}
		})
	}
	// And a member of the cluster is answered.
	conn, err := grpc.NewClient(leader.r.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := relayv1.NewHealthServiceClient(conn).Hello(ctx, &relayv1.HelloRequest{Member: "friend"})
	if err != nil || resp.GetMember() != "leader" {
		t.Fatalf("hello from a member: %v, %v", resp, err)
	}
}

func TestMutualTLSFromFilesErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := testPKI(t, dir, "x")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cert, key, ca string }{
		{"missing cert", filepath.Join(dir, "nope.crt"), key, ca},
		{"missing ca", cert, key, filepath.Join(dir, "nope-ca.crt")},
		{"ca not pem", cert, key, notPEM},
		{"key mismatch", ca, key, ca},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := MutualTLSFromFiles(tc.cert, tc.key, tc.ca); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
