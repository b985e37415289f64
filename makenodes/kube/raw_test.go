package kube

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// statusBody encodes st as the apiserver would in the given media type.
func statusBody(t *testing.T, st *metav1.Status, mediaType string) []byte {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		t.Fatalf("no serializer for %s", mediaType)
	}
	b, err := runtime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, metav1.SchemeGroupVersion), st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The bulk calls hit the right URLs with the right headers, and a failed reply
// becomes the error client-go would return, so the callers' and bulk's error
// checks keep working.
func TestCreateDeleteReplies(t *testing.T) {
	for _, transport := range []string{TransportH2Bulk, TransportClientGo} {
		t.Run(transport, func(t *testing.T) { testCreateDeleteReplies(t, transport) })
	}
}

func testCreateDeleteReplies(t *testing.T, transport string) {
	type reply struct {
		code        int
		contentType string
		body        []byte
		retryAfter  string
	}
	var (
		got  *http.Request
		sent []byte
		next reply
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, sent = r, nil
		if r.Body != nil {
			sent, _ = io.ReadAll(r.Body)
		}
		if next.contentType != "" {
			w.Header().Set("Content-Type", next.contentType)
		}
		if next.retryAfter != "" {
			w.Header().Set("Retry-After", next.retryAfter)
		}
		w.WriteHeader(next.code)
		_, _ = w.Write(next.body)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := NewClients(&rest.Config{Host: srv.URL, BearerToken: "t0ken", TLSClientConfig: rest.TLSClientConfig{CAData: ca}},
		Options{Concurrency: 10, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Transport != transport || c.Fallback != "" {
		t.Fatalf("transport %s (fallback %q), want %s", c.Transport, c.Fallback, transport)
	}
	ctx := context.Background()
	nodes := schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	deploys := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

	next = reply{code: http.StatusCreated, contentType: Protobuf, body: []byte("k8s\x00echo")}
	if err := c.Create(ctx, 3, nodes, "", []byte("node")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/api/v1/nodes" || got.Header.Get("Content-Type") != Protobuf ||
		got.Header.Get("User-Agent") != userAgent || got.Header.Get("Authorization") != "Bearer t0ken" || got.ProtoMajor != 2 || !bytes.Equal(sent, []byte("node")) {
		t.Errorf("create sent %s %s %v %q", got.Method, got.URL.Path, got.Header, sent)
	}

	exists := apierrors.NewAlreadyExists(schema.GroupResource{Resource: "nodes"}, "n-1").ErrStatus
	next = reply{code: http.StatusConflict, contentType: Protobuf, body: statusBody(t, &exists, Protobuf)}
	if err := c.Create(ctx, 0, nodes, "", []byte("node")); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create of an existing node: %v, want AlreadyExists", err)
	}

	next = reply{code: http.StatusOK, contentType: "application/json", body: []byte(`{}`)}
	if err := c.Delete(ctx, 0, deploys, "ns", "d-1", []byte("opts")); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got.Method != http.MethodDelete || got.URL.Path != "/apis/apps/v1/namespaces/ns/deployments/d-1" || !bytes.Equal(sent, []byte("opts")) {
		t.Errorf("delete sent %s %s %q", got.Method, got.URL.Path, sent)
	}

	gone := apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "d-1").ErrStatus
	next = reply{code: http.StatusNotFound, contentType: "application/json", body: statusBody(t, &gone, "application/json")}
	if err := c.Delete(ctx, 0, deploys, "ns", "d-1", nil); !apierrors.IsNotFound(err) {
		t.Errorf("delete of a missing deployment: %v, want NotFound", err)
	}
	if got.Header.Get("Content-Type") != "" || len(sent) != 0 {
		t.Errorf("delete without options sent %v %q", got.Header, sent)
	}

	next = reply{code: http.StatusTooManyRequests, contentType: "text/plain", body: []byte("slow down\n"), retryAfter: "2"}
	err = c.Create(ctx, 0, nodes, "", []byte("node"))
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("throttled create: %v, want TooManyRequests", err)
	}
	if s, ok := apierrors.SuggestsClientDelay(err); !ok || s != 2 {
		t.Errorf("throttled create suggests delay %d %v, want 2", s, ok)
	}

	next = reply{code: http.StatusServiceUnavailable, body: []byte("\x00binary")}
	if err := c.Create(ctx, 0, nodes, "", []byte("node")); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("create on an unavailable apiserver: %v, want ServiceUnavailable", err)
	}
}
