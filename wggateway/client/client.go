// Package client is what a cluster node runs at boot (`wggateway client`): it
// keeps its own WireGuard key, asks the gateway for a configuration, and brings
// its side of the tunnel up (interface, address, gateway peer, routes).
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/wggateway/auth"
	"github.com/k8s1m/k8s1m/wggateway/device"
	"github.com/k8s1m/k8s1m/wggateway/internal/keyfile"
	"github.com/k8s1m/k8s1m/wggateway/render"
	"github.com/k8s1m/k8s1m/wggateway/server"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// SecretEnv holds the shared secret when --secret-file is not given.
const SecretEnv = "WGGATEWAY_SECRET"

// Config of the client.
type Config struct {
	Server string // base URL of the gateway API, e.g. https://[2001:db8::1]:8443
	CAFile string // PEM CA bundle for an HTTPS gateway with a private CA
	// InsecureHTTP allows an http:// Server: the shared secret (and a
	// server-generated private key) then cross the network in clear.
	InsecureHTTP bool
	SecretFile   string
	Interface    string
	Userspace    bool
	MTU          int
	KeyFile      string // client private key, created when missing
	ServerKeys   bool   // ask the gateway to generate the key pair instead
	WriteConfig  string // also write the full wg-quick config here (0600)
	NoRoutes     bool   // do not route AllowedIPs through the interface
	Retry        time.Duration
	Timeout      time.Duration
}

// DefaultConfig returns the defaults the flags show.
func DefaultConfig() Config {
	return Config{
		Interface: "wg0",
		KeyFile:   "/var/lib/wggateway/client.key",
		Retry:     5 * time.Second,
		Timeout:   5 * time.Minute,
	}
}

// AddFlags binds c to flags in fs with WGGATEWAY_CLIENT_* env fallbacks.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Server, "server", c.Server, "gateway API base URL, e.g. https://[2001:db8::1]:8443 (required)")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", c.InsecureHTTP, "allow an http:// --server (the shared secret then crosses the network in clear; refused without this flag)")
	fs.StringVar(&c.CAFile, "ca-file", c.CAFile, "PEM CA bundle to verify an HTTPS gateway (default: system roots)")
	fs.StringVar(&c.SecretFile, "secret-file", c.SecretFile, "file holding the shared secret (else env "+SecretEnv+")")
	fs.StringVar(&c.Interface, "interface", c.Interface, "WireGuard interface to create or adopt")
	fs.BoolVar(&c.Userspace, "userspace", c.Userspace, "run WireGuard in this process on a TUN device (the command then stays running)")
	fs.IntVar(&c.MTU, "mtu", c.MTU, "MTU of a created interface (0 means 1420)")
	fs.StringVar(&c.KeyFile, "key-file", c.KeyFile, "client private key (base64), generated with mode 0600 when missing")
	fs.BoolVar(&c.ServerKeys, "server-keys", c.ServerKeys, "ask the gateway to generate the key pair (only if it allows it; a new address each run)")
	fs.StringVar(&c.WriteConfig, "write-config", c.WriteConfig, "also write the complete wg-quick config, private key included, to this file (mode 0600)")
	fs.BoolVar(&c.NoRoutes, "no-routes", c.NoRoutes, "do not route the gateway's AllowedIPs through the interface")
	fs.DurationVar(&c.Retry, "retry", c.Retry, "wait between attempts while the gateway is unreachable or busy")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "give up fetching the config after this long")
	for _, name := range []string{"server", "insecure-http", "ca-file", "secret-file", "interface", "userspace", "mtu", "key-file",
		"server-keys", "write-config", "no-routes", "retry", "timeout"} {
		command.BindEnv(fs, name, "WGGATEWAY_CLIENT_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
	}
}

// Run fetches the configuration and brings the tunnel up. With an in-process
// userspace device it then waits for ctx (the device lives in this process);
// with a kernel interface it returns once the tunnel is configured.
func Run(ctx context.Context, log zerolog.Logger, cfg Config) error {
	if err := checkServerURL(cfg.Server, cfg.InsecureHTTP); err != nil {
		return err
	}
	if strings.HasPrefix(cfg.Server, "http://") {
		log.Warn().Str("server", cfg.Server).Msg("--insecure-http: sending the shared secret over plain HTTP")
	}
	secret, err := auth.ReadSecret(cfg.SecretFile, SecretEnv)
	if err != nil {
		return err
	}
	hc, err := httpClient(cfg.CAFile)
	if err != nil {
		return err
	}
	req := server.RegisterRequest{GenerateKey: cfg.ServerKeys}
	var key wgtypes.Key
	if !cfg.ServerKeys {
		k, created, err := keyfile.LoadOrCreate(cfg.KeyFile)
		if err != nil {
			return err
		}
		if created {
			log.Info().Str("file", cfg.KeyFile).Msg("generated client private key")
		}
		key = k
		req.PublicKey = k.PublicKey().String()
	}
	fetchCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	answer, err := Fetch(fetchCtx, log, hc, cfg.Server, secret, req, cfg.Retry)
	if err != nil {
		return err
	}
	cc := answer.ClientConfig
	if answer.ReleaseToken != "" && !cfg.ServerKeys {
		// Kept beside the key it belongs to: it is what releases this
		// node's address (DELETE /v1/peers), and only this node has it.
		if err := keyfile.WriteSecretFile(ReleaseTokenFile(cfg.KeyFile), []byte(answer.ReleaseToken+"\n")); err != nil {
			return err
		}
	}
	if cfg.ServerKeys {
		k, err := wgtypes.ParseKey(cc.Interface.PrivateKey)
		if err != nil {
			return fmt.Errorf("gateway sent a bad private key: %w", err)
		}
		key = k
	}
	cc.Interface.PrivateKey = key.String()
	if cfg.WriteConfig != "" {
		var buf bytes.Buffer
		if err := render.WriteWGQuick(&buf, cc); err != nil {
			return err
		}
		if err := keyfile.WriteSecretFile(cfg.WriteConfig, buf.Bytes()); err != nil {
			return err
		}
	}
	dev, err := Up(ctx, log, cfg, key, cc)
	if err != nil {
		return err
	}
	defer dev.Close()
	log.Info().Str("interface", cfg.Interface).Str("endpoint", cc.Peer.Endpoint).
		Str("addresses", fmt.Sprint(cc.Interface.Addresses)).Msg("tunnel up")
	if !cfg.Userspace {
		return nil
	}
	<-ctx.Done()
	log.Info().Msg("shutting down tunnel")
	return nil
}

