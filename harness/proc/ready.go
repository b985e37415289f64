package proc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Probe answers nil once the thing it checks is ready.
type Probe func(ctx context.Context) error

// logTailLines is how much of a log an error shows: enough to see a fatal
// message and what led to it.
const logTailLines = 20

// pollInterval is how often WaitReady probes; start-ups take from tens of
// milliseconds (etcd) to seconds (kube-apiserver).
const pollInterval = 100 * time.Millisecond

// WaitReady polls probe until it answers nil, the process exits, ctx ends or
// timeout passes. Errors name the process, the last probe error and the tail of
// its log, which is where the reason a binary did not come up is written.
func (p *Process) WaitReady(ctx context.Context, probe Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); log %s ends with:\n%s",
				p.spec.Name, p.waitErr, p.logPath, p.LogTail(logTailLines))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last probe: %v); log %s ends with:\n%s",
				p.spec.Name, timeout, last, p.logPath, p.LogTail(logTailLines))
		case <-ticker.C:
		}
	}
}

// TCPProbe is ready when addr accepts a TCP connection.
func TCPProbe(addr string) Probe {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HTTPProbe is ready when GET url answers 200. tlsConfig may be nil for http://.
func HTTPProbe(url string, tlsConfig *tls.Config) Probe {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
}

// ErrPortTaken is returned (wrapped) by CheckPortFree.
var ErrPortTaken = errors.New("port already in use")

// CheckPortFree fails with ErrPortTaken when something listens on 127.0.0.1:port,
// so a start-up can say which port is taken instead of a binary's bind error.
func CheckPortFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("127.0.0.1:%d: %w (%v)", port, ErrPortTaken, err)
	}
	return l.Close()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; callers that start binaries on
// it should treat a bind failure as retryable.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts returns n distinct free ports, held open together while picking so
// the kernel cannot hand out the same port twice.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free ports: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
