package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child process: with helperEnv set, TestMain
// runs the named behaviour instead of the tests, so children are real processes
// with known behaviour and no dependency on tools installed on the machine.
const helperEnv = "PROC_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		// Print, then serve /ready on the port in PORT until SIGTERM.
		fmt.Println("helper starting")
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(3)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
		go srv.Serve(l)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		fmt.Println("helper stopping")
		os.Exit(0)
	case "fail":
		fmt.Println("line one")
		fmt.Fprintln(os.Stderr, "fatal: cannot open the thing")
		os.Exit(2)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		for {
			time.Sleep(time.Hour)
		}
	case "burn":
		// Use some CPU and memory, then exit.
		buf := make([]byte, 32<<20)
		for i := range buf {
			buf[i] = byte(i)
		}
		x := 0
		for i := range 2_000_000 {
			x += i ^ int(buf[i%len(buf)])
		}
		fmt.Println(x)
		os.Exit(0)
	}
	os.Exit(99)
}

func helper(t *testing.T, name, mode string, env ...string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Name:           name,
		Path:           exe,
		Env:            append([]string{helperEnv + "=" + mode}, env...),
		RunDir:         t.TempDir(),
		KillWithParent: true,
	}
}

func start(t *testing.T, spec Spec) *Process {
	t.Helper()
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(time.Second) })
	return p
}

func TestStartReadyStop(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, helper(t, "server", "serve", fmt.Sprintf("PORT=%d", port)))

	pid, err := ReadPIDFile(p.PIDPath())
	if err != nil || pid != p.PID() {
		t.Fatalf("pid file = %d, %v; want %d", pid, err, p.PID())
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	for _, probe := range []Probe{TCPProbe(fmt.Sprintf("127.0.0.1:%d", port)), HTTPProbe(url, nil)} {
		if err := p.WaitReady(t.Context(), probe, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if u := p.Usage(); u.PeakRSSBytes <= 0 || u.RSSBytes <= 0 || u.RSSBytes > u.PeakRSSBytes || u.CPUSeconds < 0 {
		t.Errorf("running usage = %+v, want a positive RSS no larger than the peak", u)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.ExitError(); err != nil {
		t.Errorf("graceful stop exit = %v, want status 0", err)
	}
	if _, err := os.Stat(p.PIDPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after stop: %v", err)
	}
	log, _ := os.ReadFile(p.LogPath())
	if !strings.Contains(string(log), "helper starting") || !strings.Contains(string(log), "helper stopping") {
		t.Errorf("log = %q, want start and stop lines", log)
	}
	if Alive(pid) {
		t.Errorf("pid %d alive after Stop", pid)
	}
}

func TestWaitReadyFailures(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		timeout time.Duration
		want    []string
	}{
		{name: "exits early", mode: "fail", timeout: time.Minute, want: []string{"exited before it was ready", "fatal: cannot open the thing", "line one"}},
		{name: "never ready", mode: "stubborn", timeout: 300 * time.Millisecond, want: []string{"not ready after", "ignoring SIGTERM", "last probe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, helper(t, tt.mode, tt.mode))
			port, err := FreePort()
			if err != nil {
				t.Fatal(err)
			}
			// Wait for the helper's first line so "never ready" has a log to show.
			deadline := time.Now().Add(30 * time.Second)
			for p.LogTail(1) == "" && time.Now().Before(deadline) && !p.Exited() {
				time.Sleep(10 * time.Millisecond)
			}
			err = p.WaitReady(t.Context(), TCPProbe(fmt.Sprintf("127.0.0.1:%d", port)), tt.timeout)
			if err == nil {
				t.Fatal("WaitReady = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	p := start(t, helper(t, "stubborn", "stubborn"))
	for !strings.Contains(p.LogTail(1), "ignoring") {
		if p.Exited() {
			t.Fatalf("helper exited: %s", p.LogTail(5))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Stop(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var exit interface{ Sys() any }
	if !errors.As(p.ExitError(), &exit) {
		t.Fatalf("exit error = %v, want a signal exit", p.ExitError())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("exit = %v, want killed by SIGKILL", p.ExitError())
	}
}

func TestStopPID(t *testing.T) {
	// A process that is not our child: sh starts the helper in the background and
	// exits, so the helper is reparented and only its PID file leads to it.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "orphan.pid")
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, Spec{
		Name:   "launcher",
		Path:   "/bin/sh",
		Args:   []string{"-c", fmt.Sprintf(`%s=serve PORT=%d setsid %q & echo $! > %q`, helperEnv, port, exe, pidFile)},
		RunDir: dir,
	})
	<-p.Done()
	pid, err := ReadPIDFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for TCPProbe(fmt.Sprintf("127.0.0.1:%d", port))(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatal("orphan helper never listened")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !Alive(pid) {
		t.Fatalf("pid %d not alive", pid)
	}
	if err := StopPID(pid, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) {
		t.Errorf("pid %d alive after StopPID", pid)
	}
}

func TestUsageAfterExit(t *testing.T) {
	p := start(t, helper(t, "burn", "burn"))
	if err := p.ExitError(); err != nil {
		t.Fatalf("burn: %v: %s", err, p.LogTail(5))
	}
	u := p.Usage()
	if u.CPUSeconds <= 0 {
		t.Errorf("CPU seconds = %v, want > 0", u.CPUSeconds)
	}
	if u.PeakRSSBytes < 32<<20 {
		t.Errorf("peak RSS = %d, want at least the 32 MiB the helper touched", u.PeakRSSBytes)
	}
}

func TestPorts(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice in %v", p, ports)
		}
		seen[p] = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	if err := CheckPortFree(taken); !errors.Is(err, ErrPortTaken) {
		t.Errorf("CheckPortFree(taken) = %v, want ErrPortTaken", err)
	}
	if err := CheckPortFree(ports[0]); err != nil {
		t.Errorf("CheckPortFree(free) = %v", err)
	}
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", tailBytes) + "\ncut\nlast\n"
	tests := []struct {
		name, content string
		n             int
		want          string
	}{
		{name: "fewer lines than asked", content: "a\nb\n", n: 5, want: "a\nb"},
		{name: "last n", content: "a\nb\nc\nd\n", n: 2, want: "c\nd"},
		{name: "no trailing newline", content: "a\nb", n: 1, want: "b"},
		{name: "empty", content: "", n: 3, want: ""},
		{name: "larger than the read window", content: long, n: 2, want: "cut\nlast"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint(i))
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := LogTail(path, tt.n); got != tt.want {
				t.Errorf("LogTail = %q, want %q", got, tt.want)
			}
		})
	}
	if got := LogTail(filepath.Join(dir, "missing"), 3); got != "" {
		t.Errorf("LogTail(missing) = %q", got)
	}
}
