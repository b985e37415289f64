package kube

import (
	"net/http"
	"net/url"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfigs h2bulk cannot serve fall back to client-go, saying why; a
// plain TLS one uses h2bulk.
func TestTransportChoice(t *testing.T) {
	tlsCfg := rest.TLSClientConfig{Insecure: true}
	for _, tc := range []struct {
		name     string
		cfg      rest.Config
		want     string
		fallback bool
	}{
		{"tls with token", rest.Config{Host: "https://127.0.0.1:6443", BearerToken: "t", TLSClientConfig: tlsCfg}, TransportH2Bulk, false},
		{"plain http", rest.Config{Host: "http://127.0.0.1:8080"}, TransportClientGo, true},
		{"exec plugin", rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: tlsCfg,
			ExecProvider: &clientcmdapi.ExecConfig{Command: "get-token", APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}, TransportClientGo, true},
		{"impersonation", rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: tlsCfg,
			Impersonate: rest.ImpersonationConfig{UserName: "bob"}}, TransportClientGo, true},
		{"proxy", rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: tlsCfg,
			Proxy: func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy:3128") }}, TransportClientGo, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClients(&tc.cfg, Options{Concurrency: 10})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport != tc.want || (c.Fallback != "") != tc.fallback {
				t.Errorf("transport %s, fallback %q; want %s (fallback %v)", c.Transport, c.Fallback, tc.want, tc.fallback)
			}
		})
	}
	if _, err := NewClients(&rest.Config{Host: "https://127.0.0.1:6443"}, Options{Transport: "carrier-pigeon"}); err == nil {
		t.Error("unknown transport accepted")
	}
}
