package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/k8s1m/k8s1m/makenodes/h2bulk"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// Transports for the bulk creates and deletes (--transport).
const (
	// TransportH2Bulk is package h2bulk: a few HTTP/2 connections with one
	// writer and one reader goroutine each, many requests per TLS write.
	TransportH2Bulk = "h2bulk"
	// TransportClientGo is the clientsets' own http.Clients (Go's HTTP/2
	// transport through client-go's round trippers).
	TransportClientGo = "client-go"
	// DefaultTransport is used when Options.Transport is empty.
	DefaultTransport = TransportH2Bulk
)

// newLean builds the h2bulk client for cfg's apiserver, or says why it
// cannot: it speaks only TLS with certificates, a bearer token (also from a
// file) or basic auth, directly to the server. Exec and auth-provider
// plugins, impersonation, custom transports and proxies need client-go.
func newLean(cfg *rest.Config, server *url.URL, conns int) (*h2bulk.Client, string, error) {
	switch {
	case server.Scheme != "https":
		return nil, "the apiserver URL is not https", nil
	case cfg.ExecProvider != nil || cfg.AuthProvider != nil:
		return nil, "the kubeconfig authenticates through a plugin", nil
	case cfg.Impersonate.UserName != "" || cfg.Impersonate.UID != "" || len(cfg.Impersonate.Groups) > 0 || len(cfg.Impersonate.Extra) > 0:
		return nil, "the kubeconfig impersonates", nil
	case cfg.Transport != nil || cfg.WrapTransport != nil:
		return nil, "the REST config has its own transport", nil
	}
	if cfg.Proxy != nil {
		if p, err := cfg.Proxy(&http.Request{URL: server}); err != nil || p != nil {
			return nil, "a proxy is set for the apiserver", nil
		}
	}
	tc, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("TLS config: %w", err)
	}
	if tc == nil {
		return nil, "the REST config has no TLS settings", nil
	}
	addr := server.Host
	if server.Port() == "" {
		addr += ":443"
	}
	token, tokenFile := cfg.BearerToken, cfg.BearerTokenFile
	user, pass := cfg.Username, cfg.Password
	lc, err := h2bulk.New(h2bulk.Config{
		Addr:      addr,
		Authority: server.Host,
		TLS:       tc,
		Dial:      cfg.Dial,
		Conns:     conns,
		Timeout:   cfg.Timeout,
		Header: func() ([][2]string, error) {
			h := [][2]string{{"user-agent", userAgent}, {"accept", acceptTypes}}
			tok := token
			if tokenFile != "" {
				// Re-read on every new connection, as the file may be
				// rotated (projected service account tokens).
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return nil, fmt.Errorf("bearer token file: %w", err)
				}
				tok = strings.TrimSpace(string(b))
			}
			switch {
			case tok != "":
				h = append(h, [2]string{"authorization", "Bearer " + tok})
			case user != "" || pass != "":
				h = append(h, [2]string{"authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))})
			}
			return h, nil
		},
	})
	if err != nil {
		return nil, "", err
	}
	return lc, "", nil
}

// doLean is do on the h2bulk transport.
func (c *Clients) doLean(ctx context.Context, worker int, method string, path string, gr schema.GroupResource, name string, body []byte) error {
	req := &h2bulk.Request{Method: method, Path: path, Body: body}
	if body != nil {
		req.ContentType = Protobuf
	}
	resp, err := c.lean.Do(ctx, worker, req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.origin+path, err)
	}
	if resp.Status >= http.StatusOK && resp.Status <= http.StatusPartialContent {
		return nil
	}
	return responseError(resp.Status, resp.ContentType, resp.RetryAfter, resp.Body, method, gr, name)
}
