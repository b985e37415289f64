package relay

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/connectivity"
)

func TestGathererDown(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		state    connectivity.State
		refused  bool
		want     bool
	}{
		{"refused once", 1, connectivity.TransientFailure, true, false},
		{"refused twice", 2, connectivity.TransientFailure, true, true},
		// The TCP connect worked and the handshake timed out: a live
		// gatherer on a starved machine, not a gone one.
		{"handshake timed out twice", 2, connectivity.TransientFailure, false, false},
		{"handshake timed out, slow opens", maxSlowOpens - 1, connectivity.TransientFailure, false, false},
		{"handshake timed out, too many opens", maxSlowOpens, connectivity.TransientFailure, false, true},
		{"connecting", maxSlowOpens - 1, connectivity.Connecting, false, false},
		{"connecting too long", maxSlowOpens, connectivity.Connecting, false, true},
		// refused is stale once the connection is being set up again.
		{"connecting after a refusal", 2, connectivity.Connecting, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gathererDown(tc.failures, tc.state, tc.refused); got != tc.want {
				t.Fatalf("gathererDown(%d, %v, refused=%v) = %v, want %v", tc.failures, tc.state, tc.refused, got, tc.want)
			}
		})
	}
}

// TestPeerDialRecordsRefusal: a refused connect marks the peer refused, a
// connect that works clears it, and one given up on (a timeout) leaves it.
func TestPeerDialRecordsRefusal(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	p := &peer{}
	p.refused.Store(true)
	c, err := p.dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if p.refused.Load() {
		t.Fatal("refused after a connect that worked")
	}

	_ = lis.Close()
	if _, err := p.dial(context.Background(), addr); err == nil {
		t.Fatal("dial to a closed port worked")
	}
	if !p.refused.Load() {
		t.Fatal("not refused after a refused connect")
	}

	p.refused.Store(false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.dial(ctx, addr); err == nil {
		t.Fatal("dial with a cancelled context worked")
	}
	if p.refused.Load() {
		t.Fatal("a connect given up on counted as refused")
	}
}
