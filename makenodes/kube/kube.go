// Package kube builds the API clients a bulk run uses: several typed clientsets
// with their own connections (one HTTP/2 connection caps the streams in flight,
// so thousands of concurrent creates need more than one) and a metadata client
// for cheap listing of what already exists.
package kube

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/makenodes/h2bulk"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

// StreamsPerClient is how many concurrent requests share one clientset (and so one
// HTTP/2 connection); kube-apiserver allows far more streams per connection, but
// spreading the load keeps one connection's flow control from being the limit.
const StreamsPerClient = 100

// userAgent names makenodes to the apiserver (audit logs, metrics).
const userAgent = "makenodes"

// Config loads the REST config: the kubeconfig at path if given, else the usual
// client-go rules (KUBECONFIG, ~/.kube/config), else in-cluster.
func Config(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if path == "" && clientcmd.IsEmptyConfig(err) {
		if in, inErr := rest.InClusterConfig(); inErr == nil {
			return in, nil
		}
	}
	if path == "" {
		return nil, fmt.Errorf("load kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster): %w", err)
	}
	return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
}

// Clients holds the clients of one run.
type Clients struct {
	// Typed are independent clientsets; worker w uses Typed[w%len(Typed)].
	Typed    []kubernetes.Interface
	Metadata metadata.Interface
	// Transport is what the bulk creates and deletes go through
	// (TransportH2Bulk or TransportClientGo).
	Transport string
	// Fallback says why TransportH2Bulk was asked for but client-go is
	// used; empty otherwise.
	Fallback string

	lean   *h2bulk.Client // the bulk calls' transport, if TransportH2Bulk
	http   []*http.Client // http[i] is Typed[i]'s, for the bulk calls if TransportClientGo (raw.go)
	origin string         // the apiserver's scheme://host[:port]
	prefix string         // the path the apiserver is served under, without a trailing slash
}

// For returns the clientset worker w should use.
func (c *Clients) For(worker int) kubernetes.Interface { return c.Typed[worker%len(c.Typed)] }

// Warm opens each clientset's connection with one cheap request. Without it,
// the first burst of concurrent requests on a fresh transport each dial and
// TLS-handshake a connection of their own (HTTP/2 multiplexing starts only once
// one connection exists), which cost the tool a third of its CPU.
func (c *Clients) Warm(ctx context.Context) error {
	if c.lean != nil {
		if err := c.lean.Warm(ctx); err != nil {
			return fmt.Errorf("reach apiserver: %w", err)
		}
		return nil
	}
	for i, cs := range c.Typed {
		if _, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
			return fmt.Errorf("reach apiserver (client %d): %w", i, err)
		}
	}
	return nil
}

// Options shape the clients of a run.
type Options struct {
	// Concurrency is how many bulk calls will be in flight at once.
	Concurrency int
	// Transport for the bulk calls; empty: DefaultTransport.
	Transport string
}

// Close closes the bulk transport's connections.
func (c *Clients) Close() {
	if c.lean != nil {
		_ = c.lean.Close()
	}
}

// NewClients builds the clients for opts.Concurrency bulk calls in flight:
// one connection per StreamsPerClient of them. The rate limit is the
// caller's (bulk.Config.QPS), so client-go's own limiter is off.
func NewClients(base *rest.Config, opts Options) (*Clients, error) {
	transport := opts.Transport
	if transport == "" {
		transport = DefaultTransport
	}
	if transport != TransportH2Bulk && transport != TransportClientGo {
		return nil, fmt.Errorf("transport %q: want %s or %s", transport, TransportH2Bulk, TransportClientGo)
	}
	cfg := rest.CopyConfig(base)
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	cfg.UserAgent = userAgent
	// Protobuf instead of JSON: encoding each object and decoding the echoed
	// reply is most of a bulk client's CPU, and protobuf costs a fraction of it
	// (on both sides: the apiserver decodes and encodes less too).
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second // a hung request is retried instead of blocking a worker forever
	}
	// client-go shares one transport between configs with equal TLS settings; a
	// Proxy func makes the config uncacheable, so each clientset dials its own
	// connection. It still honours the kubeconfig's proxy-url, else the
	// proxy environment variables.
	proxy := base.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	cfg.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r) }

	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("apiserver URL %q: %w", cfg.Host, err)
	}
	n := max(1, (opts.Concurrency+StreamsPerClient-1)/StreamsPerClient)
	c := &Clients{
		Transport: transport,
		origin:    server.Scheme + "://" + server.Host,
		prefix:    strings.TrimSuffix(server.Path, "/"),
	}
	if transport == TransportH2Bulk {
		var err error
		if c.lean, c.Fallback, err = newLean(cfg, server, n); err != nil {
			return nil, fmt.Errorf("h2bulk transport: %w", err)
		}
		if c.lean != nil {
			n = 1 // the clientsets only create a namespace or two
		} else {
			c.Transport = TransportClientGo
		}
	}
	for i := range n {
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("HTTP client %d: %w", i, err)
		}
		cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
		if err != nil {
			return nil, fmt.Errorf("clientset %d: %w", i, err)
		}
		c.Typed = append(c.Typed, cs)
		c.http = append(c.http, hc)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	c.Metadata = md
	return c, nil
}
