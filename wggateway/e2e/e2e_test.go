package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
	"github.com/k8s1m/k8s1m/wggateway/internal/netnstest"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Addresses inside the test's namespaces (documentation, ULA and link-local
// ranges; none of them leaves the namespaces).
const (
	gwLinkV6   = "fd00:1::1"   // gateway, on the client-facing veth
	clLinkV6   = "fd00:1::2"   // client, IPv6 only like a cluster node
	gw2LinkV6  = "fd00:2::1"   // gateway, on the second client's veth
	cl2LinkV6  = "fd00:2::2"   // second client
	gwPublicV4 = "192.0.2.1"   // gateway on its LAN, the SNAT source
	lanHostV4  = "192.0.2.254" // another host on the gateway's LAN (and its router)
	inetHostV4 = "203.0.113.2" // the "internet" host, beyond the LAN router
	metadataV4 = "169.254.169.254"
	cl2TunV4   = "10.99.0.3" // the second client's tunnel address
	poolV4     = "10.99.0.0/24"
	apiPort    = "8080"
	wgPort     = "51820"
	tcpPort    = "7777"
	secret     = "e2e shared secret, long enough"
)

// proc is a background process in a namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logtest.Buffer // its stdout and stderr
	done chan error
}

func start(t *testing.T, ns *netnstest.NS, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: ns.Command(args...), out: &logtest.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM (graceful shutdown) and waits; it returns the exit error.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop on SIGTERM", p.name)
	}
}

// waitFor polls cond until it holds, the process dies or the deadline passes.
func waitFor(t *testing.T, what string, p *proc, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-p.done:
			t.Fatalf("%s exited (%v) while waiting for %s:\n%s", p.name, err, what, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; %s output:\n%s", what, p.name, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wggateway")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/wggateway")
	// The module builds alone by design; building it so keeps this test
	// independent of the state of sibling modules in the workspace.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wggateway: %v\n%s", err, out)
	}
	return bin
}

