package command

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func newTestRoot(t *testing.T, got *string) *Root {
	t.Helper()
	r := NewRoot("demo", "a demo")
	r.Cmd.Flags().StringVar(got, "port", "2379", "port to listen on")
	BindEnv(r.Cmd.Flags(), "port", "DEMO_PORT")
	r.Cmd.RunE = func(*cobra.Command, []string) error {
		_, err := r.Logger()
		return err
	}
	return r
}

func TestEnvFallback(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{name: "default", want: "2379"},
		{name: "env used when flag absent", env: "1234", want: "1234"},
		{name: "flag beats env", env: "1234", args: []string{"--port", "99"}, want: "99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("DEMO_PORT", tt.env)
			}
			var port string
			r := newTestRoot(t, &port)
			r.Cmd.SetArgs(tt.args)
			if err := r.Cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if port != tt.want {
				t.Fatalf("port = %q, want %q", port, tt.want)
			}
		})
	}
}

func TestBadEnvIsAnError(t *testing.T) {
	t.Setenv("K8S1M_LOG_FORMAT", "xml")
	var port string
	r := newTestRoot(t, &port)
	r.Cmd.SetArgs(nil)
	if err := r.Cmd.Execute(); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("want error naming the bad format, got %v", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	var port string
	r := newTestRoot(t, &port)
	var out bytes.Buffer
	r.Cmd.SetOut(&out)
	r.Cmd.SetArgs([]string{"--help"})
	if err := r.Cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--port", "DEMO_PORT", "--log-format", "--version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	r = newTestRoot(t, &port) // cobra keeps --help set on a reused command
	r.Cmd.SetOut(&out)
	r.Cmd.SetArgs([]string{"--version"})
	if err := r.Cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "revision") {
		t.Errorf("--version = %q", out.String())
	}
}
