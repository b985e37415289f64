package runstate

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

func TestAcquire(t *testing.T) {
	deadPID := startExited(t)
	tests := []struct {
		name    string
		old     *State
		wantErr error
	}{
		{name: "nothing recorded"},
		{name: "live run refuses", old: &State{RunDir: "/old", PID: os.Getpid()}, wantErr: ErrRunning},
		{name: "live process refuses", old: &State{RunDir: "/old", Processes: []Process{{Name: "etcd", PID: os.Getpid()}}}, wantErr: ErrRunning},
		{name: "stale record replaced", old: &State{RunDir: "/old", PID: deadPID, Processes: []Process{{Name: "etcd", PID: deadPID}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if tt.old != nil {
				if err := s.Update(tt.old); err != nil {
					t.Fatal(err)
				}
			}
			err = s.Acquire(&State{RunDir: "/new", PID: os.Getpid()})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Acquire = %v, want %v", err, tt.wantErr)
			}
			st, _ := s.Load()
			want := "/new"
			if tt.wantErr != nil {
				want = "/old"
			}
			if st == nil || st.RunDir != want {
				t.Errorf("recorded run = %+v, want %s", st, want)
			}
		})
	}
}

// startExited returns the PID of a process that has exited and been reaped.
func startExited(t *testing.T) int {
	t.Helper()
	p, err := proc.Start(proc.Spec{Name: "true", Path: "/bin/true", RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	return p.PID()
}

func TestDownStopsRecordedProcesses(t *testing.T) {
	runs := t.TempDir()
	s, err := New(runs)
	if err != nil {
		t.Fatal(err)
	}
	var ps []Process
	for _, name := range []string{"store", "apiserver"} {
		p, err := proc.Start(proc.Spec{Name: name, Path: "/bin/sleep", Args: []string{"600"}, RunDir: t.TempDir(), KillWithParent: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop(time.Second) })
		ps = append(ps, Process{Name: name, PID: p.PID(), Log: p.LogPath()})
	}
	if err := s.Acquire(&State{RunDir: "/run/1", Processes: ps}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Down(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil || st.RunDir != "/run/1" {
		t.Fatalf("Down returned %+v", st)
	}
	for _, p := range ps {
		if proc.Alive(p.PID) {
			t.Errorf("%s (pid %d) alive after Down", p.Name, p.PID)
		}
	}
	if st, _ := s.Load(); st != nil {
		t.Errorf("record left after Down: %+v", st)
	}
	if err := s.Acquire(&State{RunDir: "/run/2"}); err != nil {
		t.Errorf("Acquire after Down: %v", err)
	}
	if st, err := New(t.TempDir()); err != nil {
		t.Fatal(err)
	} else if got, err := st.Down(time.Second); got != nil || err != nil {
		t.Errorf("Down with nothing recorded = %+v, %v", got, err)
	}
}
