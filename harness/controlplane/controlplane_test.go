package controlplane

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestForTestServesTheAPI starts a real memetcd and kube-apiserver and reads
// the API server's version and a namespace it keeps in the store.
func TestForTestServesTheAPI(t *testing.T) {
	c := ForTest(t, Config{})
	tlsCfg, err := c.PKI.AdminTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	for _, path := range []string{"/version", "/api/v1/namespaces/default"} {
		resp, err := client.Get(c.API.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
		}
		if path == "/api/v1/namespaces/default" && !strings.Contains(string(body), `"name":"default"`) {
			t.Fatalf("GET %s: %s", path, body)
		}
	}
}

func TestStartNeedsBinaries(t *testing.T) {
	if _, err := Start(t.Context(), Config{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("Start without binaries: %v", err)
	}
}
