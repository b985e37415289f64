// Package runstate records which local cluster is up, so a second `up` says so
// instead of starting a rival set of processes, and `down` (from any terminal)
// finds every process by PID. The record is <runs dir>/active.json; changes to
// it happen under an flock on <runs dir>/.lock so two commands cannot race.
package runstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/k8s1m/k8s1m/harness/proc"
)

// Process is one started process.
type Process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
}

// State is the active run.
type State struct {
	RunDir string `json:"run_dir"`
	// PID is the localcluster process that started the run; it may have exited
	// (after `up`), leaving the processes running.
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	Kubeconfig string    `json:"kubeconfig,omitempty"`
	Processes  []Process `json:"processes"`
}

// ErrRunning is returned (wrapped) by Acquire when a run is already up.
var ErrRunning = errors.New("a local cluster is already running")

// Alive reports whether the run's starter or any of its processes still runs.
func (s *State) Alive() bool {
	if s.PID > 0 && proc.Alive(s.PID) {
		return true
	}
	return slices.ContainsFunc(s.Processes, func(p Process) bool { return proc.Alive(p.PID) })
}

// Store reads and writes the record in one runs directory.
type Store struct{ dir string }

// New returns the store for runsDir (created if missing).
func New(runsDir string) (*Store, error) {
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return nil, fmt.Errorf("runs dir: %w", err)
	}
	return &Store{dir: runsDir}, nil
}

func (s *Store) path() string { return filepath.Join(s.dir, "active.json") }

// locked runs f holding the directory's flock.
func (s *Store) locked(f func() error) error {
	lf, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("run lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("run lock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return f()
}

// Load returns the recorded run, or nil when there is none.
func (s *Store) Load() (*State, error) {
	b, err := os.ReadFile(s.path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path(), err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path(), err)
	}
	return &st, nil
}

func (s *Store) write(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write run state: %w", err)
	}
	if err := os.Rename(tmp, s.path()); err != nil {
		return fmt.Errorf("write run state: %w", err)
	}
	return nil
}

// Acquire records st as the active run, failing with ErrRunning when a recorded
// run is still alive. A record left by a run whose processes are all gone
// (a crash, a reboot) is replaced.
func (s *Store) Acquire(st *State) error {
	return s.locked(func() error {
		old, err := s.Load()
		if err != nil {
			return err
		}
		if old != nil && old.Alive() {
			return fmt.Errorf("%w (run dir %s, started %s by pid %d): stop it with `localcluster down` first",
				ErrRunning, old.RunDir, old.Started.Format(time.RFC3339), old.PID)
		}
		return s.write(st)
	})
}

// Update rewrites the record (as processes start).
func (s *Store) Update(st *State) error {
	return s.locked(func() error { return s.write(st) })
}

// Release removes the record if it still names runDir.
func (s *Store) Release(runDir string) error {
	return s.locked(func() error {
		old, err := s.Load()
		if err != nil || old == nil || old.RunDir != runDir {
			return err
		}
		if err := os.Remove(s.path()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove run state: %w", err)
		}
		return nil
	})
}

// Down stops the recorded run: first the localcluster process that started it
// (SIGTERM: it stops its own children in order and writes its report), then,
// after it is gone or grace has passed, any recorded process still alive,
// newest first. It returns the stopped run's state, nil if none was recorded.
func (s *Store) Down(grace time.Duration) (*State, error) {
	st, err := s.Load()
	if err != nil || st == nil {
		return nil, err
	}
	var errs []error
	if st.PID > 0 && st.PID != os.Getpid() && proc.Alive(st.PID) {
		_ = syscall.Kill(st.PID, syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for proc.Alive(st.PID) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, p := range slices.Backward(st.Processes) {
		if err := proc.StopPID(p.PID, grace); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return st, err
	}
	return st, s.Release(st.RunDir)
}
