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

	http   []*http.Client // http[i] is Typed[i]'s, for the bulk calls (raw.go)
	server string         // the apiserver's URL, without a trailing slash
}

// For returns the clientset worker w should use.
func (c *Clients) For(worker int) kubernetes.Interface { return c.Typed[worker%len(c.Typed)] }

// Warm opens each clientset's connection with one cheap request. Without it,
// the first burst of concurrent requests on a fresh transport each dial and
// TLS-handshake a connection of their own (HTTP/2 multiplexing starts only once
// one connection exists), which cost the tool a third of its CPU.
func (c *Clients) Warm(ctx context.Context) error {
	for i, cs := range c.Typed {
		if _, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
			return fmt.Errorf("reach apiserver (client %d): %w", i, err)
		}
	}
	return nil
}

// NewClients builds enough clientsets for concurrency requests in flight. The
// rate limit is the caller's (bulk.Config.QPS), so client-go's own limiter is off.
func NewClients(base *rest.Config, concurrency int) (*Clients, error) {
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
	// connection. It still honours the proxy environment variables.
	cfg.Proxy = func(r *http.Request) (*url.URL, error) { return http.ProxyFromEnvironment(r) }

	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("apiserver URL %q: %w", cfg.Host, err)
	}
	n := max(1, (concurrency+StreamsPerClient-1)/StreamsPerClient)
	c := &Clients{server: strings.TrimSuffix(server.String(), "/")}
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
