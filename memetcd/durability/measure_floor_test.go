package durability

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	measureFloor         = flag.Bool("measure.floor", false, "run the per-request CPU floor measurement (TestMeasureWakeFloor)")
	measureFloorRates    = flag.String("measure.floor.rates", "150,1500", "request rates (requests/s), comma separated")
	measureFloorConns    = flag.Int("measure.floor.conns", 69, "connections the requests are spread over (kube-apiserver opens ~69 to its store)")
	measureFloorDuration = flag.Duration("measure.floor.duration", 30*time.Second, "measured time per rate")
)

// floorServeEnv makes TestMain serve the echo instead of running tests.
const floorServeEnv = "K8S1M_FLOOR_SERVE"

// floorMsg is the size of a request and of its echo, about a Kubernetes
// write's Txn and its reply.
const floorMsg = 512

// serveFloorEcho is the child of TestMeasureWakeFloor: it prints its
// loopback address, then echoes every floorMsg-byte message on every
// connection until stdin closes.
func serveFloorEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			buf := make([]byte, floorMsg)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

// TestMeasureWakeFloor measures the least CPU a Go server spends per request
// on this machine when requests arrive apart, as kube-apiserver's writes do
// at TestMeasureKube's rate: a child process (this binary) does nothing but
// echo 512-byte messages over loopback TCP (no TLS, no HTTP/2, no store), and
// the test sends each rate's requests evenly spaced, round-robin over the
// connections, one at a time on each. The child's user+system CPU (from
// /proc) per request is what one request's wake-up, read and write cost
// here, whatever the server does with it: the floor under TestMeasureKube's
// "store CPU per write", for memetcd and etcd alike.
func TestMeasureWakeFloor(t *testing.T) {
	if !*measureFloor {
		t.Skip("pass -measure.floor to run")
	}
	var rates []int
	for _, s := range strings.Split(*measureFloorRates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r <= 0 {
			t.Fatalf("-measure.floor.rates: %q is not a positive rate", s)
		}
		rates = append(rates, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d connections, %s per rate, %d-byte echo over loopback TCP\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), *measureFloorConns, *measureFloorDuration, floorMsg)
	b.WriteString("| rate (requests/s) | requests | server CPU s | CPU µs per request |\n|---:|---:|---:|---:|\n")
	for _, rate := range rates {
		n, cpu := floorCell(t, rate)
		fmt.Fprintf(&b, "| %d | %d | %.2f | %.0f |\n", rate, n, cpu, cpu/float64(max(n, 1))*1e6)
	}
	t.Log("\n" + b.String())
	fmt.Print(b.String())
}

// floorCell runs one rate against a fresh child and returns the requests
// answered in the measured window and the child's CPU seconds over it.
func floorCell(t *testing.T, rate int) (int, float64) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), floorServeEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	addr = strings.TrimSpace(addr)
	conns := make([]net.Conn, *measureFloorConns)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	// One goroutine per connection, each sending its share of the rate,
	// staggered so the requests arrive evenly spaced.
	per := time.Duration(float64(time.Second) * float64(len(conns)) / float64(rate))
	warmup := 3 * time.Second
	start := time.Now().Add(100 * time.Millisecond)
	stop := start.Add(warmup + *measureFloorDuration)
	var (
		mu       sync.Mutex
		answered int
		wg       sync.WaitGroup
		failed   error
	)
	measureFrom := start.Add(warmup)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, floorMsg)
			next := start.Add(per * time.Duration(i) / time.Duration(len(conns)))
			for next.Before(stop) {
				time.Sleep(time.Until(next))
				if _, err := c.Write(buf); err == nil {
					_, err = io.ReadFull(c, buf)
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
				if !next.Before(measureFrom) {
					mu.Lock()
					answered++
					mu.Unlock()
				}
				next = next.Add(per)
			}
		}()
	}
	time.Sleep(time.Until(measureFrom))
	cpu0 := procCPU(cmd.Process.Pid)
	wg.Wait()
	cpu := procCPU(cmd.Process.Pid) - cpu0
	if failed != nil {
		t.Fatalf("rate %d: %v", rate, failed)
	}
	return answered, cpu
}
