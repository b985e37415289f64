package store

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/proc"
)

func TestParseKind(t *testing.T) {
	tests := []struct {
		in      string
		want    Kind
		wantErr bool
	}{
		{in: "etcd", want: Etcd},
		{in: "memetcd", want: Memetcd},
		{in: "consul", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseKind(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseKind(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestStartRefusesTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(t.Context(), Config{
		Kind:       Etcd,
		Bin:        "/nonexistent/etcd", // never reached: the port check comes first
		RunDir:     t.TempDir(),
		ClientPort: l.Addr().(*net.TCPAddr).Port,
	})
	if !errors.Is(err, proc.ErrPortTaken) {
		t.Fatalf("Start = %v, want ErrPortTaken", err)
	}
}

// TestEtcd starts the real etcd and checks the endpoints the rest of the
// workspace relies on: health, metrics with the mvcc write counters.
func TestEtcd(t *testing.T) {
	bin := bins.RequireBinary(t, "etcd")
	s, err := Start(t.Context(), Config{Kind: Etcd, Bin: bin, RunDir: t.TempDir(), KillWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(10 * time.Second) })
	resp, err := http.Get(s.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, m := range []string{"etcd_mvcc_put_total", "etcd_server_has_leader 1"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
	if err := proc.TCPProbe(strings.TrimPrefix(s.Endpoint, "http://"))(t.Context()); err != nil {
		t.Errorf("client endpoint %s: %v", s.Endpoint, err)
	}
	if err := s.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Proc.ExitError(); err != nil {
		t.Errorf("etcd exit after SIGTERM = %v, want clean", err)
	}
}