// TestTunnelSNAT is the whole path: the client namespace (IPv6 only) fetches
// its config from the gateway over HTTPS, brings the tunnel up, and reaches a
// host in the internet namespace over IPv4 with ping and TCP; that host sees
// the gateway's IPv4 address as the source. A second client comes up, and
// the first one can reach neither it, nor another host on the gateway's LAN,
// nor the metadata address, through the tunnel. Then the gateway restarts and
// the tunnel works again from the persisted state.
func TestTunnelSNAT(t *testing.T) {
	netnstest.Require(t)
	bin := buildBinary(t)
	dir := t.TempDir()

	gw := netnstest.New(t, "gw")
	cl := netnstest.New(t, "cl")
	cl2 := netnstest.New(t, "cl2")
	inet := netnstest.New(t, "inet")
	netnstest.Veth(t, gw, "veth-cl", cl, "veth-gw")
	netnstest.Veth(t, gw, "veth-cl2", cl2, "veth-gw")
	netnstest.Veth(t, gw, "veth-inet", inet, "veth-gw")
	gw.Run(t, "ip", "-6", "addr", "add", gwLinkV6+"/64", "dev", "veth-cl", "nodad")
	cl.Run(t, "ip", "-6", "addr", "add", clLinkV6+"/64", "dev", "veth-gw", "nodad")
	gw.Run(t, "ip", "-6", "addr", "add", gw2LinkV6+"/64", "dev", "veth-cl2", "nodad")
	cl2.Run(t, "ip", "-6", "addr", "add", cl2LinkV6+"/64", "dev", "veth-gw", "nodad")
	// The second client reaches the gateway's API and WireGuard address
	// (fd00:1::1) through its own link.
	cl2.Run(t, "ip", "-6", "route", "add", "fd00:1::/64", "via", gw2LinkV6)
	// The gateway's LAN is 192.0.2.0/24; the inet namespace is both another
	// LAN host and the router to the internet host and the metadata address.
	gw.Run(t, "ip", "addr", "add", gwPublicV4+"/24", "dev", "veth-inet")
	gw.Run(t, "ip", "route", "add", "default", "via", lanHostV4)
	inet.Run(t, "ip", "addr", "add", lanHostV4+"/24", "dev", "veth-gw")
	inet.Run(t, "ip", "addr", "add", inetHostV4+"/32", "dev", "lo")
	inet.Run(t, "ip", "addr", "add", metadataV4+"/32", "dev", "lo")
	// The internet host has no route to the tunnel pool: a reply can only get
	// back if the gateway rewrote the source to its own address.

	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, dir, gwLinkV6)
	// Interface names carry the pid: /var/run/wireguard is shared by all
	// namespaces, and so are the UAPI sockets named after the interfaces.
	gwIface := fmt.Sprintf("wggw%d", os.Getpid()%1000000)
	clIface := fmt.Sprintf("wgcl%d", os.Getpid()%1000000)
	cl2Iface := fmt.Sprintf("wgcm%d", os.Getpid()%1000000)
	mode := wireguardMode(t, gw)
	gwArgs := []string{bin,
		mode, "--interface", gwIface,
		"--listen", net.JoinHostPort(gwLinkV6, apiPort),
		"--tls-cert", certFile, "--tls-key", keyFile,
		"--endpoint", net.JoinHostPort(gwLinkV6, wgPort), "--listen-port", wgPort,
		"--pool-v4", poolV4, "--pool-v6", "fd00:99::/64",
		"--snat-interface", "veth-inet",
		"--state-file", filepath.Join(dir, "peers.json"),
		"--private-key-file", filepath.Join(dir, "gateway.key"),
		"--secret-file", secretFile,
		"--log-level", "debug",
	}
	gateway := start(t, gw, "gateway", nil, gwArgs...)
	waitFor(t, "gateway API", gateway, 60*time.Second, func() bool { return gateway.out.Contains("API serving") })

	// The client gets the secret from the environment, the way a node's boot
	// unit passes it.
	startClient := func(ns *netnstest.NS, name, iface string) *proc {
		c := start(t, ns, name, []string{"WGGATEWAY_SECRET=" + secret}, bin, "client",
			mode, "--interface", iface,
			"--server", "https://"+net.JoinHostPort(gwLinkV6, apiPort), "--ca-file", certFile,
			"--key-file", filepath.Join(dir, name+".key"),
			"--write-config", filepath.Join(dir, name+".conf"),
			"--retry", "200ms", "--timeout", "60s",
		)
		waitFor(t, name+" tunnel", c, 60*time.Second, func() bool { return c.out.Contains("tunnel up") })
		return c
	}
	client := startClient(cl, "client", clIface)

	conf, err := os.ReadFile(filepath.Join(dir, "client.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PrivateKey = ", "Address = 10.99.0.2/32, fd00:99::2/128", "Endpoint = [" + gwLinkV6 + "]:" + wgPort, "AllowedIPs = 0.0.0.0/0"} {
		if !strings.Contains(string(conf), want) {
			t.Fatalf("client config lacks %q:\n%s", want, conf)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "client.key.release-token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("release token not kept beside the key with mode 0600: %v", err)
	}

	srv := listenTCP(t, inet, inetHostV4)
	checkPath(t, cl, srv, gateway)
	checkAPIFromClient(t, cl, certFile)

	// A second peer: reachable from the internet side of its own tunnel, but
	// not from the first peer.
	client2 := startClient(cl2, "client2", cl2Iface)
	checkPath(t, cl2, srv, gateway)
	checkDenied(t, cl, []deniedTarget{
		{"another tunnel peer", listenTCP(t, cl2, cl2TunV4)},
		{"a host on the gateway's LAN", listenTCP(t, inet, lanHostV4)},
		{"the metadata address", listenTCP(t, inet, metadataV4)},
	})

	// Restart the gateway: the userspace interface is recreated empty, and the
	// clients' peers must come back from the state file without them asking
	// again.
	if err := gateway.stop(t); err != nil {
		t.Fatalf("gateway did not shut down cleanly: %v\n%s", err, gateway.out.String())
	}
	if !gateway.out.Contains(`"message":"stopped"`) {
		t.Fatalf("gateway did not log a graceful stop:\n%s", gateway.out.String())
	}
	gateway2 := start(t, gw, "gateway-restarted", nil, gwArgs...)
	waitFor(t, "restarted gateway API", gateway2, 60*time.Second, func() bool { return gateway2.out.Contains("API serving") })
	if !gateway2.out.Contains(`"peers":2`) {
		t.Fatalf("restarted gateway did not restore the peers:\n%s", gateway2.out.String())
	}
	checkPath(t, cl, srv, gateway2)

	for _, p := range []*proc{gateway, gateway2, client, client2} {
		if p.out.Contains(secret) {
			t.Fatalf("%s logged the shared secret", p.name)
		}
	}
}

// writeCert writes a self-signed certificate for ip and its key; the
// certificate is also the CA file clients trust.
func writeCert(t *testing.T, dir, ip string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wggateway e2e"},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// deniedTarget is a listener tunnel traffic must not reach.
type deniedTarget struct {
	what string
	srv  *tcpServer
}

// checkDenied dials each target from ns through the tunnel (the path to the
// internet host was just shown to work): the gateway's forward filter drops
// the packets, so no dial succeeds and no listener sees a connection.
func checkDenied(t *testing.T, ns *netnstest.NS, targets []deniedTarget) {
	t.Helper()
	for _, tg := range targets {
		var conn net.Conn
		err := ns.Do(func() (err error) {
			d := net.Dialer{Timeout: 3 * time.Second}
			conn, err = d.DialContext(context.Background(), "tcp4", tg.srv.addr)
			return err
		})
		if err == nil {
			conn.Close()
			t.Fatalf("%s (%s) is reachable through the tunnel", tg.what, tg.srv.addr)
		}
		select {
		case src := <-tg.srv.peers:
			t.Fatalf("%s (%s) accepted a connection from %s through the tunnel", tg.what, tg.srv.addr, src)
		default:
		}
	}
}

// wireguardMode returns the flag that selects the WireGuard implementation:
// the kernel's when this machine has it (unless K8S1M_WG_USERSPACE=1),
// otherwise the userspace one on a TUN device.
func wireguardMode(t *testing.T, ns *netnstest.NS) string {
	t.Helper()
	if os.Getenv("K8S1M_WG_USERSPACE") != "1" {
		if err := ns.Command("ip", "link", "add", "wgprobe", "type", "wireguard").Run(); err == nil {
			_ = ns.Command("ip", "link", "del", "wgprobe").Run()
			t.Log("kernel WireGuard available: testing the kernel implementation")
			return "--userspace=false"
		}
	}
	t.Log("testing userspace WireGuard (golang.zx2c4.com/wireguard on TUN)")
	return "--userspace"
}

// tcpServer accepts in a namespace and reports each peer address.
type tcpServer struct {
	addr  string
	peers chan netip.Addr
}

func listenTCP(t *testing.T, ns *netnstest.NS, addr string) *tcpServer {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(addr, tcpPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &tcpServer{addr: ln.Addr().String(), peers: make(chan netip.Addr, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap := netip.MustParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "you are %s\n", ap.Addr())
			c.Close()
			s.peers <- ap.Addr()
		}
	}()
	return s
}

// checkPath pings the internet host from the client namespace and opens a TCP
// connection to it, both through the tunnel, and checks the source it saw.
func checkPath(t *testing.T, cl *netnstest.NS, srv *tcpServer, gateway *proc) {
	t.Helper()
	target := netip.MustParseAddr(inetHostV4)

	// ICMP: the first echo may be spent on the WireGuard handshake, so keep
	// asking until a reply arrives.
	var pc *icmp.PacketConn
	if err := cl.Do(func() (err error) {
		pc, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatalf("icmp socket: %v", err)
	}
	defer pc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for seq := 1; ; seq++ {
		if time.Now().After(deadline) {
			t.Fatalf("no ICMP echo reply from %s through the tunnel; gateway output:\n%s", target, gateway.out.String())
		}
		if ok := pingOnce(t, pc, target, seq); ok {
			break
		}
	}

	// TCP: the internet host must see the gateway's address, not 10.99.0.x.
	var conn net.Conn
	if err := cl.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err = d.DialContext(context.Background(), "tcp4", srv.addr)
		return err
	}); err != nil {
		t.Fatalf("tcp through the tunnel: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatalf("read from internet host: %v", err)
	}
	if want := "you are " + gwPublicV4 + "\n"; line != want {
		t.Fatalf("internet host says %q, want %q", line, want)
	}
	select {
	case src := <-srv.peers:
		if src != netip.MustParseAddr(gwPublicV4) {
			t.Fatalf("internet host saw source %s, want the gateway's %s (SNAT)", src, gwPublicV4)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("internet host recorded no connection")
	}
}

func pingOnce(t *testing.T, pc *icmp.PacketConn, target netip.Addr, seq int) bool {
	t.Helper()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: seq, Data: []byte("k8s1m-wggateway")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo(b, &net.IPAddr{IP: target.AsSlice()}); err != nil {
		// No route yet or the tunnel is still coming up: try again.
		time.Sleep(200 * time.Millisecond)
		return false
	}
	_ = pc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return false
		}
		rm, err := icmp.ParseMessage(1, buf[:n])
		if err != nil {
			continue
		}
		echo, ok := rm.Body.(*icmp.Echo)
		if rm.Type == ipv4.ICMPTypeEchoReply && ok && echo.Seq == seq && from.String() == target.String() {
			return true
		}
	}
}

// httpIn is an HTTPS client trusting caFile whose connections are made inside ns.
func httpIn(t *testing.T, ns *netnstest.NS, caFile string) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots}}
	tr.DialContext = func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = ns.Do(func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// checkAPIFromClient talks to the API over the client's IPv6 link: a wrong
// secret is refused, and the metrics show the peer on the interface.
func checkAPIFromClient(t *testing.T, cl *netnstest.NS, caFile string) {
	t.Helper()
	hc := httpIn(t, cl, caFile)
	base := "https://" + net.JoinHostPort(gwLinkV6, apiPort)
	req, _ := http.NewRequest("POST", base+"/v1/peers", strings.NewReader(`{"publicKey":"AAAA"}`))
	req.SetBasicAuth("intruder", "not the secret at all")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("API from client namespace: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret over the network: %d", resp.StatusCode)
	}
	resp, err = hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"wggateway_device_peers 1",
		"wggateway_alloc_allocations 1",
		`wggateway_auth_failures_total{reason="wrong"} 1`,
		`wggateway_server_requests_total{code="201",route="POST /v1/peers"} 1`,
	} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %q:\n%s", want, m)
		}
	}
}