// Up configures the client side of the tunnel from cc.
func Up(ctx context.Context, log zerolog.Logger, cfg Config, key wgtypes.Key, cc render.ClientConfig) (*device.Interface, error) {
	gwKey, err := wgtypes.ParseKey(cc.Peer.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("gateway public key: %w", err)
	}
	endpoint, err := resolveEndpoint(ctx, cc.Peer.Endpoint)
	if err != nil {
		return nil, err
	}
	dev, err := device.Open(device.Config{Name: cfg.Interface, Userspace: cfg.Userspace, MTU: cfg.MTU, Addresses: cc.Interface.Addresses}, log, nil)
	if err != nil {
		return nil, err
	}
	if err := dev.Setup(key, nil); err != nil {
		dev.Close()
		return nil, err
	}
	if err := dev.Reconcile([]device.Peer{{PublicKey: gwKey, AllowedIPs: cc.Peer.AllowedIPs, Endpoint: endpoint, Keepalive: cc.Peer.Keepalive()}}); err != nil {
		dev.Close()
		return nil, err
	}
	if !cfg.NoRoutes {
		if err := dev.AddRoutes(cc.Peer.AllowedIPs); err != nil {
			dev.Close()
			return nil, err
		}
	}
	return dev, nil
}

// ReleaseTokenFile is where the client keeps the release token of the
// allocation its key got: next to the key file.
func ReleaseTokenFile(keyFile string) string { return keyFile + ".release-token" }

// checkServerURL refuses a gateway URL the secret should not be sent to:
// anything but https://, unless insecureHTTP allows http://.
func checkServerURL(server string, insecureHTTP bool) error {
	if server == "" {
		return errors.New("--server is required")
	}
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && u.Host != "" && insecureHTTP:
		return nil
	case u.Scheme == "http" && u.Host != "":
		return fmt.Errorf("--server %s is plain HTTP: the shared secret would cross the network in clear; use https://, or --insecure-http to allow it", server)
	}
	return fmt.Errorf("--server %q: want https://host[:port]", server)
}

func resolveEndpoint(ctx context.Context, ep string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(ep); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: %w", ep, err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve endpoint %q: %w", ep, err)
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(addrs[0].Unmap().String(), port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: %w", ep, err)
	}
	return ap, nil
}

func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// permanentError is an answer retrying cannot change (bad secret, bad key).
type permanentError struct{ error }

// Fetch registers with the gateway and returns its configuration, retrying
// every retry while the gateway is unreachable, rate limiting or out of
// addresses, until ctx ends. Answers that cannot change on retry fail at once.
func Fetch(ctx context.Context, log zerolog.Logger, hc *http.Client, base, secret string, req server.RegisterRequest, retry time.Duration) (server.RegisterResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return server.RegisterResponse{}, err
	}
	peersURL := strings.TrimSuffix(base, "/") + "/v1/peers"
	for attempt := 1; ; attempt++ {
		cc, err := fetchOnce(ctx, hc, peersURL, secret, body)
		if err == nil {
			return cc, nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return server.RegisterResponse{}, perm.error
		}
		log.Warn().Err(err).Int("attempt", attempt).Dur("retryIn", retry).Msg("fetch config")
		select {
		case <-ctx.Done():
			return server.RegisterResponse{}, fmt.Errorf("fetch config from %s: %w (last error: %v)", peersURL, ctx.Err(), err)
		case <-time.After(retry):
		}
	}
}

func fetchOnce(ctx context.Context, hc *http.Client, url, secret string, body []byte) (server.RegisterResponse, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return server.RegisterResponse{}, permanentError{fmt.Errorf("request: %w", err)}
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	host, _ := os.Hostname()
	r.SetBasicAuth(host, secret)
	resp, err := hc.Do(r)
	if err != nil {
		return server.RegisterResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return server.RegisterResponse{}, fmt.Errorf("read answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		var cc server.RegisterResponse
		if err := json.Unmarshal(b, &cc); err != nil {
			return server.RegisterResponse{}, permanentError{fmt.Errorf("decode config: %w", err)}
		}
		return cc, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return server.RegisterResponse{}, fmt.Errorf("gateway answered %s: %s", resp.Status, errorText(b))
	default:
		return server.RegisterResponse{}, permanentError{fmt.Errorf("gateway answered %s: %s", resp.Status, errorText(b))}
	}
}

func errorText(b []byte) string {
	var e server.Error
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(b))
}
