package durability

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// memetcd re-executes itself with the Go runtime's monitor kept from deep
// sleep (cmd/memetcd/sysmon.go) unless told not to; the running process's
// environment shows which.
func TestSysmonKeptAwake(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		awake bool
	}{
		{"default", nil, true},
		{"--go-sysmon-deep-sleep", []string{"--go-sysmon-deep-sleep"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startT(t, filepath.Join(t.TempDir(), "wal"), tc.args...)
			env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.Pid()))
			if err != nil {
				t.Fatal(err)
			}
			got := bytes.Contains(env, []byte("schedtrace=2147483647"))
			if got != tc.awake {
				t.Errorf("GODEBUG schedtrace set: %v, want %v (environment %q)", got, tc.awake, bytes.ReplaceAll(env, []byte{0}, []byte{' '}))
			}
			// Still serving after the re-execution.
			if _, err := client(t, p.Endpoint).Put(t.Context(), "k", "v"); err != nil {
				t.Fatalf("put after start: %v", err)
			}
		})
	}
}
