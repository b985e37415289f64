package durability

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Build compiles cmd/memetcd of this module into dir and returns its path.
func Build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "memetcd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/k8s1m/k8s1m/memetcd/cmd/memetcd")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build memetcd: %w: %s", err, b)
	}
	return out, nil
}

// Process is one running memetcd.
type Process struct {
	Endpoint    string // host:port of the gRPC client port
	MetricsAddr string // host:port of /metrics and /debug/pprof
	cmd         *exec.Cmd
	logPath     string
	exited      chan struct{}
	waitErr     error
	once        sync.Once
}

// Start runs bin with args (plus loopback ports chosen by the kernel), writes
// its log to logPath and returns once it serves.
func Start(ctx context.Context, bin, logPath string, args ...string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("memetcd log: %w", err)
	}
	args = append([]string{"--port=0", "--metrics-port=0", "--log-format=json"}, args...)
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(logFile, pw)
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start memetcd: %w", err)
	}
	p := &Process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		pw.Close()
		logFile.Close()
		close(p.exited)
	}()
	type addrs struct{ client, metrics string }
	addr := make(chan addrs, 1)
	go func() {
		// The serving line carries the bound address; keep draining after
		// it so the child never blocks on a full pipe.
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			if sent {
				continue
			}
			var line struct {
				Message     string `json:"message"`
				ClientAddr  string `json:"client_addr"`
				MetricsAddr string `json:"metrics_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "memetcd serving" {
				addr <- addrs{line.ClientAddr, line.MetricsAddr}
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		p.Endpoint, p.MetricsAddr = a.client, a.metrics
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("memetcd exited before serving (%v): %s", p.waitErr, p.tail())
	case <-ctx.Done():
		p.Kill()
		return nil, fmt.Errorf("memetcd did not start: %w: %s", ctx.Err(), p.tail())
	case <-time.After(60 * time.Second):
		p.Kill()
		return nil, fmt.Errorf("memetcd did not serve within 60s: %s", p.tail())
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL (no flush, no goodbye) and waits for the process to go.
func (p *Process) Kill() {
	p.once.Do(func() { _ = p.cmd.Process.Kill() })
	<-p.exited
}

// Stop sends SIGTERM and waits; memetcd flushes and closes its WAL.
func (p *Process) Stop() error {
	p.once.Do(func() { _ = p.cmd.Process.Signal(os.Interrupt) })
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("memetcd ignored SIGTERM for 30s")
	}
	var ee *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		return p.waitErr
	}
	if p.cmd.ProcessState.ExitCode() != 0 {
		return fmt.Errorf("memetcd exited with %d: %s", p.cmd.ProcessState.ExitCode(), p.tail())
	}
	return nil
}

// tail is the end of the log, for error messages.
func (p *Process) tail() string {
	b, _ := os.ReadFile(p.logPath)
	s := string(b)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return strings.TrimSpace(s)
}
