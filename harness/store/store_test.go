package store

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
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

// TestStores starts each real store binary and checks the endpoints the rest
// of the workspace relies on: health, the client port, metrics with the mvcc
// write counters, and a clean exit on SIGTERM.
func TestStores(t *testing.T) {
	for _, kind := range []Kind{Etcd, Memetcd} {
		t.Run(string(kind), func(t *testing.T) {
			bin := bins.RequireBinary(t, string(kind))
			s, err := Start(t.Context(), Config{Kind: kind, Bin: bin, RunDir: t.TempDir(), KillWithParent: true})
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
			if !strings.Contains(string(body), "mvcc_put_total") {
				t.Errorf("metrics lack an mvcc put counter")
			}
			if err := proc.TCPProbe(strings.TrimPrefix(s.Endpoint, "http://"))(t.Context()); err != nil {
				t.Errorf("client endpoint %s: %v", s.Endpoint, err)
			}
			if err := s.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := s.Proc.ExitError(); !cleanExit(err) {
				t.Errorf("exit after SIGTERM = %v, want status 0 or SIGTERM", err)
			}
		})
	}
}

// cleanExit accepts status 0 and death by SIGTERM: etcd finishes its shutdown
// and then re-raises the signal it got, as its interrupt handler is built to.
func cleanExit(err error) bool {
	var ee *exec.ExitError
	if err == nil {
		return true
	}
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}
