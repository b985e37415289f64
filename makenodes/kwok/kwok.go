// Package kwok runs real kwok controllers (the sigs.k8s.io/kwok binary) on this
// machine, one process per kwok group: process i manages exactly the nodes
// labelled kwok-group=<i>, renews their node leases and marks pods bound to them
// Running. It is what a local cluster uses in place of the StatefulSet that
// deploy/ describes for real clusters; both run the same binary with the same
// flags and stages.
package kwok

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/k8s1m/k8s1m/harness/kwokstages"
	"github.com/rs/zerolog"
)

// GroupLabel is the node label that assigns a node to a controller.
const GroupLabel = "kwok-group"

// Config describes the controllers to run.
type Config struct {
	// Binary is the kwok executable (make bin/kwok builds it).
	Binary string
	// Kubeconfig the controllers use to reach the apiserver.
	Kubeconfig string
	// Groups is how many controllers to run: group i manages kwok-group=<i>.
	// For N nodes at P per group that is ceil(N/P).
	Groups int
	// FirstGroup lets several machines split the groups (default 0).
	FirstGroup int
	// Dir receives the stage configuration and one log file per controller.
	Dir string
	// NodeLeaseDurationSeconds is the lease duration kwok writes; kwok renews
	// each node's lease well within it (as a kubelet does, a quarter of it).
	// Default 40, the kubelet's default.
	NodeLeaseDurationSeconds int
	// ExtraArgs are appended to every controller's arguments.
	ExtraArgs []string
	// Log receives start/stop events; the zero logger is silent.
	Log zerolog.Logger
	// StartTimeout bounds the wait for every controller to answer /healthz.
	// Default one minute.
	StartTimeout time.Duration
}

// Controllers are running kwok processes.
type Controllers struct {
	procs []*process
	log   zerolog.Logger
	stop  sync.Once
}

type process struct {
	group   int
	addr    string // host:port of its /healthz and /metrics server
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process is gone
	err     error         // exit error, valid after exited is closed
}

// Start starts one controller per group and returns once all answer /healthz.
// They keep running until Stop is called or ctx is done.
func Start(ctx context.Context, cfg Config) (*Controllers, error) {
	if cfg.Groups <= 0 {
		return nil, fmt.Errorf("kwok: groups %d: must be positive", cfg.Groups)
	}
	if cfg.NodeLeaseDurationSeconds == 0 {
		cfg.NodeLeaseDurationSeconds = 40
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = time.Minute
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("kwok binary (make bin/kwok): %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("kwok dir: %w", err)
	}
	stages := filepath.Join(cfg.Dir, "stages.yaml")
	if err := os.WriteFile(stages, []byte(kwokstages.Stages()), 0o644); err != nil {
		return nil, fmt.Errorf("write kwok stages: %w", err)
	}

	c := &Controllers{log: cfg.Log}
	for g := cfg.FirstGroup; g < cfg.FirstGroup+cfg.Groups; g++ {
		p, err := c.startOne(cfg, stages, g)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	go func() {
		<-ctx.Done()
		c.Stop()
	}()

	deadline := time.Now().Add(cfg.StartTimeout)
	for _, p := range c.procs {
		if err := p.waitHealthy(ctx, deadline); err != nil {
			c.Stop()
			return nil, err
		}
	}
	cfg.Log.Info().Int("controllers", len(c.procs)).Int("first_group", cfg.FirstGroup).Msg("kwok controllers running")
	return c, nil
}

// Flags are the settings one controller runs with.
type Flags struct {
	Kubeconfig    string // "" means in-cluster
	Stages        string // path of the kwokstages.Stages() file
	ServerAddress string // /healthz and /metrics listen address
	Group         string // the kwok-group label value it manages
	LeaseSeconds  int
	CIDR          string // pod IPs are handed out from here
}

// Args are the controller's command-line flags; the local runner and the
// StatefulSet manifest both use them, so both run kwok the same way.
func (f Flags) Args() []string {
	args := []string{
		"--manage-all-nodes=false",
		"--manage-nodes-with-label-selector=" + GroupLabel + "=" + f.Group,
		"--node-lease-duration-seconds=" + strconv.Itoa(f.LeaseSeconds),
		"--server-address=" + f.ServerAddress,
		"--cidr=" + f.CIDR,
		"--config=" + f.Stages,
	}
	if f.Kubeconfig != "" {
		args = append(args, "--kubeconfig="+f.Kubeconfig)
	}
	return args
}

func (c *Controllers) startOne(cfg Config, stages string, g int) (*process, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.Dir, fmt.Sprintf("kwok-%d.log", g))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("kwok group %d log: %w", g, err)
	}
	flags := Flags{
		Kubeconfig:    cfg.Kubeconfig,
		Stages:        stages,
		ServerAddress: addr,
		Group:         strconv.Itoa(g),
		LeaseSeconds:  cfg.NodeLeaseDurationSeconds,
		// Each local controller hands out pod IPs from its own /16, so two
		// groups rarely give two pods the same address.
		CIDR: fmt.Sprintf("10.%d.0.0/16", g%256),
	}
	args := append(flags.Args(), cfg.ExtraArgs...)
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start kwok group %d: %w", g, err)
	}
	p := &process{group: g, addr: addr, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	c.log.Debug().Int("group", g).Int("pid", cmd.Process.Pid).Str("addr", addr).Str("log", logPath).Msg("kwok controller started")
	return p, nil
}

func (p *process) waitHealthy(ctx context.Context, deadline time.Time) error {
	url := "http://" + p.addr + "/healthz"
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("kwok group %d exited during start-up (%v); see %s", p.group, p.err, p.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kwok group %d not healthy at %s in time; see %s", p.group, url, p.logPath)
		}
	}
}

// Addrs are the controllers' /healthz and /metrics addresses, by group order.
func (c *Controllers) Addrs() []string {
	out := make([]string, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.addr
	}
	return out
}

// Pids are the controllers' process ids (for CPU and memory accounting).
func (c *Controllers) Pids() []int {
	out := make([]int, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.cmd.Process.Pid
	}
	return out
}

// Exited reports a controller that has stopped on its own, if any.
func (c *Controllers) Exited() error {
	for _, p := range c.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("kwok group %d exited: %v; see %s", p.group, p.err, p.logPath)
		default:
		}
	}
	return nil
}

// Stop terminates the controllers (SIGTERM, then SIGKILL after 10 s) and waits
// for them. It is safe to call more than once.
func (c *Controllers) Stop() {
	c.stop.Do(func() {
		for _, p := range c.procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range c.procs {
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		c.log.Info().Int("controllers", len(c.procs)).Msg("kwok controllers stopped")
	})
}

// freeLoopbackAddr finds a free port on 127.0.0.1. Another process could take it
// before kwok binds it; kwok then fails to start and Start says so.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
