// Package proc runs one binary as its own process: its own process group (so a
// stop reaches everything it forked), its own log file and PID file in a run
// directory, a readiness wait that shows the log tail when the process dies or
// never becomes ready, a graceful stop (SIGTERM, then SIGKILL after a grace
// period) and its CPU seconds and peak RSS as the kernel counts them.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Spec says what to run and where its files go.
type Spec struct {
	// Name identifies the process in file names and errors ("etcd", "scheduler-1").
	Name string
	// Path is the binary; Args its arguments (without argv[0]).
	Path string
	Args []string
	// Env is added to the parent's environment (KEY=VALUE).
	Env []string
	// RunDir holds <Name>.log and <Name>.pid; it is created if missing.
	RunDir string
	// WorkDir is the process's working directory; RunDir when empty.
	WorkDir string
	// KillWithParent asks the kernel to SIGKILL the process when the starting
	// thread's process dies, so a crashed test leaves no orphans behind. Leave it
	// off for processes that must outlive their starter (localcluster up).
	KillWithParent bool
}

// Process is a started binary.
type Process struct {
	spec    Spec
	cmd     *exec.Cmd
	logPath string
	pidPath string
	logFile *os.File

	done    chan struct{} // closed when the process has been reaped
	waitErr error         // set before done is closed

	mu   sync.Mutex // guards last
	last Usage      // last sample read from /proc while the process ran
}

// Start launches spec. The process runs until Stop or until it exits by itself.
func Start(spec Spec) (*Process, error) {
	if spec.Name == "" || spec.Path == "" || spec.RunDir == "" {
		return nil, fmt.Errorf("start: Name, Path and RunDir are required (got %q, %q, %q)", spec.Name, spec.Path, spec.RunDir)
	}
	if err := os.MkdirAll(spec.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: run dir: %w", spec.Name, err)
	}
	p := &Process{
		spec:    spec,
		logPath: filepath.Join(spec.RunDir, spec.Name+".log"),
		pidPath: filepath.Join(spec.RunDir, spec.Name+".pid"),
		done:    make(chan struct{}),
	}
	lf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: log file: %w", spec.Name, err)
	}
	p.logFile = lf
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.WorkDir
	if cmd.Dir == "" {
		cmd.Dir = spec.RunDir
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if spec.KillWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Path, err)
	}
	p.cmd = cmd
	if err := WritePIDFile(p.pidPath, cmd.Process.Pid); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// Name returns the spec's name.
func (p *Process) Name() string { return p.spec.Name }

// PID returns the process id (also its process group id).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogPath returns the file that receives the process's stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// PIDPath returns the PID file.
func (p *Process) PIDPath() string { return p.pidPath }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitError returns the exit error after Done is closed (nil for status 0).
func (p *Process) ExitError() error {
	<-p.done
	return p.waitErr
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return LogTail(p.logPath, n) }

// Stop sends SIGTERM to the process group, waits up to grace for the process to
// exit, then sends SIGKILL. It returns once the process is reaped; the PID file
// is removed, the log kept. Stopping an exited process is a no-op.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Exited() {
		p.sample()
		if err := syscall.Kill(-p.PID(), syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: SIGTERM: %w", p.spec.Name, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
			if err := syscall.Kill(-p.PID(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("stop %s: SIGKILL: %w", p.spec.Name, err)
			}
			<-p.done
		}
	}
	// The leader is gone; anything it forked into its group goes with it.
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	if err := os.Remove(p.pidPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stop %s: remove pid file: %w", p.spec.Name, err)
	}
	return nil
}

// WritePIDFile writes pid to path atomically (temp file + rename), so a reader
// never sees a half-written number.
func WritePIDFile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}

// ReadPIDFile reads a PID written by WritePIDFile.
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(string(trimSpace(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad content %q", path, b)
	}
	return pid, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Alive reports whether a process with pid exists (and is not a zombie).
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	return st.state != 'Z'
}

// StopPID stops a process this process did not start (found through its PID
// file): SIGTERM to its process group, up to grace to go, then SIGKILL. It cannot
// reap the process, so it polls until the pid is gone or a zombie.
func StopPID(pid int, grace time.Duration) error {
	if !Alive(pid) {
		return nil
	}
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Not a group leader (started by someone else): signal the process alone.
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop pid %d: %w", pid, err)
		}
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for range 100 {
		if !Alive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("stop pid %d: still alive after SIGKILL", pid)
}
